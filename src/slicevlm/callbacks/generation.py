"""``GenerationEvaluator``: generate on a fixed validation subset, score it, log it.

Runs at the end of validation every ``every_n_epochs`` epochs (not during the sanity check).
The subset is the first ``max_samples`` rows of the chosen validation dataloader, so it is the
same every time as long as that dataloader does not shuffle (Lightning's default for
validation); with several processes each rank takes the first ``max_samples`` rows of its shard
and the generations of all ranks are gathered and scored together. The module must provide
``generate_texts(batch, max_new_tokens=None) -> list[str]`` (greedy decoding). Logged keys (m3d protocol, ×100):

- ``{prefix}/bleu``, ``{prefix}/rouge``, ``{prefix}/meteor`` (+ ``{prefix}/bertscore``), and any other
  m3d text metric of :mod:`slicevlm.metrics.registry`: mean over all free-text samples (captions and
  open-ended VQA together);
- ``{prefix}/closed_acc`` (peers' rule) and ``{prefix}/closed_acc_strict``;
- ``{prefix}/{task}/{metric}`` for every task present (Overall row of the report).

Under the coco protocol only ``{prefix}/{task}/{metric}`` (e.g. ``val/caption/bleu_4``) and the
closed accuracies are logged.

To TensorBoard, at every evaluation: ``{prefix}/samples`` (caption rows: prediction, reference) and
``{prefix}/vqa_samples`` (VQA rows: question, prediction, reference) as text tables; and, when the
module provides ``vision_maps(volume) -> slicevlm.vision.maps.VisionMaps``, images of the first
validation volume: its kept slices, the fusion gate map and the injection attention map
(``callbacks/tensorboard_images.py``). The volume is the same at every evaluation. Use ``ModelCheckpoint(monitor="val/bleu", mode="max",
every_n_epochs=every_n_epochs)`` to keep the best checkpoint by one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from lightning.pytorch.callbacks import Callback

from slicevlm.errors import ConfigError
from slicevlm.llm.generation_config import DEFAULT_GENERATION
from slicevlm.metrics.bertscore import BertScoreSpec
from slicevlm.metrics.evaluate import check_protocol, evaluate
from slicevlm.metrics.records import PredictionRecord, record_from_dict
from slicevlm.metrics.registry import metrics_for
from slicevlm.metrics.report import OVERALL, ScoreReport


def slice_batch(batch: Mapping[str, Any], count: int) -> dict[str, Any]:
    """The first ``count`` rows of a dict batch (tensors and lists sliced, other values kept)."""
    return {
        key: value[:count] if isinstance(value, (torch.Tensor, list, tuple)) else value
        for key, value in batch.items()
    }


def batch_size_of(batch: Mapping[str, Any]) -> int:
    """Rows in a dict batch (length of its ``id`` list)."""
    if "id" not in batch:
        raise KeyError(f"a batch needs an 'id' list to be evaluated; got keys {sorted(batch)}")
    return len(batch["id"])


REQUIRED_BATCH_KEYS: tuple[str, ...] = ("id", "task", "question_type", "instruction", "answer", "answer_choice")


def records_from_batch(batch: Mapping[str, Any], predictions: list[str]) -> list[PredictionRecord]:
    """Records for one generated batch (fields from the batch, predictions from the model)."""
    missing = [key for key in REQUIRED_BATCH_KEYS if key not in batch]
    if missing:
        raise KeyError(f"a validation batch lacks {missing}; GenerationEvaluator needs the keys "
                       f"{', '.join(REQUIRED_BATCH_KEYS)} (lists of str, one per row)")
    if len(predictions) != batch_size_of(batch):
        raise ValueError(
            f"generate_texts returned {len(predictions)} texts for a batch of {batch_size_of(batch)} rows; "
            "it must return one string per row"
        )
    return [
        record_from_dict({
            "id": str(batch["id"][i]), "task": batch["task"][i], "prediction": predictions[i],
            "reference": batch["answer"][i], "question_type": batch["question_type"][i],
            "answer_choice": batch["answer_choice"][i], "question": batch["instruction"][i],
        })
        for i in range(len(predictions))
    ]


def gather_records(records: list[PredictionRecord]) -> list[PredictionRecord]:
    """All ranks' records (deduplicated by id, rank order) when torch.distributed runs, else ``records``.

    Every rank then scores the same set, so all ranks log identical metrics and the logged keys
    agree across ranks even when one rank's shard has no row of some task.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return records
    gathered: list[list[PredictionRecord] | None] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, records)
    unique: dict[str, PredictionRecord] = {}
    for part in gathered:
        for record in part or []:
            unique.setdefault(record.id, record)
    return list(unique.values())


