"""Append every optimiser step's training loss to a JSON-lines file (the rehearsal compares them).

A resumed run appends to the same file, so the trace of an interrupted run and of the run that
continued it read as one sequence of ``{"step": N, "loss": x}`` rows. At fit start a row
``{"event": "start", "parameters": {component: [trainable, frozen]}, "visual_tokens": N}`` records
what the run trains; each step row also holds the length of its batch's text rows (with the one
``<image>`` marker that the visual tokens replace).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl


class LossTrace(pl.Callback):
    """Write ``{"step", "loss"}`` after every training batch that ended an optimiser step.

    Args:
        path: The JSON-lines file (created with its folder; appended to). Default:
            ``<logger save_dir>/<logger name>/losses.jsonl``, beside the resumable checkpoints, so a
            resumed run (a new logger version) appends to the same file.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.path is None:
            logger = trainer.logger
            root = Path(logger.save_dir) / str(logger.name) if logger is not None and logger.save_dir else Path(trainer.default_root_dir)
            self.path = root / "losses.jsonl"

    def _write(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        from slicevlm.training.parameters import parameter_table

        model = getattr(pl_module, "model", None)
        row: dict[str, Any] = {"event": "start", "resumed_at": int(trainer.global_step)}
        if model is not None and hasattr(model, "vision"):
            row["parameters"] = {name: [trainable, frozen] for name, trainable, frozen in parameter_table(model)}
            size = trainer.datamodule.hparams.get("volume_size") if trainer.datamodule is not None else None
            if size is not None and hasattr(model.vision, "token_count"):
                row["visual_tokens"] = int(model.vision.token_count(int(size[0])))
            row["context_length"] = int(model.language.context_length)
        self._write(row)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None or trainer.global_rank != 0:
            return
        value = float(loss.detach().float().item()) if hasattr(loss, "detach") else float(loss)
        row = {"step": int(trainer.global_step), "loss": value if math.isfinite(value) else str(value)}
        ids = batch.get("input_ids") if isinstance(batch, dict) else None
        if hasattr(ids, "shape"):
            row["text_tokens"] = int(ids.shape[-1])  # the batch's row length, one <image> marker included
        self._write(row)
