"""`slicevlm demo-targets`: closed accuracy own vs swapped volume per type, Wilson intervals, exit 1 on a missed target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slicevlm.demo_targets import Accuracy, check_targets, main
from slicevlm.errors import ConfigError
from slicevlm.metrics.records import ControlTruth, PredictionRecord

CHOICES = {"Plane": "Choices: A. Axial B. Sagittal C. Coronal D. NA", "Phase": "Choices: A. Arterial phase B. Delayed phase C. Non-contrast D. Portal venous phase"}


def _rows(kind: str, own_right: int, swapped_right: int, n: int = 10) -> list[PredictionRecord]:
    rows = []
    for index in range(n):
        row_id = f"vqa_closed:test:{kind}{index}"
        question = f"Which {kind.lower()}? {CHOICES[kind]}"
        common = {"task": "vqa_closed", "question_type": kind, "question": question, "reference": "A. x", "answer_choice": "A"}
        rows.append(PredictionRecord(id=row_id, prediction="A. x", scores={"correct": float(index < own_right)}, **common))
        rows.append(
            PredictionRecord(
                id=f"{row_id}|swapped",
                prediction="B. y",
                scores={"correct": float(index < swapped_right)},
                condition="swapped",
                control=ControlTruth(of=row_id, reference="y", answer_choice="B"),
                **common,
            )
        )
    return rows


def _write(path: Path, rows: list[PredictionRecord]) -> Path:
    path.write_text("".join(json.dumps(row.to_dict()) + "\n" for row in rows), encoding="utf-8")
    return path


def _caption(index: int) -> PredictionRecord:
    return PredictionRecord(id=f"cap:test:case{index}/Axial_delayed.npy", task="caption", prediction=f"generated {index}", reference=f"reference {index}")


def test_wilson_interval_is_bounded_and_known_values():
    assert Accuracy(0, 10).interval() == pytest.approx((0.0, 27.75), abs=0.01)
    assert Accuracy(10, 10).interval() == pytest.approx((72.25, 100.0), abs=0.01)
    low, high = Accuracy(5, 10).interval()
    assert low == pytest.approx(23.66, abs=0.01) and high == pytest.approx(76.34, abs=0.01)


def test_targets_met_print_the_table_and_three_reports(tmp_path, capsys):
    rows = _rows("Plane", 10, 3) + _rows("Phase", 9, 2) + [_caption(i) for i in range(5)]
    assert check_targets(_write(tmp_path / "p.jsonl", rows)) == 0
    out = capsys.readouterr().out
    assert "  Plane        100.0 [72.2, 100.0] (n 10)  30.0 [10.8,  60.3] (n 10)         +70.0    33.3  target met" in out
    assert "  Phase         90.0 [59.6,  98.2] (n 10)  20.0" in out and "25.0  target met" in out  # no NA among Phase's choices: chance 1 in 4
    assert out.count("  generated: ") == 3 and "reference 2" in out and "reference 3" not in out
    assert "Targets met: Plane, Phase" in out


@pytest.mark.parametrize(
    ("own", "swapped", "why"),
    [(8, 0, "below 90% on its own volume"), (10, 8, "only 20 points above the swapped volume")],
)
def test_a_missed_target_exits_1(tmp_path, capsys, own, swapped, why):
    rows = _rows("Plane", 10, 0) + _rows("Phase", own, swapped)
    assert main([str(_write(tmp_path / "p.jsonl", rows))]) == 1, why
    out = capsys.readouterr().out
    assert "Phase" in out and "TARGET MISSED" in out and "Targets missed: Phase." in out


def test_a_type_missing_from_the_file_is_a_missed_target(tmp_path, capsys):
    assert check_targets(_write(tmp_path / "p.jsonl", _rows("Plane", 10, 0))) == 1
    assert "Phase        no closed question of this type in the file" in capsys.readouterr().out


def test_without_swapped_rows_or_file_the_error_says_what_to_do(tmp_path):
    own_only = [row for row in _rows("Plane", 10, 0) if row.condition == "own"]
    with pytest.raises(ConfigError, match=r"no swapped-volume rows.*image_controls: \[swapped\]"):
        check_targets(_write(tmp_path / "p.jsonl", own_only))
    with pytest.raises(ConfigError, match="no predictions file there"):
        check_targets(tmp_path / "missing.jsonl")
