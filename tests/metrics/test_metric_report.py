"""m3d aggregation per question type, the markdown table, paper tables and paper-vs-ours."""

from __future__ import annotations

import pytest

from slicevlm.metrics import PredictionRecord, aggregate_m3d, evaluate
from slicevlm.metrics.compare import CHANCE_LABEL, compare_with_paper, ours_table8, render_comparison
from slicevlm.metrics.paper_tables import TABLE2, TABLE3, TABLE4, TABLE8, TABLES
from slicevlm.metrics.report import ScoreReport


def scored(i: int, task: str, qtype: str, **scores: float) -> PredictionRecord:
    return PredictionRecord(id=str(i), task=task, prediction="p", reference="r", question_type=qtype,
                            answer_choice="A" if task == "vqa_closed" else "", scores=scores)


def test_aggregate_by_question_type() -> None:
    records = [
        scored(1, "vqa_open", "Plane", bleu=1.0, rouge=1.0, meteor=0.5),
        scored(2, "vqa_open", "Plane", bleu=0.5, rouge=0.0, meteor=0.5),
        scored(3, "vqa_open", "Organ", bleu=0.0, rouge=0.0, meteor=0.0),
        scored(4, "vqa_closed", "Phase", correct=1.0, correct_strict=1.0),
        scored(5, "vqa_closed", "Phase", correct=0.0, correct_strict=0.0),
        scored(6, "vqa_closed", "Location", correct=1.0, correct_strict=0.0),
        PredictionRecord(id="7", task="caption", prediction="p", reference=None),  # not scored
    ]
    report = aggregate_m3d(records)
    open_ = report.results["vqa_open"]
    # Plane: bleu (1 + 0.5)/2 = 75; Organ 0; Mean over present types (75 + 0)/2; Overall 1.5/3.
    assert open_["Plane"]["bleu"] == pytest.approx(75.0)
    assert open_["Organ"]["bleu"] == pytest.approx(0.0)
    assert open_["Mean"]["bleu"] == pytest.approx(37.5)
    assert open_["Overall"]["bleu"] == pytest.approx(50.0)
    assert open_["Mean"]["rouge"] == pytest.approx(25.0)
    closed = report.results["vqa_closed"]
    # Phase 1/2, Location 1/1 → Mean 75, Overall 2/3; strict: Phase 50, Location 0.
    assert closed["Phase"]["accuracy"] == pytest.approx(50.0)
    assert closed["Mean"]["accuracy"] == pytest.approx(75.0)
    assert closed["Overall"]["accuracy"] == pytest.approx(200 / 3)
    assert closed["Mean"]["accuracy_strict"] == pytest.approx(25.0)
    assert list(report.results) == ["vqa_open", "vqa_closed"]
    assert report.counts["vqa_open"] == {"Plane": 2, "Organ": 1, "Overall": 3}
    assert any("Mean is over Plane, Organ only" in note for note in report.notes)
    text = report.to_markdown()
    assert "## Scores: m3d protocol" in text and "BERTScore: off." in text
    assert "| Accuracy (strict) | – | 50.00 | – | – | 0.00 | 25.00 | 33.33 |" in text


def test_evaluate_m3d_end_to_end() -> None:
    records = [
        PredictionRecord(id="c", task="caption", prediction=" there is a mass in the liver ",
                         reference="there is a mass in the liver"),
        PredictionRecord(id="o", task="vqa_open", prediction="Axial", reference="Axial", question_type="Plane"),
    ]
    report = evaluate(records, "m3d", bertscore=None)
    caption = report.results["caption"]["Overall"]
    assert caption == pytest.approx({"bleu": 100.0, "rouge": 100.0, "meteor": 100 * (1 - 0.5 / 343)})
    assert report.results["vqa_open"]["Plane"] == pytest.approx({"bleu": 100.0, "rouge": 100.0, "meteor": 50.0})
    assert report.bertscore is None and report.protocol == "m3d"
    assert records[0].scores["bleu"] == 1.0  # per-sample scores stored on the record, in [0, 1]
    with pytest.raises(ValueError, match="Did you mean 'coco'"):
        evaluate(records, "cocoo")


