"""Real `slicevlm fit` subprocesses for tests, and the callbacks tests add to them (tests/core on PYTHONPATH)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file


class RecordBatches(Callback):
    """Append `{"rank", "step", "epoch", "ids"}` per training batch to a JSONL file (fsynced: survives a kill)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        row = {"rank": trainer.global_rank, "step": trainer.global_step, "epoch": trainer.current_epoch, "ids": list(batch["id"])}
        with open(f"{self.path}.rank{trainer.global_rank}", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


class KillAtStep(Callback):
    """SIGKILL this process when the batch of optimiser step `step` starts (what `kill -9` does)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class NaNLossAtStep(Callback):
    """Turn the loss of optimiser step `step` into NaN by poisoning that batch's volumes."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            batch["volume"][0].fill_(float("nan"))


# -- running `slicevlm fit` in a subprocess ---------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


def fit_command(tiny_models: dict[str, Path], data: Path, out: Path, *extra: str, callbacks: Sequence[dict] = ()) -> list[str]:
    """`python -m slicevlm fit` on the demo stage-2 config, tiny and short (16 samples per epoch, 2 epochs)."""
    command = [
        sys.executable, "-m", "slicevlm", "fit",
        "--config", str(CONFIGS / "demo.yaml"), "--config", str(CONFIGS / "demo_stage2.yaml"),
        "--model.vision.init_args.encoder.init_args.model_name", f"local-dir:{tiny_models['encoder']}",
        "--model.language.init_args.model_name", str(tiny_models["llm"]),
        "--model.init_from", "null", "--model.export_dir", str(out / "export"), "--model.generation.max_new_tokens", "4",
        "--data.data_root", str(data), "--data.volume_size", "[16, 32, 32]", "--data.batch_size", "4",
        "--data.num_workers", "1", "--data.train_samples_per_epoch", "16", "--data.max_val_samples", "2",
        "--trainer.logger.init_args.save_dir", str(out / "logs"), "--trainer.max_epochs", "2",
        "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.callbacks.init_args.every_n_train_steps", "2",  # the ResumableCheckpoint (last in the list)
        *extra,
    ]
    for callback in callbacks:
        command.append("--trainer.callbacks+=" + json.dumps(callback))
    return command


def start(command: list[str], log: Path) -> subprocess.Popen:
    """Run `command` from the repository root with src/ and tests/core importable; output to `log`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests" / "core")])}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def record(path: Path) -> dict:
    """The config entry of a RecordBatches callback writing to `path`."""
    return {"class_path": "train_probes.RecordBatches", "init_args": {"path": str(path)}}


def read_batches(path: Path, rank: int = 0) -> list[dict]:
    """What RecordBatches wrote for `rank`."""
    return [json.loads(line) for line in Path(f"{path}.rank{rank}").read_text(encoding="utf-8").splitlines()]


def trained_weights(export: Path) -> dict[str, torch.Tensor]:
    """vision.safetensors + the adapter of an exported checkpoint folder."""
    weights = load_file(export / "vision.safetensors")
    weights.update({f"adapter.{k}": v for k, v in load_file(export / "adapter" / "adapter_model.safetensors").items()})
    return weights
