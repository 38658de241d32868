"""GenerationEvaluator and PredictionWriter inside a real (tiny, CPU) Lightning Trainer.

The LightningModule here is a fake with the interface the real SliceVLM module provides:
dict batches, ``generate_texts(batch, max_new_tokens=None)``, ``generation_settings()``, and
test/predict steps that honour ``skip_ids`` and return ``[{"id", "prediction"}, ...]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, Dataset

from slicevlm.callbacks import GenerationEvaluator, PredictionWriter

ROWS: list[dict[str, str]] = [
    {"id": "cap-0", "task": "caption", "question_type": "", "instruction": "Describe the findings.",
     "answer": "there is a mass in the liver", "answer_choice": ""},
    {"id": "cap-1", "task": "caption", "question_type": "", "instruction": "Describe the findings.",
     "answer": "no acute abnormality", "answer_choice": ""},
    {"id": "open-0", "task": "vqa_open", "question_type": "Plane", "instruction": "Which plane?",
     "answer": "Axial", "answer_choice": ""},
    {"id": "open-1", "task": "vqa_open", "question_type": "3", "instruction": "Which organ?",
     "answer": "Liver", "answer_choice": ""},
    {"id": "closed-0", "task": "vqa_closed", "question_type": "Phase", "instruction": "Phase? Choices: A. x B. y",
     "answer": "B. Arterial", "answer_choice": "B"},
    {"id": "closed-1", "task": "vqa_closed", "question_type": "Location", "instruction": "Where? Choices: A. L B. R",
     "answer": "A. Left", "answer_choice": "A"},
]
IDS = [row["id"] for row in ROWS]
# Perfect generations (m3d, ×100): BLEU = ROUGE = 100; METEOR per sample = 1 - 0.5·(chunks/m)^3
# with one chunk: 7 words, 3 words, then two one-word answers (0.5 each).
PERFECT_METEOR = 100 * ((1 - 0.5 / 7**3) + (1 - 0.5 / 3**3) + 0.5 + 0.5) / 4


class VolumeRows(Dataset):
    def __len__(self) -> int:
        return len(ROWS)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"volume": torch.full((2, 4, 4), float(index)), "image_path": f"{index}.npy", **ROWS[index]}


def loader() -> DataLoader:
    return DataLoader(VolumeRows(), batch_size=2, shuffle=False)


class FakeVLM(pl.LightningModule):
    """Answers perfectly from ``good_from_epoch`` on (else nonsense); may crash at a test batch."""

    def __init__(self, good_from_epoch: int = 0, fail_at_batch: int | None = None, honour_skip: bool = True) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        torch.nn.init.constant_(self.layer.weight, 0.5)  # the same weights in every instance
        torch.nn.init.zeros_(self.layer.bias)
        self.good_from_epoch = good_from_epoch
        self.fail_at_batch = fail_at_batch
        self.honour_skip = honour_skip
        self.generated_ids: list[str] = []
        self.skip_ids: set[str] = set()

    def generate_texts(self, batch: dict[str, Any], max_new_tokens: int | None = None) -> list[str]:
        assert batch["volume"].device == self.device
        self.generated_ids += list(batch["id"])
        if self.current_epoch >= self.good_from_epoch:
            return list(batch["answer"])
        return ["wrong words entirely"] * len(batch["id"])

    def generation_settings(self) -> dict[str, Any]:
        return {"do_sample": False, "num_beams": 1, "max_new_tokens": 256}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self.layer(batch["volume"].mean(dim=(1, 2, 3)).unsqueeze(-1)).pow(2).mean()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.log("val/loss", self.layer(batch["volume"].mean(dim=(1, 2, 3)).unsqueeze(-1)).pow(2).mean())

    def _generate_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, str]]:
        if batch_idx == self.fail_at_batch:
            raise RuntimeError("simulated crash")
        keep = [i for i, sample_id in enumerate(batch["id"]) if not self.honour_skip or sample_id not in self.skip_ids]
        if not keep:
            return []
        sub = {k: (v[keep] if isinstance(v, torch.Tensor) else [v[i] for i in keep]) for k, v in batch.items()}
        return [{"id": i, "prediction": t} for i, t in zip(sub["id"], self.generate_texts(sub), strict=True)]

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, str]]:
        return self._generate_step(batch, batch_idx)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, str]]:
        return self._generate_step(batch, batch_idx)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def trainer(tmp_path: Path, callbacks: list[pl.Callback], **kwargs: Any) -> pl.Trainer:
    defaults: dict[str, Any] = {"logger": False, "enable_checkpointing": False}
    return pl.Trainer(accelerator="cpu", devices=1, default_root_dir=tmp_path, callbacks=callbacks,
                      enable_progress_bar=False, enable_model_summary=False, **(defaults | kwargs))


# ----- GenerationEvaluator -----------------------------------------------------------------


def test_generation_evaluator_logs_metrics_and_best_checkpoint(tmp_path: Path) -> None:
    evaluator = GenerationEvaluator(max_samples=6)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/bleu", mode="max",
                                 filename="{epoch}-{val/bleu:.1f}", auto_insert_metric_name=False)
    logger = TensorBoardLogger(save_dir=tmp_path, name="tb")
    fit = trainer(tmp_path, [evaluator, checkpoint], max_epochs=2, limit_train_batches=1,
                  logger=logger, enable_checkpointing=True)
    fit.fit(FakeVLM(good_from_epoch=1), train_dataloaders=loader(), val_dataloaders=loader())
    metrics = fit.callback_metrics
    assert float(metrics["val/bleu"]) == pytest.approx(100.0)
    assert float(metrics["val/rouge"]) == pytest.approx(100.0)
    assert float(metrics["val/meteor"]) == pytest.approx(PERFECT_METEOR, rel=1e-5)
    assert float(metrics["val/closed_acc"]) == pytest.approx(100.0)
    assert float(metrics["val/closed_acc_strict"]) == pytest.approx(100.0)
    assert float(metrics["val/caption/bleu"]) == pytest.approx(100.0)
    # Epoch 0 answered nonsense (BLEU 0), epoch 1 perfectly: ModelCheckpoint saw the key and kept epoch 1.
    assert checkpoint.best_model_score is not None and float(checkpoint.best_model_score) == pytest.approx(100.0)
    assert Path(checkpoint.best_model_path).name.startswith("1-")
    assert "bertscore" not in json.dumps(list(metrics))  # off by default in training

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logger.log_dir), size_guidance={"tensors": 0})
    events.Reload()
    assert "val/samples/text_summary" in events.Tags()["tensors"]
    text = events.Tensors("val/samples/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert "| cap-0 | caption | there is a mass in the liver | there is a mass in the liver |" in text


def test_generation_evaluator_subset_and_schedule(tmp_path: Path) -> None:
    evaluator = GenerationEvaluator(max_samples=3, every_n_epochs=2, num_logged_samples=0)
    module = FakeVLM()
    fit = trainer(tmp_path, [evaluator], max_epochs=2, limit_train_batches=1, num_sanity_val_steps=1)
    fit.fit(module, train_dataloaders=loader(), val_dataloaders=loader())
    # Sanity check and epoch 0 skipped; epoch 1 generated on the first 3 rows only (batch of 2 + 1 row).
    assert module.generated_ids == ["cap-0", "cap-1", "open-0"]
    assert [r.id for r in evaluator.last_records] == ["cap-0", "cap-1", "open-0"]
    assert "val/closed_acc" not in fit.callback_metrics
    with pytest.raises(ValueError, match="unknown scoring protocol"):
        GenerationEvaluator(protocol="bleu")


# ----- PredictionWriter --------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("honour_skip", [True, False])
def test_prediction_writer_resumes_after_crash(tmp_path: Path, honour_skip: bool) -> None:
    out = tmp_path / "preds" / "predictions.jsonl"
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer(tmp_path, [PredictionWriter(out)]).test(FakeVLM(fail_at_batch=1), dataloaders=loader())
    assert [row["id"] for row in read_rows(out)] == IDS[:2]  # batch 0 was fsynced before the crash
    with out.open("a", encoding="utf-8") as handle:  # a write cut short by the crash
        handle.write('{"id": "cap-1", "task": "capt')

    module = FakeVLM(honour_skip=honour_skip)
    writer = PredictionWriter(out, compare_with_paper=True)
    trainer(tmp_path, [writer]).test(module, dataloaders=loader())
    assert module.skip_ids == set(IDS[:2])
    if honour_skip:
        assert module.generated_ids == IDS[2:]
    rows = read_rows(out)  # parses every line: the truncated one is gone
    assert [row["id"] for row in rows] == IDS
    assert list(rows[0]) == ["id", "task", "question_type", "question", "prediction", "reference",
                             "answer_choice", "condition", "scores"]
    by_id = {row["id"]: row for row in rows}
    assert by_id["open-1"]["question_type"] == "Organ" and by_id["open-1"]["question"] == "Which organ?"
    assert by_id["cap-0"]["scores"] == pytest.approx({"bleu": 1.0, "rouge": 1.0, "meteor": 1 - 0.5 / 343})
    assert by_id["closed-0"]["scores"] == {"correct": 1.0, "correct_strict": 1.0}

    summary = json.loads(writer.summary_json_path.read_text(encoding="utf-8"))
    assert summary["counts"] | {"by_task": None} == {
        "rows": 6, "scored": 6, "without_reference": 0, "by_task": None, "written_this_run": 4, "resumed": 2,
    }
    assert summary["generation"]["num_beams"] == 1
    m3d = summary["protocols"]["m3d"]
    assert m3d["results"]["caption"]["Overall"]["bleu"] == pytest.approx(100.0)
    assert m3d["results"]["vqa_closed"]["Mean"]["accuracy"] == pytest.approx(100.0)
    markdown = writer.summary_md_path.read_text(encoding="utf-8")
    assert "## Scores: m3d protocol" in markdown and "| Metric | Plane | Phase |" in markdown
    assert "Paper Table 4" in markdown and "num_beams" in markdown


def test_prediction_writer_predict_and_rerun_is_noop(tmp_path: Path) -> None:
    out = tmp_path / "predict.jsonl"
    writer = PredictionWriter(out, per_sample_scores=False)
    runner = trainer(tmp_path, [writer])
    runner.predict(FakeVLM(), dataloaders=loader(), return_predictions=False)
    first = out.read_text(encoding="utf-8")
    assert [row["id"] for row in read_rows(out)] == IDS
    assert all(row["scores"] == {} for row in read_rows(out))
    assert writer.summary is not None and "m3d" in writer.summary["protocols"]  # scored at the end

    module = FakeVLM()
    trainer(tmp_path, [PredictionWriter(out)]).predict(module, dataloaders=loader(), return_predictions=False)
    assert module.generated_ids == [] and out.read_text(encoding="utf-8") == first


def test_prediction_writer_rejects_bad_outputs(tmp_path: Path) -> None:
    writer = PredictionWriter(tmp_path / "p.jsonl")
    batch = {"id": ["a"], "task": ["vqa_closed"], "question_type": ["Plane"], "instruction": ["q"],
             "answer": ["A. x"], "answer_choice": ["Z"]}
    with pytest.raises(TypeError, match="list of dicts"):
        writer.records_from_outputs(torch.zeros(1), batch)
    with pytest.raises(ValueError, match="lacks 'id' or 'prediction'"):
        writer.records_from_outputs([{"id": "a"}], batch)
    with pytest.raises(ValueError, match="output for id 'a'.*'answer_choice'"):
        writer.records_from_outputs([{"id": "a", "prediction": "A."}], batch)


def test_prediction_writer_never_resumes_another_runs_rows(tmp_path: Path) -> None:
    out = tmp_path / "predictions.jsonl"
    trainer(tmp_path, [PredictionWriter(out, per_sample_scores=False)]).test(FakeVLM(), dataloaders=loader())
    record = json.loads((tmp_path / "predictions.run.json").read_text(encoding="utf-8"))
    assert len(record["weights_sha256"]) == 64 and record["generation"]["num_beams"] == 1

    retrained = FakeVLM()
    with torch.no_grad():
        retrained.layer.weight.add_(1e-3)
    with pytest.raises(RuntimeError, match="6 predictions that this run cannot resume: they came from other weights"):
        trainer(tmp_path, [PredictionWriter(out)]).test(retrained, dataloaders=loader())

    class LongerAnswers(FakeVLM):
        def generation_settings(self) -> dict[str, Any]:
            return {**super().generation_settings(), "max_new_tokens": 512}

    with pytest.raises(RuntimeError, match="other generation settings"):
        trainer(tmp_path, [PredictionWriter(out)]).test(LongerAnswers(), dataloaders=loader())

    trainer(tmp_path, [PredictionWriter(out, on_other_run="restart")]).test(retrained, dataloaders=loader())
    assert retrained.generated_ids == IDS  # everything regenerated by the new weights
    assert [row["id"] for row in read_rows(out)] == IDS
    assert [row["id"] for row in read_rows(tmp_path / "predictions.old.jsonl")] == IDS  # kept, not lost

    (tmp_path / "predictions.run.json").unlink()  # rows nobody can vouch for
    with pytest.raises(RuntimeError, match="no predictions.run.json says which model wrote them"):
        trainer(tmp_path, [PredictionWriter(out)]).test(retrained, dataloaders=loader())
