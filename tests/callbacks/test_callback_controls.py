"""Image-reliance controls end to end: tiny SliceVLM, synthetic data, Trainer.test / lightning-cli predict.

Every question is asked of its own volume, of another case's volume and of a blank volume; the
PredictionWriter writes all three rows resumably and summarises them beside the normal scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import yaml

from slicevlm.callbacks import PredictionWriter
from slicevlm.data.controls import derangement
from slicevlm.data.datamodule import M3DDataModule
from slicevlm.data.records import case_of, vqa_records
from slicevlm.llm.generation_config import GenerationConfig

REPO = Path(__file__).resolve().parents[2]
TASKS = ["caption", "vqa_closed", "vqa_open"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic data root with three test cases."""
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("synth"), n=30, seed=0, shape=(8, 24, 24))


def tiny_module(tiny_models: dict[str, Path]) -> pl.LightningModule:
    from slicevlm.llm.language_model import LanguageModel
    from slicevlm.training.module import SliceVLMModule
    from slicevlm.vision import SliceEncoder
    from slicevlm.vision.pipeline import VisionPipeline

    encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
    language = LanguageModel(str(tiny_models["llm"]), dtype="float32")
    return SliceVLMModule(VisionPipeline(encoder), language, stage=1, generation=GenerationConfig(max_new_tokens=4))


def data(root: Path, **kwargs: Any) -> M3DDataModule:
    defaults = {"volume_size": (8, 32, 32), "num_workers": 0, "pin_memory": False, "eval_batch_size": 6,
                "test_tasks": TASKS, "max_test_samples": 2, "image_controls": ["swapped", "blank"]}
    return M3DDataModule(str(root), **{**defaults, **kwargs})


class CrashAfter(pl.Callback):
    """Raise after the PredictionWriter has written test batch ``batch``."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx == self.batch:
            raise RuntimeError("simulated crash")


def trainer(callbacks: list[pl.Callback]) -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def other_seed(root: Path) -> int:
    """A control seed whose derangement of the VQA test cases differs from seed 0's."""
    cases = [case_of(r.image_path) for r in vqa_records(root / "M3D_VQA_test.csv")]
    return next(s for s in range(1, 50) if derangement(cases, s) != derangement(cases, 0))


def test_control_rows_are_written_resumed_and_summarised(tiny_models, root: Path, tmp_path: Path) -> None:
    out = tmp_path / "predictions.jsonl"
    module = tiny_module(tiny_models)
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer([PredictionWriter(out), CrashAfter(batch=0)]).test(module, datamodule=data(root))
    assert len(read_rows(out)) == 6  # the first batch: two questions x (own, swapped, blank)

    writer = PredictionWriter(out)
    trainer([writer]).test(module, datamodule=data(root))
    rows = read_rows(out)
    ids = [row["id"] for row in rows]
    assert len(rows) == 18 and len(set(ids)) == 18  # 3 tasks x 2 questions x 3 volumes, none twice
    assert (writer.resumed_count, writer.written_this_run) == (6, 12)
    own = [row for row in rows if row["condition"] == "own"]
    assert {row["task"] for row in own} == set(TASKS) and len(own) == 6
    for row in own:
        swapped, blank = (next(r for r in rows if r["id"] == f"{row['id']}|{c}") for c in ("swapped", "blank"))
        assert swapped["control"]["of"] == blank["control"]["of"] == row["id"]
        assert swapped["case"] == row["case"] != swapped["control"]["case"]  # never the same case
        assert case_of(swapped["control"]["image_path"]) == swapped["control"]["case"]
        assert swapped["control"]["reference"]  # the swapped-in volume's truth travels with the row
        assert (swapped["reference"], swapped["answer_choice"]) == (row["reference"], row["answer_choice"])
        assert blank["control"]["image_path"] == "" and blank["control"]["reference"] is None
        assert swapped["scores"] and blank["scores"]  # scored against the question's own truth

    summary = json.loads(writer.summary_json_path.read_text(encoding="utf-8"))
    assert summary["counts"]["by_condition"] == {"own": 6, "swapped": 6, "blank": 6}
    assert summary["protocols"]["m3d"]["counts"]["vqa_closed"]["Overall"] == 2  # normal scores: own rows only
    controls = summary["controls"]
    assert set(controls["tables"]) == set(TASKS) and controls["bootstrap"]["unit"] == "cases"
    closed = controls["tables"]["vqa_closed"]
    assert {"own", "swapped", "delta_swapped", "mcnemar_swapped", "agree", "follows", "blank"} <= set(closed)
    assert closed["own"]["Mean"]["n"] == 2 and 0.0 <= closed["mcnemar_swapped"]["Mean"]["value"] <= 1.0
    markdown = writer.summary_md_path.read_text(encoding="utf-8")
    assert "## Image-reliance controls" in markdown and "| McNemar p, own vs swapped |" in markdown

    seed = other_seed(root)
    with pytest.raises(RuntimeError, match="another control_seed"):
        trainer([PredictionWriter(out)]).test(module, datamodule=data(root, control_seed=seed))


def test_lightning_cli_predict_with_image_controls(tiny_models, root: Path, tmp_path: Path) -> None:
    from slicevlm.cli import run_lightning_cli

    out = tmp_path / "eval" / "predictions.jsonl"
    overlay = {
        "trainer": {"logger": False, "default_root_dir": str(tmp_path / "eval"), "callbacks": [
            {"class_path": "slicevlm.callbacks.PredictionWriter", "init_args": {"output_path": str(out)}}]},
        "model": {"stage": 1, "init_from": None, "export_dir": None, "generation": {"max_new_tokens": 4}},
        "data": {"data_root": str(root), "test_tasks": ["vqa_closed"], "max_test_samples": 3, "num_workers": 0,
                 "volume_size": [8, 32, 32], "image_controls": ["swapped"], "control_seed": 2},
    }
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(overlay), encoding="utf-8")
    run_lightning_cli([
        "predict", "--config", str(REPO / "configs" / "demo.yaml"), "--config", str(tmp_path / "overlay.yaml"),
        "--model.vision.init_args.encoder.init_args.model_name", f"local-dir:{tiny_models['encoder']}",
        "--model.language.init_args.model_name", str(tiny_models["llm"]), "--return_predictions", "false",
    ])
    rows = read_rows(out)
    assert [row["condition"] for row in rows] == ["own", "swapped"] * 3
    cases = [case_of(r.image_path) for r in vqa_records(root / "M3D_VQA_test.csv")]
    mapping = derangement(cases, seed=2)
    assert all(row["control"]["case"] == mapping[row["case"]] for row in rows[1::2])
    summary = json.loads(out.with_name("predictions.summary.json").read_text(encoding="utf-8"))
    assert list(summary["controls"]["tables"]) == ["vqa_closed"]