def _escape(text: str, limit: int = 500) -> str:
    text = text if len(text) <= limit else text[:limit] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


class GenerationEvaluator(Callback):
    """Score greedy generations on a validation subset and log the metrics.

    Args:
        every_n_epochs: Evaluate after every n-th epoch's validation (1 = every epoch).
        max_samples: Rows taken from the start of the validation dataloader.
        protocol: ``"m3d"`` (default) or ``"coco"``.
        bertscore_model: BERTScore model (m3d only); ``None`` (default) leaves it out.
        bertscore_layers: BERTScore layer (``None``: 17 for roberta-large; required for a folder).
        max_new_tokens: Passed to ``generate_texts`` (``None``: the module's default).
        num_logged_samples: Caption rows, and VQA rows, written to TensorBoard as text tables.
        log_images: Write the kept slices, fusion gate and injection attention of the first
            validation volume to TensorBoard as images.
        log_prefix: Prefix of the logged keys.
        dataloader_idx: Which validation dataloader to draw from when there are several.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        max_samples: int = 64,
        protocol: str = "m3d",
        bertscore_model: str | None = None,
        bertscore_layers: int | None = None,
        max_new_tokens: int | None = None,
        num_logged_samples: int = 4,
        log_images: bool = True,
        log_prefix: str = "val",
        dataloader_idx: int = 0,
    ) -> None:
        super().__init__()
        if every_n_epochs < 1 or max_samples < 1:
            raise ConfigError(f"every_n_epochs and max_samples must be >= 1, got {every_n_epochs}, {max_samples}")
        self.every_n_epochs = every_n_epochs
        self.max_samples = max_samples
        self.protocol = check_protocol(protocol)
        self.bertscore = (
            BertScoreSpec(model=bertscore_model, num_layers=bertscore_layers) if bertscore_model else None
        )
        if max_new_tokens is not None:
            DEFAULT_GENERATION.with_max_new_tokens(max_new_tokens)  # a bad cap is refused when the config is read
        self.max_new_tokens = max_new_tokens
        self.num_logged_samples = num_logged_samples
        self.log_images = log_images
        self.fixed_volume: tuple[str, torch.Tensor] | None = None  # (id, (D, H, W)): the first validation row
        self.log_prefix = log_prefix
        self.dataloader_idx = dataloader_idx
        self.last_report: ScoreReport | None = None
        self.last_records: list[PredictionRecord] = []

    def _dataloader(self, trainer: pl.Trainer) -> Any:
        loaders = trainer.val_dataloaders
        if isinstance(loaders, (list, tuple)):
            return loaders[self.dataloader_idx]
        if isinstance(loaders, Mapping):
            return list(loaders.values())[self.dataloader_idx]
        return loaders

    def generate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> list[PredictionRecord]:
        """Generate for the first ``max_samples`` validation rows and build records."""
        records: list[PredictionRecord] = []
        for batch in self._dataloader(trainer):
            remaining = self.max_samples - len(records)
            if remaining <= 0:
                break
            if batch_size_of(batch) > remaining:
                batch = slice_batch(batch, remaining)
            batch = move_data_to_device(batch, pl_module.device)
            if not records and "volume" in batch:
                self.fixed_volume = (str(batch["id"][0]), batch["volume"][0])
            texts = pl_module.generate_texts(batch, max_new_tokens=self.max_new_tokens)
            records.extend(records_from_batch(batch, list(texts)))
        return records

    def metrics_to_log(self, report: ScoreReport, records: list[PredictionRecord]) -> dict[str, float]:
        """The scalar metrics this callback logs (see the module docstring for the keys)."""
        prefix = self.log_prefix
        metrics = {
            f"{prefix}/{task}/{metric}": value
            for task, groups in report.results.items()
            for metric, value in groups[OVERALL].items()
        }
        closed = report.results.get("vqa_closed", {}).get(OVERALL)
        if closed:
            metrics[f"{prefix}/closed_acc"] = closed["accuracy"]
            metrics[f"{prefix}/closed_acc_strict"] = closed["accuracy_strict"]
        if report.protocol == "m3d":
            texts = [r for r in records if r.task != "vqa_closed" and r.scorable]
            for metric in (m.key for m in metrics_for("m3d", "vqa_open")):
                values = [r.scores[metric] for r in texts if metric in r.scores]
                if values and len(values) == len(texts):
                    metrics[f"{prefix}/{metric}"] = 100.0 * sum(values) / len(values)
        return metrics

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Generate, score, log metrics and sample texts."""
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs != 0:
            return
        records = gather_records(self.generate(trainer, pl_module))
        if not records:
            return
        report = evaluate(records, self.protocol, self.bertscore)
        for name, value in self.metrics_to_log(report, records).items():
            # Identical on every rank (records gathered above): no reduction needed.
            pl_module.log(name, float(value), on_step=False, on_epoch=True)
        self.last_report, self.last_records = report, records
        self._log_samples(trainer, records)
        self._log_images(trainer, pl_module)

    def _tensorboards(self, trainer: pl.Trainer) -> list[Any]:
        from lightning.pytorch.loggers import TensorBoardLogger

        return [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]

    def _log_samples(self, trainer: pl.Trainer, records: list[PredictionRecord]) -> None:
        if self.num_logged_samples <= 0:
            return
        count = self.num_logged_samples
        captions = [r for r in records if r.task == "caption"][:count]
        questions = [r for r in records if r.task != "caption"][:count]
        tables = {}
        if captions:
            tables["samples"] = ["| id | task | prediction | reference |", "|---|---|---|---|"] + [
                f"| {_escape(r.id)} | {r.task} | {_escape(r.prediction)} | {_escape(r.reference or '')} |" for r in captions
            ]
        if questions:
            tables["vqa_samples"] = ["| id | task | question | prediction | reference |", "|---|---|---|---|---|"] + [
                f"| {_escape(r.id)} | {r.task} | {_escape(r.question)} | {_escape(r.prediction)} | {_escape(r.reference or '')} |"
                for r in questions
            ]
        for experiment in self._tensorboards(trainer):
            for name, rows in tables.items():
                experiment.add_text(f"{self.log_prefix}/{name}", "\n".join(rows), global_step=trainer.global_step)

    def _log_images(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Kept slices, fusion gate and injection attention of the fixed volume (every rank runs the pass)."""
        maps_of = getattr(pl_module, "vision_maps", None)
        if not self.log_images or maps_of is None or self.fixed_volume is None:
            return
        from slicevlm.callbacks.tensorboard_images import log_vision_images

        sample_id, volume = self.fixed_volume
        maps = maps_of(volume)  # collective under ZeRO-3: every rank runs it, rank 0 writes
        if maps is None:  # a vision tower without selection / fusion / injection maps
            return
        for experiment in self._tensorboards(trainer):
            log_vision_images(experiment, self.log_prefix, sample_id, volume, maps, trainer.global_step)
