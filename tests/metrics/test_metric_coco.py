"""The coco protocol: one pycocoevalcap run (PTB tokenizer + METEOR 1.5 start Java, ~15 s)."""

from __future__ import annotations

import shutil

import pytest

from slicevlm.metrics import PredictionRecord, evaluate

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="the coco protocol needs Java")


def test_coco_protocol_corpus_scores() -> None:
    records = [
        # Identical after PTB tokenisation (lowercase, punctuation removed).
        PredictionRecord(id="c1", task="caption", prediction="There is a large mass in the liver.",
                         reference="there is a large mass in the liver"),
        PredictionRecord(id="c2", task="caption", prediction="No acute abnormality in the abdomen.",
                         reference="No acute abnormality in the abdomen"),
        PredictionRecord(id="o1", task="vqa_open", prediction="the axial plane", reference="the axial plane",
                         question_type="Plane"),
        PredictionRecord(id="o2", task="vqa_open", prediction="kidney", reference="the left liver lobe",
                         question_type="Organ"),
        PredictionRecord(id="k1", task="vqa_closed", prediction="A. or B.", reference="B. x",
                         question_type="Phase", answer_choice="B"),
    ]
    report = evaluate(records, "coco")
    assert report.protocol == "coco" and report.bertscore is None
    caption = report.results["caption"]["Overall"]
    # Identical token sequences: every n-gram precision is 1 and BP = 1 → BLEU-n = 100;
    # LCS = length → ROUGE-L = 100.
    for n in range(1, 5):
        assert caption[f"bleu_{n}"] == pytest.approx(100.0, abs=1e-4)
    assert caption["rouge_l"] == pytest.approx(100.0)
    assert 0.0 < caption["meteor"] <= 100.0 and caption["cider"] > 0.0
    open_ = report.results["vqa_open"]
    # Plane identical (3 tokens): BLEU-1..3 = 100; Organ shares nothing: BLEU-1 = ROUGE-L = 0.
    assert open_["Plane"]["bleu_3"] == pytest.approx(100.0, abs=1e-4)
    assert open_["Organ"]["bleu_1"] == pytest.approx(0.0, abs=1e-4)
    assert open_["Organ"]["rouge_l"] == 0.0
    assert open_["Mean"]["rouge_l"] == pytest.approx(50.0)
    # Closed-ended accuracy uses the same rules as m3d.
    assert report.results["vqa_closed"]["Overall"] == {"accuracy": 100.0, "accuracy_strict": 0.0}
    text = report.to_markdown()
    assert "## Scores: coco protocol" in text and "CIDEr" in text and "BLEU-4" in text
    assert "| BLEU-1, BLEU-2, BLEU-3, BLEU-4, ROUGE-L, METEOR, CIDEr | pycocoevalcap 1." in text
