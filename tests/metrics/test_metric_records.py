"""Prediction rows: validation with line numbers and field names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slicevlm.metrics.records import RecordError, normalize_question_type, read_predictions, record_from_dict

GOOD = {"id": "q1", "task": "vqa_closed", "question_type": "2", "prediction": "B. Arterial",
        "reference": "B. Arterial", "answer_choice": "b"}


def write_rows(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_record_normalises_question_type_and_choice() -> None:
    record = record_from_dict(GOOD)
    assert (record.question_type, record.answer_choice) == ("Phase", "B")
    caption = record_from_dict({"id": 7, "task": "caption", "question_type": None, "prediction": "x",
                                "reference": "y", "answer_choice": None})
    assert (caption.id, caption.question_type, caption.answer_choice) == ("7", "", "")


@pytest.mark.parametrize(("value", "expected"), [(1, "Plane"), ("5", "Location"), (" organ ", "Organ"),
                                                 ("ABNORMALITY", "Abnormality")])
def test_normalize_question_type(value: object, expected: str) -> None:
    assert normalize_question_type(value) == expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"task": "vqa"}, "'task'"),
        ({"question_type": "Size"}, "'question_type'"),
        ({"answer_choice": "E"}, "'answer_choice'"),
        ({"prediction": None}, "'prediction'"),
        ({"reference": 3}, "'reference'"),
        ({"id": ""}, "'id'"),
    ],
)
def test_bad_row_names_line_and_field(tmp_path: Path, change: dict, field: str) -> None:
    path = write_rows(tmp_path / "p.jsonl", [GOOD | {"id": "q0"}, GOOD | change])
    with pytest.raises(RecordError) as info:
        read_predictions(path)
    assert f"{path}:2:" in str(info.value) and field in str(info.value)


def test_unpaired_surrogate_is_a_bad_row(tmp_path: Path) -> None:
    # JSON may escape half a surrogate pair; no tokenizer can encode the resulting string.
    path = write_rows(tmp_path / "p.jsonl", ['{"id": "c", "task": "caption", "prediction": "mass \\ud800", '
                                            '"reference": "mass"}'])
    with pytest.raises(RecordError, match=r":1: field 'prediction' is not valid Unicode text: '\\ud800' at "
                                          r"character 5 is an unpaired surrogate"):
        read_predictions(path)


def test_bad_json_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match=r":2: not valid JSON"):
        read_predictions(write_rows(tmp_path / "a.jsonl", [GOOD, "{broken"]))
    with pytest.raises(RecordError, match=r":3: id 'q1' already appeared on line 1"):
        read_predictions(write_rows(tmp_path / "b.jsonl", [GOOD, GOOD | {"id": "q2"}, GOOD]))
    with pytest.raises(FileNotFoundError):
        read_predictions(tmp_path / "missing.jsonl")


def test_reference_may_be_missing(tmp_path: Path) -> None:
    rows = read_predictions(write_rows(tmp_path / "p.jsonl", ["", GOOD | {"reference": None}]))
    assert len(rows) == 1 and not rows[0].scorable
