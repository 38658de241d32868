"""M3DDataModule over a synthetic data root: the batch contract, mixture ratios, bucketing."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from slicevlm.data.datamodule import M3DDataModule
from slicevlm.data.datasets import collate_batch
from slicevlm.io.errors import DataError
from slicevlm.data.samplers import BucketBatchSampler, MixtureSampler, apportion

KEYS = {"id", "volume", "task", "question_type", "instruction", "answer", "answer_choice", "image_path"}
SIZE = (6, 16, 16)


def _module(root: Path, **kwargs) -> M3DDataModule:
    defaults = {"volume_size": SIZE, "batch_size": 4, "eval_batch_size": 5, "num_workers": 0, "pin_memory": False}
    return M3DDataModule(str(root), **{**defaults, **kwargs})


def test_batch_contract(synth_root: Path) -> None:
    module = _module(synth_root, train_tasks={"caption": 1, "vqa_closed": 1, "vqa_open": 1})
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert set(batch) == KEYS
    assert batch["volume"].shape == (4, *SIZE) and batch["volume"].dtype == torch.float32
    assert 0.0 <= float(batch["volume"].min()) and float(batch["volume"].max()) <= 1.0
    for key in KEYS - {"volume"}:
        assert isinstance(batch[key], list) and len(batch[key]) == 4 and all(isinstance(v, str) for v in batch[key])
    assert all("<image>" not in text for text in batch["instruction"])


def test_test_set_items(synth_root: Path) -> None:
    module = _module(synth_root)
    module.setup("test")
    items = [module.test_dataset[i] for i in range(len(module.test_dataset))]
    assert [item["task"] for item in items] == sorted(
        (item["task"] for item in items), key=["caption", "vqa_closed", "vqa_open"].index
    )
    assert len({item["id"] for item in items}) == len(items)
    caption = next(i for i in items if i["task"] == "caption")
    assert caption["id"] == f"cap:test:{caption['image_path']}" and caption["question_type"] == "Report"
    assert caption["answer_choice"] == "" and caption["answer"]
    closed = next(i for i in items if i["task"] == "vqa_closed")
    letter = closed["answer_choice"]
    assert letter in "ABCD" and closed["answer"].startswith(f"{letter}. ")
    assert " Choices: A. " in closed["instruction"] and closed["id"].startswith("vqa_closed:test:")
    opened = next(i for i in items if i["task"] == "vqa_open")
    assert opened["answer_choice"] == "" and "Choices" not in opened["instruction"]
    assert {i["question_type"] for i in items if i["task"] != "caption"} == {
        "Plane",
        "Phase",
        "Organ",
        "Abnormality",
        "Location",
    }
    batch = next(iter(module.test_dataloader()))
    assert batch["volume"].shape == (5, *SIZE) and batch["id"] == [items[i]["id"] for i in range(5)]


def test_ids_stable_across_instances(synth_root: Path) -> None:
    first, second = _module(synth_root), _module(synth_root)
    first.setup("test")
    second.setup("test")
    assert [first.test_dataset[i]["id"] for i in range(6)] == [second.test_dataset[i]["id"] for i in range(6)]
    assert first.test_dataset[0]["instruction"] == second.test_dataset[0]["instruction"]


def test_max_samples_subset(synth_root: Path) -> None:
    module = _module(
        synth_root, test_tasks=["vqa_open"], max_test_samples=3, val_tasks=["caption", "vqa_closed"], max_val_samples=2
    )
    module.setup("test")
    module.setup("validate")
    assert len(module.test_dataset) == 3 and len(module.val_dataset) <= 4
    ids = [module.test_dataset[i]["id"] for i in range(3)]
    assert ids == sorted(ids, key=lambda x: int(x.rsplit(":", 1)[1]))


def test_mixture_ratios_exact_and_reproducible(synth_root: Path) -> None:
    module = _module(
        synth_root, train_tasks={"caption": 1, "vqa_closed": 2, "vqa_open": 1}, train_samples_per_epoch=400
    )
    module.setup("fit")
    sampler = module.train_sampler()
    sizes = [len(d) for d in module.train_dataset.datasets]
    bounds = np.cumsum(sizes)
    counts = Counter(np.searchsorted(bounds, sampler.indices(0), side="right").tolist())
    assert counts == {0: 100, 1: 200, 2: 100}
    assert np.array_equal(sampler.indices(0), module.train_sampler().indices(0))
    assert not np.array_equal(sampler.indices(0), sampler.indices(1))
    sampler.set_epoch(3)
    assert list(sampler) == sampler.indices(3).tolist()


def test_default_mixture_is_natural_sizes(synth_root: Path) -> None:
    """A task list concatenates the tasks: every training sample exactly once per epoch, shuffled."""
    module = _module(synth_root, train_tasks=["caption", "vqa_closed", "vqa_open"])
    module.setup("fit")
    sampler = module.train_sampler()
    total = sum(len(d) for d in module.train_dataset.datasets)
    order = sampler.indices(0)
    assert len(sampler) == total and sorted(order.tolist()) == list(range(total))
    assert order.tolist() != sorted(order.tolist())
    assert _module(synth_root).train_tasks == ["caption"]  # the default: captions only (stage 1)
    with pytest.raises(ValueError, match="at least one task"):
        _module(synth_root, train_tasks=[])


def test_mixture_without_replacement_within_a_pass() -> None:
    indices = MixtureSampler([10, 1000], [1, 1], num_samples=40, seed=0).indices(0)
    small = indices[indices < 10]
    assert len(small) == 20 and Counter(small.tolist()) == {i: 2 for i in range(10)}
    assert len(set(indices[indices >= 10].tolist())) == 20
    assert apportion(10, [1, 1, 1]) == [4, 3, 3] and sum(apportion(7, [0.2, 0.5])) == 7


def test_length_bucketing(synth_root: Path) -> None:
    module = _module(
        synth_root, train_tasks={"caption": 1, "vqa_closed": 1, "vqa_open": 1}, length_bucketing=True, bucket_batches=4
    )
    module.setup("fit")
    loader = module.train_dataloader()
    sampler = loader.batch_sampler
    assert isinstance(sampler, BucketBatchSampler)
    lengths = np.asarray(module.train_lengths())
    batches = list(sampler)
    flat = sorted(i for batch in batches for i in batch)
    assert flat == sorted(module.train_sampler().indices(0).tolist())
    assert len(batches) == len(sampler)
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) == 4])
    rng = np.random.default_rng(0)
    random_spread = np.mean([np.ptp(lengths[rng.choice(len(lengths), 4)]) for _ in range(200)])
    assert spread < 0.5 * random_spread
    again = _module(
        synth_root, train_tasks={"caption": 1, "vqa_closed": 1, "vqa_open": 1}, length_bucketing=True, bucket_batches=4
    )
    again.setup("fit")
    assert list(again.train_dataloader().batch_sampler) == batches
    assert list(sampler) != batches  # the next epoch is shuffled differently
    batch = next(iter(loader))
    assert batch["volume"].shape[0] <= 4


def test_bucketing_shards_the_mixture_under_ddp(synth_root: Path) -> None:
    """What Lightning does under DDP: re-create the batch sampler with a DistributedSampler."""
    from lightning.fabric.utilities.data import _replace_dunder_methods, _update_dataloader

    module = _module(
        synth_root, train_tasks={"caption": 3, "vqa_open": 1}, length_bucketing=True, train_samples_per_epoch=101
    )
    module.setup("fit")
    with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
        loader = module.train_dataloader()
    shards = []
    for rank in (0, 1):
        distributed = DistributedSampler(module.train_dataset, num_replicas=2, rank=rank, shuffle=True)
        updated = _update_dataloader(loader, distributed)
        assert isinstance(updated.batch_sampler, BucketBatchSampler) and updated.batch_sampler.mixture is not None
        distributed.set_epoch(2)
        shards.append([i for batch in updated.batch_sampler for i in batch])
    assert len(shards[0]) == len(shards[1]) == 51
    expected = np.resize(module.train_sampler().indices(2), 102)
    assert sorted(shards[0] + shards[1]) == sorted(expected.tolist())


def test_workers_and_pickling(synth_root: Path) -> None:
    pickle.dumps(collate_batch)
    module = _module(synth_root, num_workers=1, test_tasks=["caption"])
    loader = module.test_dataloader()
    assert loader.persistent_workers
    iterator = iter(loader)
    assert next(iterator)["volume"].shape[1:] == SIZE
    iterator._shutdown_workers()  # now, not at some later garbage collection


def test_config_errors(synth_root: Path) -> None:
    with pytest.raises(ValueError, match="Did you mean 'vqa_open'"):
        _module(synth_root, test_tasks=["vqa_opn"])
    with pytest.raises(ValueError, match="Did you mean 'test100'"):
        _module(synth_root, cap_test_split="test10")
    with pytest.raises(ValueError, match="at least one > 0"):
        _module(synth_root, train_tasks={"caption": 0})


def test_train_question_types_keep_only_those_training_rows(synth_root: Path) -> None:
    everything = _module(synth_root, train_tasks=["vqa_closed", "vqa_open"])
    everything.setup("fit")
    chosen = _module(synth_root, train_tasks=["vqa_closed", "vqa_open"], train_question_types=["Phase", "Plane"])
    chosen.setup("fit")
    all_types = Counter(everything.train_dataset[i]["question_type"] for i in range(len(everything.train_dataset)))
    kept = Counter(chosen.train_dataset[i]["question_type"] for i in range(len(chosen.train_dataset)))
    assert set(all_types) == {"Plane", "Phase", "Organ", "Abnormality", "Location"}
    assert kept == {name: all_types[name] for name in ("Plane", "Phase")}  # every Plane and Phase row, nothing else
    kept_ids = {chosen.train_dataset[i]["id"] for i in range(len(chosen.train_dataset))}
    assert kept_ids <= {everything.train_dataset[i]["id"] for i in range(len(everything.train_dataset))}  # ids name CSV rows
    chosen.setup("test")  # evaluation keeps every type
    assert {item["question_type"] for item in chosen.test_dataset if item["task"] != "caption"} == set(all_types)


def test_train_question_types_refuse_unknown_empty_and_without_vqa(synth_root: Path) -> None:
    with pytest.raises(ValueError, match="train_question_types='Plain'.*Did you mean 'Plane'"):
        _module(synth_root, train_question_types=["Plain"])
    with pytest.raises(ValueError, match="train_question_types is empty"):
        _module(synth_root, train_question_types=[])
    with pytest.raises(ValueError, match=r"picks VQA rows, but train_tasks \['caption'\] has no VQA task"):
        _module(synth_root, train_tasks=["caption"], train_question_types=["Plane"])


def test_missing_files_named(synth_root: Path, tmp_path: Path) -> None:
    module = _module(tmp_path)
    with pytest.raises(DataError, match="M3D_Cap.json: caption index not found"):
        module.setup("test")
    module = _module(synth_root, test_tasks=["caption"], cap_json=str(tmp_path / "broken.json"))
    (tmp_path / "broken.json").write_text(
        '{"test": [{"image": "M3D_Cap_npy/none/0/x.npy", "text": "M3D_Cap_npy/synth/000000/text.txt"}]}',
        encoding="utf-8",
    )
    module.setup("test")
    with pytest.raises(DataError, match=r"x.npy: no such file.*referenced by .*broken.json split 'test' entry 0"):
        module.test_dataset[0]


def test_signature_builds_with_jsonargparse(synth_root: Path) -> None:
    """LightningCLI builds the module from its signature; the docstring becomes --help."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_class_arguments(M3DDataModule, "data")
    config = parser.parse_args(
        [
            "--data.data_root",
            str(synth_root),
            "--data.train_tasks",
            '{"caption": 1, "vqa_open": 2}',
            "--data.volume_size",
            "[4,8,8]",
        ]
    )
    module = parser.instantiate_classes(config).data
    assert module.train_tasks == ["caption", "vqa_open"] and module.train_ratios == {"caption": 1.0, "vqa_open": 2.0}
    assert module.loader.size == (4, 8, 8)
    assert "natural sizes" in parser.format_help()
