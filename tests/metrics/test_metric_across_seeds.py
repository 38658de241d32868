"""Closed-VQA results of several rows over several seeds (`reproduce table8|towers`): intervals, per-type pooling, controls."""

from __future__ import annotations

import pytest

from slicevlm.metrics.across_seeds import (
    RowRun, accuracy_intervals_markdown, across_seeds_markdown, closed_accuracy_interval, controls_markdown, per_type_markdown,
)
from slicevlm.metrics.controls import control_report
from slicevlm.metrics.records import ControlTruth, PredictionRecord
from slicevlm.metrics.report import ScoreReport


def _closed_rows(own_right: dict[str, list[bool]], swapped_right: dict[str, list[bool]], seed: int) -> list[PredictionRecord]:
    """Own and swapped rows of closed questions: per type, which answers are right."""
    rows = []
    for question_type, rights in own_right.items():
        for i, (own, swapped) in enumerate(zip(rights, swapped_right[question_type], strict=True)):
            qid, case = f"{question_type}{i}-s{seed}", f"c{i}"
            rows.append(PredictionRecord(qid, "vqa_closed", "A. Axial" if own else "B. Coronal", "A. Axial", question_type, "A", case=case))
            rows.append(PredictionRecord(f"{qid}|swapped", "vqa_closed", "A. Axial" if swapped else "B. Coronal", "A. Axial",
                                         question_type, "A", condition="swapped", case=case,
                                         control=ControlTruth(qid, "x.npy", "c9", "Sagittal", "C")))
    return rows


def _run(row: str, seed: int, own_right: dict[str, list[bool]], swapped_right: dict[str, list[bool]]) -> RowRun:
    """A RowRun scored as an evaluation would be: m3d accuracy per type (own rows) and the controls."""
    records = _closed_rows(own_right, swapped_right, seed)
    scores = ScoreReport("m3d", "", results={"vqa_closed": {}}, counts={"vqa_closed": {}})
    for question_type, rights in own_right.items():
        scores.results["vqa_closed"][question_type] = {"accuracy": 100 * sum(rights) / len(rights)}
        scores.counts["vqa_closed"][question_type] = len(rights)
    means = [v["accuracy"] for v in scores.results["vqa_closed"].values()]
    scores.results["vqa_closed"]["Mean"] = {"accuracy": sum(means) / len(means)}
    return RowRun(row, seed, scores, control_report(records, n_resamples=50))


def test_table8_control_columns():
    rows = []
    for i in range(4):
        rows.append(PredictionRecord(f"q{i}", "vqa_closed", "A. Axial", "A. Axial", "Plane", "A", case=f"c{i}"))
        rows.append(PredictionRecord(f"q{i}|swapped", "vqa_closed", "A. Axial", "A. Axial", "Plane", "A", condition="swapped",
                                     case=f"c{i}", control=ControlTruth(f"q{i}", "x.npy", "c9", "Coronal", "B")))
    text = controls_markdown({"Full model (Tables 2-4) (seed 0)": control_report(rows, n_resamples=100)})
    assert "| row | own volume | swapped volume | own − swapped | follows swapped-in truth | blank volume |" in text
    assert "| Full model (Tables 2-4) (seed 0) | 100.00 [100.0, 100.0] | 100.00 [100.0, 100.0] | 0.00 [0.0, 0.0] | 0.00 [0.0, 0.0] (n 4) | – |" in text


def test_closed_accuracy_interval_is_the_normal_approximation_over_seeds():
    # mean 40, sample sd 10, n 3: half width 1.96 · 10 / √3 = 11.32
    assert closed_accuracy_interval([30.0, 40.0, 50.0]) == "40.00 ± 11.32 (3 seeds)"
    assert closed_accuracy_interval([42.0]) == "42.00 (1 seed)"
    assert closed_accuracy_interval([]) == "–"


def test_per_type_accuracy_pools_the_seeds_by_question_count():
    """Plane: seed 0 4/4 own, 1/4 swapped; seed 1 0/2 own, 0/2 swapped -> pooled 4/6 = 66.7 / 1/6 = 16.7
    (not the mean of the seeds' accuracies, 50.0 / 12.5)."""
    runs = [
        _run("M3D-LaMed", 0, {"Plane": [True] * 4, "Phase": [True, False, False, False]},
             {"Plane": [True, False, False, False], "Phase": [False] * 4}),
        _run("M3D-LaMed", 1, {"Plane": [False, False], "Phase": [True, True, False, False]},
             {"Plane": [False, False], "Phase": [True, False, False, False]}),
    ]
    text = per_type_markdown(runs)
    assert "the 2 seeds pooled: accuracy with the own volume / with a swapped volume" in text
    assert "| row (own volume / swapped volume) | Plane | Phase |" in text
    assert "| M3D-LaMed | 66.7 / 16.7 | 37.5 / 12.5 |" in text
    assert "| chance (random choice) | 33.3 | 25.0 |" in text
    assert "| questions | 6 | 8 |" in text


def test_rows_keep_their_order_and_every_section_comes_out():
    plane = {"Plane": [True, False]}
    runs = [_run(row, seed, plane, {"Plane": [False, False]}) for row in ("SliceVLM", "M3D-LaMed", "Med3DVLM") for seed in (0, 1)]
    intervals = accuracy_intervals_markdown(runs)
    assert [line.split(" | ")[0] for line in intervals.splitlines() if line.startswith("| ") and "---" not in line][1:] == [
        "| SliceVLM", "| M3D-LaMed", "| Med3DVLM", "| chance (random choice)"]
    assert "| SliceVLM | 50.00 ± 0.00 (2 seeds) |" in intervals
    text = across_seeds_markdown(runs)
    assert text.index("across seeds") < text.index("per question type") < text.index("Image-reliance controls")
    assert "| Med3DVLM (seed 1) | 50.00" in text


@pytest.mark.parametrize("with_controls", [False, True])
def test_rows_with_other_question_counts_name_theirs(with_controls):
    runs = [_run("SliceVLM", 0, {"Plane": [True, True]}, {"Plane": [False, False]}),
            _run("Med3DVLM", 0, {"Plane": [True, False, False, False]}, {"Plane": [False] * 4})]
    if not with_controls:
        runs = [RowRun(r.row, r.seed, r.scores) for r in runs]
    text = per_type_markdown(runs)
    assert ("| Med3DVLM | 25.0 / 0.0 (n 4) |" if with_controls else "| Med3DVLM | 25.0 (n 4) |") in text
    assert "| questions |" not in text