@pytest.mark.parametrize("table", [TABLE3, TABLE4])
def test_paper_mean_columns_are_means_of_the_five_types(table) -> None:
    for name, row in table.rows.items():
        if None not in row:
            assert sum(row[:5]) / 5 == pytest.approx(row[5], abs=0.01), name


def test_paper_tables_content() -> None:
    assert TABLE2.rows["Ours"] == (50.26, 53.37, 50.13, 89.98)
    assert set(TABLES) == {2, 3, 4, 6, 8}
    assert TABLE8.rows["Uniform sampling"][-1] == 81.12
    assert any("prose" in note and "81.95" in note for note in TABLE8.notes)


def test_compare_with_paper_renders_deltas_and_protocol() -> None:
    report = ScoreReport(protocol="m3d", description="",
                         results={"caption": {"Overall": {"bleu": 51.26, "rouge": 53.37, "meteor": 50.0}}})
    text = compare_with_paper(report)
    assert "Paper Table 2" in text and "m3d protocol" in text
    assert "| this run: Ours | 51.26 | 53.37 | 50.00 | – |" in text
    assert "| Δ this run − paper: Ours | +1.00 | +0.00 | -0.13 | – |" in text
    coco = ScoreReport(protocol="coco", description="",
                       results={"caption": {"Overall": {"bleu_1": 40.0, "rouge_l": 30.0, "meteor": 20.0}}})
    text = render_comparison(TABLE2, {"Ours": (40.0, 30.0, 20.0, None)}, coco.protocol)
    assert "**Not comparable**" in text and "coco protocol" in text
    ablation = compare_with_paper(report, ablation="No injection")
    assert "Paper Table 8" in ablation and "paper: No injection" in ablation and "prose" in ablation
    assert ours_table8(report)[:3] == (51.26, 53.37, 50.0)
    with pytest.raises(ValueError, match="unknown Table 8 row"):
        compare_with_paper(report, ablation="nope")


def test_comparisons_show_the_chance_level_of_closed_questions_only() -> None:
    closed = ScoreReport(protocol="m3d", description="", results={"vqa_closed": {
        "Plane": {"accuracy": 40.0}, "Phase": {"accuracy": 30.0}, "Organ": {"accuracy": 30.0},
        "Abnormality": {"accuracy": 20.0}, "Location": {"accuracy": 20.0}, "Mean": {"accuracy": 28.0}}})
    text = compare_with_paper(closed)
    # Plane: three planes + "NA"; other types: four choices; Mean: unweighted over the five types.
    assert "| chance (random choice) | 33.33 | 25.00 | 25.00 | 25.00 | 25.00 | 26.67 |" in text
    assert "| Δ this run − paper: Ours | -59.82 |" in text  # a run on M3D data keeps its difference to the paper
    open_text = render_comparison(TABLE3, {"Ours BLEU": (1.0, 2.0, 3.0, 4.0, 5.0, 3.0)}, "m3d")
    assert "| chance (random choice) | — | — | — | — | — | — |" in open_text
    table8 = render_comparison(TABLE8, {"No injection": (1.0,) * 9}, "m3d")
    assert "| chance (random choice) | — | — | — | — | — | — | — | — | 26.67 |" in table8


def test_a_run_that_is_not_comparable_shows_the_paper_as_reference_without_a_difference() -> None:
    closed = ScoreReport(protocol="m3d", description="", results={"vqa_closed": {"Plane": {"accuracy": 40.0}}})
    text = compare_with_paper(closed, comparable=False)
    assert "Δ" not in text and "| paper: " not in text
    assert "| paper, for reference only (not comparable): Ours | 99.82 | 90.04 | 79.93 | 74.41 | 70.32 | 82.90 |" in text
    assert "**Not comparable**" in text and "chance (random choice)" in text
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    assert rows.index("this run: Ours") < rows.index(CHANCE_LABEL) < rows.index("paper, for reference only (not comparable): Ours")
    table8 = render_comparison(TABLE8, {"No injection": (1.0,) * 9}, "m3d", comparable=False)
    assert "Δ" not in table8 and "paper, for reference only (not comparable): No injection" in table8
