"""Control rows in prediction records, the follow rules, and the control tables on known answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slicevlm.metrics.controls import control_report, follows_closed, follows_open, mentions
from slicevlm.metrics.grounding import mcnemar_exact
from slicevlm.metrics.records import ControlTruth, PredictionRecord, RecordError, read_predictions, record_from_dict

PLANES = ("Axial", "Coronal", "Sagittal")


def closed_rows(n: int, reader: bool) -> list[PredictionRecord]:
    """n Plane questions, case i's truth PLANES[i % 3], the swapped-in volume from case i + 1.

    A reader answers each volume's own plane; an ignorer answers the question's plane whatever
    the volume. The choices are always A. Axial B. Coronal C. Sagittal.
    """
    rows = []
    for i in range(n):
        own, other = PLANES[i % 3], PLANES[(i + 1) % 3]
        key, other_key = "ABC"[i % 3], "ABC"[(i + 1) % 3]
        rows.append(PredictionRecord(f"q{i}", "vqa_closed", f"{key}. {own}", f"{key}. {own}", "Plane", key, case=f"c{i}"))
        answer = f"{other_key}. {other}" if reader else f"{key}. {own}"
        truth = ControlTruth(f"q{i}", f"c{i + 1}/x.npy", f"c{i + 1}", other, other_key)
        rows.append(PredictionRecord(f"q{i}|swapped", "vqa_closed", answer, f"{key}. {own}", "Plane", key,
                                     condition="swapped", case=f"c{i}", control=truth))
        rows.append(PredictionRecord(f"q{i}|blank", "vqa_closed", "D. None", f"{key}. {own}", "Plane", key,
                                     condition="blank", case=f"c{i}", control=ControlTruth(f"q{i}")))
    return rows


def test_a_model_that_reads_the_image() -> None:
    report = control_report(closed_rows(12, reader=True), n_resamples=500)
    assert report is not None and report.conditions == ["swapped", "blank"]
    table = report.tables["vqa_closed"]
    assert table["own"]["Plane"].value == 100.0 and table["own"]["Plane"].n == 12
    assert table["swapped"]["Plane"].value == 0.0 and table["delta_swapped"]["Plane"].value == 100.0
    assert table["mcnemar_swapped"]["Plane"].value == pytest.approx(mcnemar_exact(12, 0)) == pytest.approx(2 / 4096)
    assert table["mcnemar_swapped"]["Plane"].detail == "12/0"
    assert table["follows"]["Plane"].value == 100.0 and table["follows"]["Plane"].n == 12
    assert table["agree"]["Plane"].value == 0.0
    assert table["blank"]["Plane"].value == 0.0 and table["mcnemar_blank"]["Plane"].detail == "12/0"
    assert table["own"]["Mean"].value == 100.0  # one type: the Mean is that type


def test_a_model_that_ignores_the_image() -> None:
    report = control_report(closed_rows(12, reader=False), n_resamples=500)
    table = report.tables["vqa_closed"]
    assert table["own"]["Plane"].value == table["swapped"]["Plane"].value == 100.0
    assert table["delta_swapped"]["Plane"].value == 0.0
    assert (table["delta_swapped"]["Plane"].low, table["delta_swapped"]["Plane"].high) == (0.0, 0.0)
    assert table["mcnemar_swapped"]["Plane"].value == 1.0
    assert table["follows"]["Plane"].value == 0.0


def test_mean_column_is_the_mean_over_question_types() -> None:
    rows = closed_rows(4, reader=True)  # 4 Plane questions, all right with the own volume
    wrong = PredictionRecord("p0", "vqa_closed", "A. Arterial", "B. Delayed", "Phase", "B", case="c9")
    rows += [wrong, PredictionRecord("p0|swapped", "vqa_closed", "A. Arterial", "B. Delayed", "Phase", "B",
                                     condition="swapped", case="c9", control=ControlTruth("p0", "c0/x.npy", "c0", "Arterial", "A"))]
    table = control_report(rows, n_resamples=200).tables["vqa_closed"]
    assert table["own"]["Plane"].value == 100.0 and table["own"]["Phase"].value == 0.0
    assert table["own"]["Mean"].value == 50.0  # (100 + 0) / 2, as the paper's Mean; pooled would be 80
    assert table["own"]["Mean"].n == 5
    assert table["mcnemar_swapped"]["Mean"].detail == "4/0"  # McNemar pools the types: 4 own-only right
    assert table["follows"]["Mean"].value == 100.0


def test_intervals_resample_cases_and_are_reproducible() -> None:
    rows = closed_rows(12, reader=True)
    for row in rows:  # half the own answers wrong: the own accuracy is 50 with a real interval
        if row.condition == "own" and int(row.id[1:]) % 2:
            row.prediction = "D. None"
    first = control_report(rows, n_resamples=300, seed=4).tables["vqa_closed"]["own"]["Plane"]
    again = control_report(rows, n_resamples=300, seed=4).tables["vqa_closed"]["own"]["Plane"]
    assert first.value == 50.0 and first.low < 50.0 < first.high
    assert (first.low, first.high) == (again.low, again.high)


def test_follow_rules() -> None:
    assert follows_closed("B. Coronal", "A", "B") is True
    assert follows_closed("A. Axial or B. Coronal", "A", "B") is False  # names both: not a follow
    assert follows_closed("B. Coronal", "A", "A") is None  # same truth: not informative
    assert follows_closed("B. Coronal", "A", "") is None  # swapped-in answer not among the choices
    assert follows_open("The plane is coronal.", "Axial", "Coronal") is True
    assert follows_open("Axial.", "Axial", "Coronal") is False
    assert follows_open("Coronal", "coronal ", "Coronal") is None
    assert follows_open("Coronal", "Axial", None) is None
    assert mentions("Portal venous phase.", "portal venous phase") and not mentions("arterialphase", "arterial")


def test_open_and_report_tables() -> None:
    rows = [
        PredictionRecord("o1", "vqa_open", "Axial", "Axial", "Plane", case="c1"),
        PredictionRecord("o1|swapped", "vqa_open", "Coronal", "Axial", "Plane", condition="swapped", case="c1",
                         control=ControlTruth("o1", "c2/x.npy", "c2", "Coronal")),
        PredictionRecord("o2", "vqa_open", "Liver", "Liver", "Organ", case="c2"),
        PredictionRecord("o2|swapped", "vqa_open", "Liver", "Liver", "Organ", condition="swapped", case="c2",
                         control=ControlTruth("o2", "c1/x.npy", "c1", "Spleen")),
        PredictionRecord("r1", "caption", "a cyst in the liver", "a cyst in the liver", case="c1"),
        PredictionRecord("r1|swapped", "caption", "a mass in the spleen", "a cyst in the liver", condition="swapped",
                         case="c1", control=ControlTruth("r1", "c2/x.npy", "c2", "a mass in the spleen")),
    ]
    report = control_report(rows, n_resamples=200)
    open_table = report.tables["vqa_open"]
    assert open_table["bleu/own"]["Mean"].value == 100.0
    assert open_table["bleu/swapped"]["Plane"].value == 0.0 and open_table["bleu/swapped"]["Organ"].value == 100.0
    assert open_table["bleu/swapped_vs_swapped_ref"]["Plane"].value == 100.0
    assert open_table["follows"]["Plane"].value == 100.0 and open_table["follows"]["Organ"].value == 0.0
    assert open_table["agree"]["Mean"].value == 0.0
    captions = report.tables["caption"]
    assert captions["own"]["rouge"].value == 100.0 and captions["swapped_vs_swapped_ref"]["rouge"].value == 100.0
    assert captions["swapped"]["rouge"].value == pytest.approx(100 * 3 / 5)  # "a", "in", "the" shared: 3 of 5
    assert captions["own_vs_swapped_ref"]["rouge"].value == pytest.approx(100 * 3 / 5)
    markdown = report.to_markdown()
    assert "## Image-reliance controls" in markdown and "ROUGE-1, swapped volume vs swapped-in truth" in markdown
    assert "| Swapped volume vs swapped-in truth |" in markdown and "resamples of cases" in markdown
    assert json.loads(json.dumps(report.to_dict()))["tables"]["caption"]["own"]["rouge"]["value"] == 100.0


def test_no_control_rows_no_report() -> None:
    assert control_report([PredictionRecord("a", "caption", "x", "x")]) is None


# ----- the record fields ------------------------------------------------------------------


def test_control_rows_round_trip_through_jsonl(tmp_path: Path) -> None:
    rows = closed_rows(2, reader=True)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows), encoding="utf-8")
    back = read_predictions(path)
    assert back == rows
    own, swapped = rows[0].to_dict(), rows[1].to_dict()
    assert list(own) == ["id", "task", "question_type", "question", "prediction", "reference", "answer_choice",
                         "condition", "case", "scores"]
    assert swapped["condition"] == "swapped" and swapped["control"]["of"] == "q0"
    plain = PredictionRecord("x", "caption", "p", "r").to_dict()
    assert "case" not in plain and "control" not in plain and plain["condition"] == "own"


def test_bad_control_fields_are_named() -> None:
    base = {"id": "a", "task": "caption", "prediction": "p", "reference": "r"}
    assert record_from_dict(base).condition == "own"  # files without the field are own-volume rows
    with pytest.raises(RecordError, match="field 'condition' must be one of own, swapped, blank, got 'other'"):
        record_from_dict({**base, "condition": "other"})
    with pytest.raises(RecordError, match="a 'swapped' row needs field 'control'"):
        record_from_dict({**base, "condition": "swapped"})
    with pytest.raises(RecordError, match="field 'control' is only for swapped/blank rows"):
        record_from_dict({**base, "control": {"of": "b"}})
    with pytest.raises(RecordError, match="'answer_choice' must be A-D or empty, got 'E'"):
        record_from_dict({**base, "condition": "swapped", "control": {"of": "b", "answer_choice": "E"}})
