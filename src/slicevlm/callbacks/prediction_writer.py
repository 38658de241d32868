"""``PredictionWriter``: resumable predictions JSONL + summary for ``test`` and ``predict``.

Contract with the LightningModule:

1. At ``on_test_start`` / ``on_predict_start`` the writer reads the ids already in the output
   file (repairing a crash-truncated last line) and sets ``pl_module.skip_ids: set[str]``.
2. ``test_step`` / ``predict_step`` generate only for rows whose id is not in ``skip_ids`` and
   return a list of dicts, at least ``{"id", "prediction"}``; ``task``, ``question_type``,
   ``question``, ``reference`` and ``answer_choice`` are taken from the dict when present, else
   from the batch (keys ``task``, ``question_type``, ``instruction``, ``answer``,
   ``answer_choice``) by id. Image-reliance control rows (batches of a data module with
   ``image_controls``) also take ``condition``, ``case`` and the ``control_*`` keys, gathered
   into the row's ``control`` object.
3. The writer appends one row per sample in ``on_*_batch_end`` (flush + fsync per batch), with
   per-sample m3d scores (BERTScore optional), and never writes an id twice.
4. At the end it writes ``<stem>.summary.json`` (metrics per protocol, generation settings,
   counts) and ``<stem>.summary.md`` (tables per question type as paper Tables 3–4) beside the
   JSONL. The protocols score the own-volume rows; control rows get their own section.

Resuming is only allowed into a file the same run wrote: ``<stem>.run.json`` (a
:class:`~slicevlm.store.run_record.RunRecord`, the store ``slicevlm ask-batch`` uses too) records the
generation settings and a SHA-256 of the module's trained (``requires_grad``) weights. Rows left by
another model or other settings are never mixed with new ones: the writer stops with a message, or,
with ``on_other_run="restart"``, moves them to ``<stem>.old.jsonl`` and starts afresh.

With several processes each rank appends to ``<stem>.rank<R>.jsonl``; rank 0 merges those into
the main file at the end (resume reads all of them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from slicevlm.callbacks.summary import build_summary, summary_markdown
from slicevlm.errors import ConfigError
from slicevlm.metrics.bertscore import BertScoreSpec, load_bertscorer
from slicevlm.metrics.evaluate import check_protocol
from slicevlm.metrics.m3d import fill_sample_scores
from slicevlm.metrics.records import PredictionRecord, RecordError, record_from_dict
from slicevlm.metrics.resources import ensure_java, ensure_wordnet
from slicevlm.store.jsonl import JsonlAppender, read_jsonl
from slicevlm.store.resumable import ResumableJsonl
from slicevlm.store.run_record import RunRecord, parameters_sha256
from slicevlm.training.prediction_rows import BATCH_KEYS, prediction_row

class PredictionWriter(Callback):
    """Write test/predict generations to a resumable JSONL and summarise them at the end.

    Args:
        output_path: Predictions JSONL (relative paths are relative to the working directory).
        protocols: Protocols for the summary, ``"m3d"`` and/or ``"coco"``.
        bertscore_model: BERTScore model for per-sample scores and the m3d summary (hub name in
            the local cache or a folder); ``None`` leaves BERTScore out.
        bertscore_layers: BERTScore layer (``None``: 17 for roberta-large; required for a folder).
        per_sample_scores: Store per-sample m3d scores in every row.
        compare_with_paper: Append paper-vs-ours tables (Tables 2–4) to the markdown summary.
        on_other_run: What to do when the output file holds rows from another model or other
            generation settings: ``"error"`` (stop and say so) or ``"restart"`` (move them to
            ``<stem>.old.jsonl`` and write afresh).
    """

    def __init__(
        self,
        output_path: str | Path = "predictions.jsonl",
        protocols: Sequence[str] = ("m3d",),
        bertscore_model: str | None = None,
        bertscore_layers: int | None = None,
        per_sample_scores: bool = True,
        compare_with_paper: bool = False,
        on_other_run: str = "error",
    ) -> None:
        super().__init__()
        if on_other_run not in ("error", "restart"):
            raise ConfigError(f"on_other_run must be 'error' or 'restart', got {on_other_run!r}.")
        self.on_other_run = on_other_run
        self.output_path = Path(output_path)
        self.store = ResumableJsonl(self.output_path)
        self.protocols = [check_protocol(p) for p in protocols]
        self.bertscore = (
            BertScoreSpec(model=bertscore_model, num_layers=bertscore_layers) if bertscore_model else None
        )
        self.per_sample_scores = per_sample_scores
        self.compare_with_paper = compare_with_paper
        self.written_ids: set[str] = set()
        self.written_controls: dict[str, str] = {}  # control row id -> swapped-in image path
        self.resumed_count = 0
        self.written_this_run = 0
        self.summary: dict[str, Any] | None = None
        self.reports: dict[str, Any] = {}  # protocol -> ScoreReport (+ "controls" -> ControlReport), after the run
        self._appender: JsonlAppender | None = None

    # ----- paths ---------------------------------------------------------------------------
    @property
    def summary_json_path(self) -> Path:
        """``<stem>.summary.json`` beside the JSONL."""
        return self.output_path.with_name(f"{self.output_path.stem}.summary.json")

    @property
    def summary_md_path(self) -> Path:
        """``<stem>.summary.md`` beside the JSONL."""
        return self.output_path.with_name(f"{self.output_path.stem}.summary.md")

    @property
    def run_record_path(self) -> Path:
        """``<stem>.run.json``: which weights and generation settings wrote the rows."""
        return self.store.run_record_path

    @property
    def old_rows_path(self) -> Path:
        """``<stem>.old.jsonl``: where ``on_other_run="restart"`` moves another run's rows."""
        return self.store.old_rows_path

    # ----- start ---------------------------------------------------------------------------
    def _check_resources(self) -> None:
        if self.per_sample_scores or "m3d" in self.protocols:
            ensure_wordnet()
        if "coco" in self.protocols:
            ensure_java()
        if self.bertscore is not None:
            load_bertscorer(self.bertscore)

    def _start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check_resources()
        if trainer.is_global_zero:
            self.store.repair()
        trainer.strategy.barrier("prediction_writer_start")
        existing = self.store.read_rows()
        identity = run_identity(pl_module)
        why = self.store.conflict(identity, self.store.recorded_run()) if existing else None
        trainer.strategy.barrier("prediction_writer_identity")  # every rank decides before rank 0 rewrites the record
        if why is not None:
            existing = self._handle_other_run(trainer, len(existing), why)
        if trainer.is_global_zero:
            self.store.write_run(identity)
        self.written_ids = {str(row["id"]) for row in existing if "id" in row}
        self.written_controls = {
            str(row["id"]): str(row["control"].get("image_path", ""))
            for row in existing if isinstance(row.get("control"), Mapping)
        }
        self.resumed_count = len(self.written_ids)
        self.written_this_run = 0
        pl_module.skip_ids = set(self.written_ids)
        target = self.output_path if trainer.world_size == 1 else self.store.part_path(trainer.global_rank)
        self._appender = JsonlAppender(target)
        self._appender.open()

    def _handle_other_run(self, trainer: pl.Trainer, n_rows: int, why: str) -> list[dict[str, Any]]:
        """Stop, or move the other run's rows aside (``on_other_run``); returns the rows kept (none)."""
        if self.on_other_run == "error":
            raise RuntimeError(
                f"{self.output_path} already holds {n_rows} predictions that this run cannot resume: {why}. "
                "Resuming would mix two runs' answers. Write to a new output_path, delete the file, or set "
                f"on_other_run: restart to move the old rows to {self.old_rows_path}."
            )
        if trainer.is_global_zero:
            self._merge_parts()  # rank files of the other run join the main file, which moves aside
            if self.output_path.exists():
                self.output_path.replace(self.old_rows_path)
        trainer.strategy.barrier("prediction_writer_restart")
        return []

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Read existing rows and set ``pl_module.skip_ids``."""
        self._start(trainer, pl_module)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Read existing rows and set ``pl_module.skip_ids``."""
        self._start(trainer, pl_module)

    # ----- per batch -----------------------------------------------------------------------
    def records_from_outputs(self, outputs: Any, batch: Mapping[str, Any]) -> list[PredictionRecord]:
        """Turn a step's outputs (list of dicts with ``id`` and ``prediction``) into records.

        Raises:
            TypeError: when the outputs are not a list of dicts.
            RecordError: when a row lacks a field or holds a bad value (names the id).
        """
        if outputs is None:
            return []
        if not isinstance(outputs, (list, tuple)) or not all(isinstance(o, Mapping) for o in outputs):
            raise TypeError(
                "PredictionWriter expects test_step/predict_step to return a list of dicts "
                f"{{'id', 'prediction', ...}} (one per generated row), got {type(outputs).__name__}"
            )
        ids = [str(i) for i in batch.get("id", [])] if isinstance(batch, Mapping) else []
        position = {sample_id: i for i, sample_id in enumerate(ids)}
        records = []
        for output in outputs:
            if "id" not in output or "prediction" not in output:
                raise RecordError(f"a step output lacks 'id' or 'prediction': keys {sorted(output)}")
            sample_id = str(output["id"])
            row = prediction_row(batch, position.get(sample_id), sample_id, output["prediction"])
            row.update({name: output[name] for name in BATCH_KEYS if name in output})  # the step's own fields win
            try:
                records.append(record_from_dict(row))
            except RecordError as e:
                raise RecordError(f"output for id {row['id']!r}: {e}") from e
        return records

    def _write(self, outputs: Any, batch: Any) -> None:
        records = [r for r in self.records_from_outputs(outputs, batch) if r.id not in self.written_ids]
        unique: dict[str, PredictionRecord] = {r.id: r for r in records}
        records = list(unique.values())
        if self.per_sample_scores:
            fill_sample_scores(records, self.bertscore)
        assert self._appender is not None, "PredictionWriter._start did not run"
        self._appender.append([r.to_dict() for r in records])
        self.written_ids.update(unique)
        self.written_this_run += len(records)

    def check_controls(self, batch: Any) -> None:
        """Refuse to resume control rows that asked another volume than this run's derangement.

        Raises:
            RuntimeError: When a written control row of a batch id names another swapped-in volume.
        """
        if not self.written_controls or not isinstance(batch, Mapping) or "control_image_path" not in batch:
            return
        for sample_id, image in zip(batch["id"], batch["control_image_path"], strict=True):
            written = self.written_controls.get(str(sample_id))
            if written is not None and written != str(image):
                raise RuntimeError(
                    f"{self.output_path}: control row {sample_id!r} was written with swapped-in volume {written!r}, "
                    f"but this run asks {str(image)!r} (another control_seed or test split). Resuming would mix two "
                    "derangements. Use the earlier control_seed, write to a new output_path, or delete the file."
                )

    def on_test_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                            batch_idx: int, dataloader_idx: int = 0) -> None:
        """Check that resumed control rows match this run's swaps."""
        self.check_controls(batch)

    def on_predict_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                               batch_idx: int, dataloader_idx: int = 0) -> None:
        """Check that resumed control rows match this run's swaps."""
        self.check_controls(batch)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                          batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Append this batch's rows."""
        self._write(outputs, batch)

    def on_predict_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                             batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Append this batch's rows."""
        self._write(outputs, batch)

    # ----- end -----------------------------------------------------------------------------
    def _close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None

    def _merge_parts(self) -> None:
        seen = {str(row["id"]) for row in read_jsonl(self.output_path)}
        merged = JsonlAppender(self.output_path)
        for part in self.store.all_paths()[1:]:
            rows = [row for row in read_jsonl(part) if str(row["id"]) not in seen]
            seen.update(str(row["id"]) for row in rows)
            merged.append(rows)
            part.unlink()
        merged.close()

    def _finish(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close()
        trainer.strategy.barrier("prediction_writer_end")
        if not trainer.is_global_zero:
            return
        self._merge_parts()
        records = [record_from_dict(row) for row in read_jsonl(self.output_path)]
        self.summary, self.reports = build_summary(
            records, self.protocols, self.bertscore, generation_settings(pl_module),
            counts={"written_this_run": self.written_this_run, "resumed": self.resumed_count},
            predictions_path=str(self.output_path),
        )
        self.summary_json_path.write_text(json.dumps(self.summary, indent=2) + "\n", encoding="utf-8")
        self.summary_md_path.write_text(
            summary_markdown(self.summary, self.reports, self.compare_with_paper), encoding="utf-8"
        )

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Close the file, merge rank files, write the summaries."""
        self._finish(trainer, pl_module)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Close the file, merge rank files, write the summaries."""
        self._finish(trainer, pl_module)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Close the file; rows written so far stay and the next run resumes after them."""
        self._close()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Close the file if still open."""
        self._close()


def run_identity(pl_module: pl.LightningModule) -> RunRecord:
    """What makes two runs' rows comparable: the trained weights' SHA-256 and the generation settings.

    Only parameters with ``requires_grad`` are hashed (:func:`~slicevlm.store.run_record.parameters_sha256`).
    """
    return RunRecord(parameters_sha256(pl_module.named_parameters()), generation_settings(pl_module))


def generation_settings(pl_module: pl.LightningModule) -> dict[str, Any]:
    """``pl_module.generation_settings()`` (``GenerationConfig.to_dict()`` for SliceVLM), or ``{}`` without one."""
    settings_fn = getattr(pl_module, "generation_settings", None)
    return dict(settings_fn()) if callable(settings_fn) else {}
