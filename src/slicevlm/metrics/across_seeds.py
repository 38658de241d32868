"""Closed-VQA results of several trained rows (models or ablations), each over several seeds, as markdown.

Input: one :class:`RowRun` per row and seed: the m3d :class:`~slicevlm.metrics.report.ScoreReport` of
an evaluation on the test split and, when the questions were also asked of other volumes, its
:class:`~slicevlm.metrics.controls.ControlReport`. Output (`slicevlm reproduce table8|towers`):

- the Mean accuracy over question types per row: mean ± 95% CI over the seeds, normal approximation
  (mean ± 1.96·s/√n, s the sample standard deviation of the per-seed Means), beside chance;
- per question type, the seeds pooled: accuracy with the own volume / with a swapped volume,
  Σ_seeds accuracy·n / Σ_seeds n, beside chance;
- the image-reliance controls per seed, with their case-bootstrap intervals.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slicevlm.metrics.compare import CHANCE_LABEL, CLOSED_CHANCE, closed_chance_mean
from slicevlm.metrics.records import QUESTION_TYPES
from slicevlm.metrics.report import MEAN, ScoreReport, markdown_table

if TYPE_CHECKING:
    from slicevlm.metrics.controls import ControlReport

CLOSED = "vqa_closed"


@dataclass
class RowRun:
    """One evaluation of one row trained with one seed.

    Attributes:
        row: The row's name ("SliceVLM", "Uniform sampling").
        seed: The training seed; None for a single checkpoint (real data).
        scores: Its m3d scores on the test split.
        controls: Its image-reliance controls, or None when none was asked.
    """

    row: str
    seed: int | None
    scores: ScoreReport
    controls: ControlReport | None = None

    @property
    def label(self) -> str:
        """The row name with its seed, e.g. "SliceVLM (seed 0)"."""
        return self.row if self.seed is None else f"{self.row} (seed {self.seed})"

    @property
    def closed_mean(self) -> float | None:
        """Closed-VQA accuracy, unweighted Mean over the question types (×100); None when not scored."""
        return self.scores.results.get(CLOSED, {}).get(MEAN, {}).get("accuracy")


def closed_accuracy_interval(values: list[float]) -> str:
    """mean ± 95% CI (normal approximation over seeds) of closed-VQA accuracies, as text."""
    if len(values) < 2:
        return f"{values[0]:.2f} (1 seed)" if values else "–"
    half_width = 1.96 * statistics.stdev(values) / len(values) ** 0.5
    return f"{statistics.mean(values):.2f} ± {half_width:.2f} ({len(values)} seeds)"


def _by_row(runs: Sequence[RowRun]) -> dict[str, list[RowRun]]:
    rows: dict[str, list[RowRun]] = {}
    for run in runs:
        rows.setdefault(run.row, []).append(run)
    return rows


def accuracy_intervals_markdown(runs: Sequence[RowRun]) -> str:
    """One line per row: closed-VQA Mean accuracy, mean ± 95% CI over its seeds; then chance."""
    lines = [f"| {row} | {closed_accuracy_interval([m for r in group if (m := r.closed_mean) is not None])} |"
             for row, group in _by_row(runs).items()]
    lines.append(f"| {CHANCE_LABEL} | {closed_chance_mean():.2f} |")
    return "Closed-VQA accuracy (Mean over types) across seeds:\n\n| row | accuracy |\n|---|---|\n" + "\n".join(lines) + "\n"


def _pooled(pairs: Sequence[tuple[float | None, int]]) -> tuple[float | None, int]:
    """Σ value·n / Σ n over the (value, n) pairs that have a value, and Σ n."""
    kept = [(value, n) for value, n in pairs if value is not None and n]
    total = sum(n for _, n in kept)
    return (sum(value * n for value, n in kept) / total if total else None), total


def _own_cell(run: RowRun, question_type: str) -> tuple[float | None, int]:
    accuracy = run.scores.results.get(CLOSED, {}).get(question_type, {}).get("accuracy")
    return accuracy, run.scores.counts.get(CLOSED, {}).get(question_type, 0)


def _swapped_cell(run: RowRun, question_type: str) -> tuple[float | None, int]:
    cell = None if run.controls is None else run.controls.tables.get(CLOSED, {}).get("swapped", {}).get(question_type)
    return (None, 0) if cell is None else (cell.value, cell.n)


def per_type_markdown(runs: Sequence[RowRun]) -> str:
    """Per question type, each row's seeds pooled: accuracy with the own volume / with a swapped volume.

    A last line gives the questions per type (all seeds) when every row has the same; otherwise each
    cell names its own.
    """
    rows = _by_row(runs)
    swapped = any(run.controls is not None for run in runs)
    types = [t for t in QUESTION_TYPES if any(_own_cell(run, t)[1] for run in runs)]
    if not types:
        return ""
    cells: dict[str, list[tuple[str, int]]] = {}
    for row, group in rows.items():
        cells[row] = []
        for question_type in types:
            own, n = _pooled([_own_cell(run, question_type) for run in group])
            text = "–" if own is None else f"{own:.1f}"
            if swapped:
                other, _ = _pooled([_swapped_cell(run, question_type) for run in group])
                text += " / " + ("–" if other is None else f"{other:.1f}")
            cells[row].append((text, n))
    counts = {tuple(n for _, n in row_cells) for row_cells in cells.values()}
    same_counts = len(counts) == 1
    body = [[row, *(text if same_counts else f"{text} (n {n})" for text, n in row_cells)] for row, row_cells in cells.items()]
    body.append([CHANCE_LABEL, *(f"{CLOSED_CHANCE[t]:.1f}" for t in types)])
    if same_counts:
        body.append(["questions", *(str(n) for n in counts.pop())])
    seeds = max(len(group) for group in rows.values())
    pooled = f"the {seeds} seeds pooled" if seeds > 1 else "one evaluation per row"
    what = "accuracy with the own volume / with a swapped volume" if swapped else "accuracy with the own volume"
    header = ["row (own volume / swapped volume)" if swapped else "row", *types]
    return f"Closed-VQA accuracy per question type, {pooled}: {what}.\n\n" + "\n".join(markdown_table(header, body)) + "\n"


def controls_markdown(rows: dict[str, ControlReport]) -> str:
    """Closed-VQA Mean accuracy per image condition, one line per evaluated checkpoint."""
    from slicevlm.metrics.controls import MEAN as CONTROL_MEAN
    from slicevlm.metrics.controls import Cell

    conditions = ("own", "swapped", "delta_swapped", "follows", "blank")
    header = ["row", "own volume", "swapped volume", "own − swapped", "follows swapped-in truth", "blank volume"]
    body = [[name, *(report.tables.get(CLOSED, {}).get(c, {}).get(CONTROL_MEAN, Cell(None)).text() for c in conditions)]
            for name, report in rows.items()]
    return ("\n\nImage-reliance controls, closed-VQA accuracy (Mean over types, 95% case-bootstrap intervals):\n\n"
            + "\n".join(markdown_table(header, body)) + "\n")


def across_seeds_markdown(runs: Sequence[RowRun]) -> str:
    """The Mean accuracy per row over seeds, the per-type table with the seeds pooled, the controls per seed."""
    controls = {run.label: run.controls for run in runs if run.controls is not None}
    per_type = per_type_markdown(runs)
    return (accuracy_intervals_markdown(runs) + ("\n" + per_type if per_type else "")
            + (controls_markdown(controls) if controls else ""))
