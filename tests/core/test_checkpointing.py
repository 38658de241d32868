"""ResumableCheckpoint: atomic writes, a folder restarts find, `--ckpt_path last` errors; the export guard."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader, TensorDataset

from slicevlm.callbacks.checkpointing import (
    ResumableCheckpoint,
    commit_checkpoint,
    find_last_checkpoint,
    restore_interrupted_commits,
)
from slicevlm.training.errors import ExportExistsError, ResumeError

REPO = Path(__file__).resolve().parents[2]


class Linear(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader() -> DataLoader:
    return DataLoader(TensorDataset(torch.arange(16, dtype=torch.float32).view(8, 2)), batch_size=2)


def trainer(root: Path, callbacks: list, **kwargs) -> pl.Trainer:
    options = {"logger": TensorBoardLogger(root, name="run"), "max_steps": 3, "enable_progress_bar": False,
               "enable_model_summary": False}
    return pl.Trainer(accelerator="cpu", devices=1, default_root_dir=root, callbacks=callbacks, **(options | kwargs))


def last_writer(**kwargs) -> ResumableCheckpoint:
    return ResumableCheckpoint(**({"save_top_k": 0, "save_last": True, "every_n_train_steps": 1} | kwargs))


class CrashOnSave(TorchCheckpointIO):
    """Writes some bytes of save number `n` to its path, then fails (a kill or a full disk mid-write)."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        self.calls += 1
        if self.calls == self.n:
            Path(path).write_bytes(b"PK\x03\x04 truncated")
            raise OSError("simulated crash while writing")
        super().save_checkpoint(checkpoint, path, storage_options)


def test_a_crash_while_saving_leaves_the_previous_last_whole(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="simulated crash"):
        trainer(tmp_path, [last_writer()], plugins=[CrashOnSave(2)]).fit(Linear(), loader())
    folder = tmp_path / "run" / "checkpoints"  # no version_N: a restart finds it
    assert torch.load(folder / "last.ckpt", weights_only=True)["global_step"] == 1  # the first save, intact
    assert (folder / "last.ckpt.partial").read_bytes().endswith(b"truncated")

    resumed = trainer(tmp_path, [last_writer()])
    path = find_last_checkpoint(resumed)
    assert path == str(folder / "last.ckpt")
    resumed.fit(Linear(), loader(), ckpt_path=path)
    assert resumed.global_step == 3
    assert torch.load(folder / "last.ckpt", weights_only=True)["global_step"] == 3
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]  # the stale partial was cleared


def test_last_is_written_when_training_ends_and_a_finished_run_resumes_to_nothing(tmp_path: Path) -> None:
    run = trainer(tmp_path, [last_writer(every_n_train_steps=2)])
    run.fit(Linear(), loader())
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 3  # not only step 2
    again = trainer(tmp_path, [last_writer(every_n_train_steps=2)])
    again.fit(Linear(), loader(), ckpt_path=find_last_checkpoint(again))
    assert again.global_step == 3


def test_resuming_with_nothing_to_resume_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ResumeError, match=f"nothing to resume, no last\\*.ckpt in {tmp_path}/run/checkpoints"):
        find_last_checkpoint(trainer(tmp_path, [last_writer()]))
    with pytest.raises(ResumeError, match="no checkpoint callback of this config writes a `last` checkpoint"):
        find_last_checkpoint(trainer(tmp_path, [ResumableCheckpoint(monitor="loss")]))
    with pytest.raises(ResumeError, match="new version_N folder at every start"):
        find_last_checkpoint(trainer(tmp_path, [ModelCheckpoint(save_last=True)]))


def test_folder_checkpoints_swap_whole_and_a_crash_between_renames_is_undone(tmp_path: Path) -> None:
    final, partial = tmp_path / "last.ckpt", tmp_path / "last.ckpt.partial"
    (final / "checkpoint").mkdir(parents=True)
    (final / "checkpoint" / "shard").write_text("old")
    (partial / "checkpoint").mkdir(parents=True)
    (partial / "checkpoint" / "shard").write_text("new")
    commit_checkpoint(partial, final)  # a DeepSpeed folder, written by every rank
    assert (final / "checkpoint" / "shard").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]

    final.rename(tmp_path / "last.ckpt.old")  # killed after the first rename of the next swap
    restore_interrupted_commits(tmp_path)
    assert (final / "checkpoint" / "shard").read_text() == "new"


def test_cli_fit_ckpt_path_last_without_a_checkpoint_stops_with_a_message(tiny_models, tmp_path, capsys) -> None:
    from slicevlm.cli import run_reporting_errors

    status = run_reporting_errors([
        "fit", "--config", str(REPO / "configs" / "demo.yaml"),
        "--model.vision.init_args.encoder.init_args.model_name", f"local-dir:{tiny_models['encoder']}",
        "--model.language.init_args.model_name", str(tiny_models["llm"]),
        "--data.data_root", str(tmp_path / "data"), "--model.export_dir", str(tmp_path / "export"),
        "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"), "--ckpt_path", "last",
    ])
    error = capsys.readouterr().err
    assert status == 2
    assert f"lightning-cli fit: error: --ckpt_path last: nothing to resume, no last*.ckpt in {tmp_path}/logs/stage1/checkpoints" in error
    assert "Traceback" not in error and not (tmp_path / "export").exists()


def test_every_shipped_config_writes_a_resumable_last_checkpoint(capsys) -> None:
    """The resolved trainer of every training config (overlays included) has a ResumableCheckpoint with save_last."""
    import yaml
    from test_cli import _config_invocations

    from slicevlm.cli import run_lightning_cli

    evaluation_only = ("/demo_test.yaml", "/demo_small_test.yaml")  # overlays for `lightning-cli test`: they train nothing
    invocations = [args for args in _config_invocations() if not args[-1].endswith(evaluation_only)]
    assert len(invocations) >= 10
    for args in invocations:
        with pytest.raises(SystemExit):
            run_lightning_cli(["fit", *args, "--print_config"])
        trainer_config = yaml.safe_load(capsys.readouterr().out)["trainer"]
        writers = [cb["init_args"] for cb in trainer_config["callbacks"]
                   if cb["class_path"] == "slicevlm.callbacks.ResumableCheckpoint" and cb["init_args"]["save_last"]]
        assert trainer_config.get("enable_checkpointing") in (None, True), args
        assert len(writers) == 1 and writers[0]["every_n_train_steps"] >= 1, args


def test_a_run_from_scratch_does_not_overwrite_an_export(tiny_models, tmp_path: Path) -> None:
    from slicevlm.llm.language_model import LanguageModel
    from slicevlm.training.module import SliceVLMModule
    from slicevlm.vision import SliceEncoder
    from slicevlm.vision.pipeline import VisionPipeline

    export = tmp_path / "export"
    export.mkdir()
    (export / "slicevlm.json").write_text("{}", encoding="utf-8")

    def module(**kwargs) -> SliceVLMModule:
        encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
        built = SliceVLMModule(VisionPipeline(encoder), LanguageModel(str(tiny_models["llm"]), dtype="float32"),
                               stage=1, export_dir=str(export), **kwargs)
        built.trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False)
        return built

    fresh = module()
    with pytest.raises(ExportExistsError, match=f"model.export_dir {export} already holds files.*--ckpt_path last"):
        fresh.on_train_start()
    resumed = module()
    resumed.trainer.ckpt_path = str(tmp_path / "last.ckpt")  # a resumed run continues its own export
    resumed.on_train_start()
    with pytest.warns(UserWarning, match="replaces it at the end"):
        module(overwrite_export=True).on_train_start()
