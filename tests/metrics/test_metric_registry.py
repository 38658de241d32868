"""The metric registry: a metric registered once is scored, tabled, described and listed everywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slicevlm.metrics import PredictionRecord, evaluate
from slicevlm.metrics.registry import (
    Metric, implementations, metric_label, metrics_for, on_texts, paper_metric_keys, register_metric, unregister_metric,
)


def length_ratio(prediction: str, reference: str) -> float:
    """Words in the prediction over words in the reference, capped at 1."""
    return min(1.0, len(prediction.split()) / max(1, len(reference.split())))


@pytest.fixture
def with_length_ratio() -> Iterator[Metric]:
    metric = register_metric(Metric("length_ratio", "Length ratio (words)", "m3d", ("caption", "vqa_open"),
                                    on_texts(length_ratio), definition="Length ratio: prediction words / reference words, capped at 1."))
    yield metric
    unregister_metric("length_ratio")


def _records() -> list[PredictionRecord]:
    return [
        PredictionRecord(id="c1", task="caption", prediction="liver lesion", reference="a liver lesion seen"),
        PredictionRecord(id="o1", task="vqa_open", prediction="axial", reference="axial plane", question_type="Plane"),
        PredictionRecord(id="k1", task="vqa_closed", prediction="B. Coronal", reference="B. Coronal", question_type="Plane",
                         answer_choice="B"),
    ]


def test_a_registered_metric_appears_in_the_report(with_length_ratio):
    report = evaluate(_records(), protocol="m3d", bertscore=None)
    assert report.results["caption"]["Overall"]["length_ratio"] == pytest.approx(50.0)  # 2 / 4 words
    assert report.results["vqa_open"]["Plane"]["length_ratio"] == pytest.approx(50.0)
    assert "length_ratio" not in report.results["vqa_closed"]["Overall"]  # not a closed-ended metric
    text = report.to_markdown()
    assert "| BLEU-1 | ROUGE-1 | METEOR | Length ratio (words) |" in text
    assert "Length ratio: prediction words / reference words" in report.description
    assert "test_metric_registry.length_ratio" in report.implementations["length_ratio"]


def test_the_built_in_metrics_keep_their_names_labels_and_order():
    assert [m.name for m in metrics_for("m3d", "caption")] == ["bleu", "rouge", "meteor", "bertscore"]
    assert [(m.name, m.key) for m in metrics_for("m3d", "vqa_closed")] == [("accuracy", "correct"), ("accuracy_strict", "correct_strict")]
    assert metric_label("rouge") == "ROUGE-1" and metric_label("rouge_l", "coco") == "ROUGE-L" and metric_label("unknown") == "unknown"
    assert paper_metric_keys("m3d") == {"BLEU": "bleu", "ROUGE": "rouge", "METEOR": "meteor", "BERTScore": "bertscore"}
    assert paper_metric_keys("coco") == {"BLEU": "bleu_1", "ROUGE": "rouge_l", "METEOR": "meteor"}
    assert set(implementations("coco")) == {"bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "meteor", "cider",
                                            "accuracy", "accuracy_strict"}
    with pytest.raises(ValueError, match="already registered"):
        register_metric(metrics_for("m3d")[0])

