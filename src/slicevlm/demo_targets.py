"""`slicevlm demo-targets`: did a demo's evaluation read the images? Checked against fixed targets.

Reads the predictions file an evaluation with the swapped-volume control wrote (`make demo-small`
writes `runs/demo_small/eval/predictions.jsonl`) and prints, per closed question type, the accuracy
on the question's own volume and on another case's volume (swapped), with 95% Wilson intervals, and
a few generated reports beside their references. The targets: the question types named by
`--must-read` (Plane and Phase: what the synthetic volumes show in every slice) reach
`--min-accuracy` on their own volume and stay `--min-gap` points above the swapped volume. The
command exits 1 when a target is missed, so a make target that ends with it fails honestly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from slicevlm.errors import ConfigError
from slicevlm.metrics.records import PredictionRecord, read_predictions

#: z of a two-sided 95% interval.
Z_95 = 1.959964


@dataclass(frozen=True)
class Accuracy:
    """Correct answers out of `n`, as a percentage with its 95% Wilson interval."""

    correct: int
    n: int

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.n if self.n else float("nan")

    def interval(self) -> tuple[float, float]:
        """Wilson score interval (×100): well-behaved at 0% and 100%, unlike the normal approximation."""
        if self.n == 0:
            return float("nan"), float("nan")
        p, n = self.correct / self.n, self.n
        centre = (p + Z_95**2 / (2 * n)) / (1 + Z_95**2 / n)
        half = Z_95 * math.sqrt(p * (1 - p) / n + Z_95**2 / (4 * n * n)) / (1 + Z_95**2 / n)
        return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)

    def __str__(self) -> str:
        low, high = self.interval()
        return f"{self.percent:5.1f} [{low:4.1f}, {high:5.1f}] (n {self.n})"


def _accuracy(rows: list[PredictionRecord]) -> Accuracy:
    return Accuracy(sum(int(row.scores.get("correct", 0.0) >= 0.5) for row in rows), len(rows))


def _chance(rows: list[PredictionRecord]) -> float:
    """Percent a blind guess among the real choices gets (an `NA` choice is never the answer)."""
    counts = []
    for row in rows:
        choices = row.question.split(" Choices: ", 1)[-1]
        counts.append(4 - choices.count(". NA"))
    return 100.0 * sum(1 / count for count in counts) / len(counts)


def closed_accuracies(records: list[PredictionRecord]) -> dict[str, tuple[Accuracy, Accuracy, float]]:
    """Question type -> (own-volume accuracy, swapped-volume accuracy, chance %), closed questions only."""
    closed = [row for row in records if row.task == "vqa_closed" and row.scorable]
    table = {}
    for kind in dict.fromkeys(row.question_type for row in closed):
        own = [row for row in closed if row.question_type == kind and row.condition == "own"]
        swapped = [row for row in closed if row.question_type == kind and row.condition == "swapped"]
        if own:
            table[kind] = (_accuracy(own), _accuracy(swapped), _chance(own))
    return table


def check_targets(
    predictions: Path,
    must_read: list[str] = ["Plane", "Phase"],  # noqa: B006 (read only)
    min_accuracy: float = 90.0,
    min_gap: float = 30.0,
    reports: int = 3,
) -> int:
    """Print closed-question accuracy with and without the question's own volume, and reports; 1 when a target is missed.

    Args:
        predictions: a predictions JSONL written with `image_controls: [swapped]` (and scores).
        must_read: closed question types that must reach the targets.
        min_accuracy: percent correct on the question's own volume, at least.
        min_gap: percentage points own minus swapped, at least.
        reports: generated reports to print beside their references.
    """
    if not predictions.is_file():
        raise ConfigError(f"{predictions}: no predictions file there; run the evaluation first (e.g. `make demo-small`).")
    records = read_predictions(predictions)
    table = closed_accuracies(records)
    if not any(swapped.n for _, swapped, _ in table.values()):
        raise ConfigError(f"{predictions}: no swapped-volume rows of closed questions; evaluate with `data.image_controls: [swapped]`.")
    print(f"Closed questions, {predictions}: accuracy % [95% Wilson interval] on the own and on a swapped volume")
    print(f"  {'type':<12} {'own volume':<26} {'swapped volume':<26} {'own - swapped':>13} {'chance':>7}")
    missed = []
    for kind, (own, swapped, chance) in table.items():
        gap = own.percent - swapped.percent
        verdict = ""
        if kind in must_read:
            ok = own.percent >= min_accuracy and gap >= min_gap
            verdict = "  target met" if ok else f"  TARGET MISSED (>= {min_accuracy:g} own, >= {min_gap:g} above swapped)"
            if not ok:
                missed.append(kind)
        print(f"  {kind:<12} {own!s:<26} {swapped!s:<26} {gap:>+13.1f} {chance:>7.1f}{verdict}")
    for kind in must_read:
        if kind not in table:
            print(f"  {kind:<12} no closed question of this type in the file  TARGET MISSED")
            missed.append(kind)
    captions = [row for row in records if row.task == "caption" and row.condition == "own" and row.scorable]
    if reports and captions:
        print(f"\nGenerated reports beside their references ({min(reports, len(captions))} of {len(captions)}):")
        for row in captions[:reports]:
            print(f"- volume:    {row.id.split(':', 2)[-1]}\n  generated: {row.prediction}\n  reference: {row.reference}")
    if missed:
        print(f"\nTargets missed: {', '.join(missed)}.")
        return 1
    print(f"\nTargets met: {', '.join(must_read)} >= {min_accuracy:g}% on the own volume and >= {min_gap:g} points above the swapped one.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`slicevlm demo-targets PREDICTIONS [--must-read ...] [--min-accuracy 90] [--min-gap 30] [--reports 3]`."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="slicevlm demo-targets", description=__doc__.splitlines()[0])
    parser.add_function_arguments(check_targets, as_positional=True)
    args = parser.parse_args(argv)
    return check_targets(**vars(args))
