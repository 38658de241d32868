"""A new data set plugs in by overriding one method of the DataModule (the README's "Where to change what").

Everything else — the task mixture, length bucketing, batching, the batch contract the model reads,
the test-time subsets — is inherited, so a new source does not copy the DataModule.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch
from torch.utils.data import Dataset

from slicevlm.data.datamodule import M3DDataModule
from slicevlm.data.datasets import Item

KEYS = {"id", "volume", "task", "question_type", "instruction", "answer", "answer_choice", "image_path"}
SIZE = (4, 8, 8)


class InMemoryQuestions(Dataset):
    """A stand-in for another data source: items built in memory, one task."""

    def __init__(self, task: str, count: int) -> None:
        self.task, self.count = task, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Item:
        return {
            "id": f"{self.task}:{i}",
            "task": self.task,
            "question_type": "Plane",
            "instruction": f"Question {i}?",
            "answer": f"Answer {i}",
            "answer_choice": "",
            "image_path": f"case{i}.npy",
            "volume": torch.full(SIZE, i / self.count),
        }

    def text_lengths(self) -> list[int]:
        return [len(f"Question {i}?") + len(f"Answer {i}") for i in range(self.count)]


class OtherSourceDataModule(M3DDataModule):
    """The one override a new data set needs: a Dataset per (task, stage). Its own options join the config's `data:`."""

    def __init__(self, *args, source_name: str = "memory", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.source_name = source_name

    def task_dataset(self, task: str, stage: str) -> Dataset:
        return InMemoryQuestions(task, {"caption": 6, "vqa_open": 18}[task])


def _module(**kwargs) -> OtherSourceDataModule:
    defaults = {"volume_size": SIZE, "batch_size": 4, "eval_batch_size": 4, "num_workers": 0, "pin_memory": False}
    return OtherSourceDataModule("unused-root", **{**defaults, **kwargs})


def test_training_batches_come_from_the_new_source_with_the_inherited_mixture(tmp_path: Path) -> None:
    module = _module(train_tasks={"caption": 1, "vqa_open": 1}, train_samples_per_epoch=24, length_bucketing=True, bucket_batches=2)
    module.setup("fit")
    batches = list(module.train_dataloader())
    assert all(set(batch) == KEYS and batch["volume"].shape[1:] == SIZE for batch in batches)
    tasks = Counter(task for batch in batches for task in batch["task"])
    assert tasks == {"caption": 12, "vqa_open": 12}  # equal shares of 24, whatever the source sizes (6 vs 18)


def test_test_subsets_are_inherited() -> None:
    module = _module(test_tasks=["vqa_open"], max_test_samples=5)
    module.setup("test")
    ids = [i for batch in module.test_dataloader() for i in batch["id"]]
    assert len(ids) == 5 and len(set(ids)) == 5 and all(i.startswith("vqa_open:") for i in ids)


def test_the_lightning_cli_takes_the_new_data_module(capsys) -> None:
    import pytest
    import yaml

    from slicevlm.cli import run_lightning_cli

    with pytest.raises(SystemExit) as stop:
        run_lightning_cli(["fit", "--data.data_root", "elsewhere", "--data.batch_size", "3", "--data.source_name", "ward7", "--print_config"], datamodule_class=OtherSourceDataModule)
    assert stop.value.code == 0
    data = yaml.safe_load(capsys.readouterr().out)["data"]
    assert data["data_root"] == "elsewhere" and data["batch_size"] == 3 and data["source_name"] == "ward7"
