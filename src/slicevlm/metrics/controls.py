"""Image-reliance controls scored: does an answer change when the question is asked of another volume?

Input: prediction records of one run in which every question was asked of its own volume
(``condition == "own"``) and also of another case's volume (``"swapped"``) and/or an all-zero
volume (``"blank"``); control rows point at their own row (``control.of``). Output: a
:class:`ControlReport` with tables laid out as the paper's (Tables 2–4), under the m3d per-sample
scores:

- Closed-ended VQA, per question type and Mean: accuracy (peers' rule) with the own, swapped and
  blank volume; own − swapped and own − blank; an exact McNemar test of each pair; how often the
  two truths agree; and the share of swapped answers that *follow* the swapped-in volume's truth.
- Open-ended VQA, per question type and Mean: each text metric with the own volume, with the
  swapped volume (against the question's own answer, and against the swapped-in volume's answer)
  and with the blank volume; agreement and follow shares.
- Reports: each text metric with the own volume, the swapped volume against the own and the
  swapped-in report, the own volume against the swapped-in report (how alike two cases' reports
  are for this model anyway), and the blank volume.

"Follows" (:func:`follows_closed`, :func:`follows_open`) counts only pairs whose two truths
differ: the swapped answer names the swapped-in volume's truth and not the question's own.
Intervals are percentile bootstrap intervals resampling cases (:func:`~slicevlm.metrics.grounding.bootstrap_ci`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from slicevlm.metrics.accuracy import closed_correct
from slicevlm.metrics.bertscore import BertScoreSpec, bertscore_f1
from slicevlm.metrics.grounding import (
    BOOTSTRAP_SEED, CI_LEVEL, N_RESAMPLES, bootstrap_ci, discordant_counts, grouped_mean, mcnemar_exact,
)
from slicevlm.metrics.m3d import fill_sample_scores, score_sample
from slicevlm.metrics.records import QUESTION_TYPES, ControlTruth, PredictionRecord
from slicevlm.metrics.registry import metric_label, metrics_for
from slicevlm.metrics.report import format_value, markdown_table

MEAN = "Mean"
TASK_TITLES: dict[str, str] = {
    "vqa_closed": "Closed-ended VQA (paper Table 4 layout): accuracy, peers' rule",
    "vqa_open": "Open-ended VQA (paper Table 3 layout)",
    "caption": "Report generation (paper Table 2 layout)",
}
FOLLOWS_RULE = (
    "A swapped answer follows the swapped-in volume when it names that volume's truth for the same "
    "question and not the question's own truth. Closed: the swapped-in volume's answer text is one of "
    "this question's choices, with letter L; the answer contains 'L.' and not the own key's 'K.' (the "
    "peers' rule). Open: the swapped-in answer text occurs in the answer (case-insensitive, whole words) "
    "and the own answer text does not. Only pairs whose two truths differ count (n in brackets)."
)
READING = (
    "Each question was also asked of another case's volume (swapped: a fixed-seed derangement of the "
    "cases, never the question's own case) and/or of an all-zero volume (blank). A model that reads the "
    "image answers each volume by its content: with a swapped volume its accuracy on the question's own "
    "truth falls to about the rate at which the two truths agree, and its follow share rises toward its "
    "own-volume accuracy. A model that ignores the image answers the same whatever the volume: own − "
    "swapped near 0 with McNemar p near 1, and it follows the swapped-in truth only by chance (about one "
    "in the number of choices)."
)


@dataclass
class Cell:
    """One table cell.

    Attributes:
        value: The statistic (×100 for accuracies, shares and text metrics; a p-value as is).
        low: Lower end of the bootstrap interval, or None.
        high: Upper end, or None.
        n: Questions (or pairs) it is computed on.
        detail: Extra text, e.g. the discordant counts of a McNemar test.
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    detail: str = ""

    def text(self, percent: bool = True) -> str:
        """The cell as markdown: ``value [low, high]``, a p-value, or an en dash."""
        if self.value is None:
            return "–"
        if not percent:
            return f"{self.value:.3g}" + (f" ({self.detail})" if self.detail else "")
        interval = "" if self.low is None or self.high is None else f" [{self.low:.1f}, {self.high:.1f}]"
        return f"{format_value(self.value)}{interval}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class ControlReport:
    """The image-reliance control tables of one run.

    Attributes:
        conditions: The controls present (``"swapped"``, ``"blank"``).
        tables: ``task -> row -> column -> Cell``; columns are question types + Mean (VQA) or
            metrics (reports).
        bootstrap: How the intervals were computed.
        notes: Caveats printed under the tables.
    """

    conditions: list[str]
    tables: dict[str, dict[str, dict[str, Cell]]] = field(default_factory=dict)
    bootstrap: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {**asdict(self), "follows_rule": FOLLOWS_RULE}

    def to_markdown(self) -> str:
        """A markdown section: how to read it, then one table per task."""
        b = self.bootstrap
        lines = [
            "## Image-reliance controls", "", READING, "",
            "Values: the m3d protocol's per-sample scores (accuracy by the peers' rule), ×100. "
            f"Intervals: {100 * b['level']:.0f}% percentile bootstrap, {b['n_resamples']} resamples of {b['unit']} "
            f"(seed {b['seed']}). McNemar: two-sided exact binomial test on the discordant pairs (own-only right / "
            "control-only right); its Mean column pools all question types. Mean columns of values: unweighted "
            "mean over the question types present.", "",
        ]
        for task, rows in self.tables.items():
            own = rows["own"] if "own" in rows else next(iter(rows.values()))
            total = max((cell.n for cell in own.values()), default=0)
            lines += [f"### {TASK_TITLES[task]}, n = {total} questions", ""]
            columns = list(own)
            body = [[_row_label(row)] + [cells.get(c, Cell(None)).text(percent=not row.startswith("mcnemar"))
                                         for c in columns] for row, cells in rows.items()]
            lines += markdown_table(["", *[metric_label(c) for c in columns]], body)
            lines.append("")
        lines += [f"Follows: {FOLLOWS_RULE}", ""]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


def _row_label(row: str) -> str:
    parts = row.split("/")
    labels = {
        "own": "own volume", "swapped": "swapped volume", "blank": "blank volume",
        "swapped_vs_swapped_ref": "swapped volume vs swapped-in truth",
        "own_vs_swapped_ref": "own volume vs swapped-in truth",
        "delta_swapped": "own − swapped", "delta_blank": "own − blank",
        "mcnemar_swapped": "McNemar p, own vs swapped", "mcnemar_blank": "McNemar p, own vs blank",
        "agree": "truths agree (own = swapped-in)", "follows": "follows swapped-in truth",
    }
    if len(parts) == 2:
        return f"{metric_label(parts[0])}, {labels[parts[1]]}"
    return labels[row][0].upper() + labels[row][1:]


# -- the follow rules --------------------------------------------------------------------------
def _normal(text: str) -> str:
    return " ".join(text.casefold().split()).strip(" .,;:!?")


def mentions(prediction: str, answer: str) -> bool:
    """Whether ``answer`` occurs in ``prediction`` as whole words, ignoring case and outer punctuation."""
    wanted = _normal(answer)
    return bool(wanted) and re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", _normal(prediction)) is not None


def follows_closed(prediction: str, own_choice: str, swapped_choice: str) -> bool | None:
    """Closed VQA: does the answer pick the swapped-in truth's letter and not the own key? None: not informative."""
    if not swapped_choice or swapped_choice == own_choice:
        return None
    return closed_correct(prediction, swapped_choice) and not closed_correct(prediction, own_choice)


def truths_agree_open(own_answer: str, swapped_answer: str) -> bool:
    """Open VQA: whether the two truths are the same text (case, spaces and outer punctuation ignored)."""
    return _normal(own_answer) == _normal(swapped_answer)


def follows_open(prediction: str, own_answer: str, swapped_answer: str | None) -> bool | None:
    """Open VQA: does the answer name the swapped-in answer and not the own one? None: not informative."""
    if swapped_answer is None or truths_agree_open(own_answer, swapped_answer):
        return None
    return mentions(prediction, swapped_answer) and not mentions(prediction, own_answer)


# -- assembling the tables ---------------------------------------------------------------------
@dataclass
class _Pair:
    """An own row, one of its control rows, and (swapped) scores against the swapped-in truth."""

    own: PredictionRecord
    control: PredictionRecord
    swapped_ref: dict[str, float] | None = None  # control answer vs swapped-in truth
    own_swapped_ref: dict[str, float] | None = None  # own answer vs swapped-in truth

    @property
    def truth(self) -> ControlTruth:
        assert self.control.control is not None
        return self.control.control

    @property
    def question_type(self) -> str:
        return self.own.question_type

    @property
    def cluster(self) -> str:
        return self.own.case or self.own.id


def _type(item: PredictionRecord | _Pair) -> str:
    return item.question_type


def _cluster(item: PredictionRecord | _Pair) -> str:
    return item.cluster if isinstance(item, _Pair) else (item.case or item.id)


class _Stats:
    """Cells from per-question values, with the run's bootstrap settings."""

    def __init__(self, n_resamples: int, level: float, seed: int) -> None:
        self.settings = {"n_resamples": n_resamples, "level": level, "seed": seed}

    def cell(self, items: Sequence[Any], value_of: Callable[[Any], float | None], by_type: bool = False) -> Cell:
        """Mean (×100) of ``value_of`` over the items where it is not None, with its interval."""
        kept = [(v, _cluster(i), _type(i)) for i in items if (v := value_of(i)) is not None]
        if not kept:
            return Cell(None)
        values, clusters, groups = [float(k[0]) for k in kept], [k[1] for k in kept], [k[2] for k in kept]
        groups_or_none = groups if by_type else None
        low, high = bootstrap_ci(values, clusters, groups_or_none, **self.settings)
        return Cell(100 * grouped_mean(values, groups_or_none), 100 * low, 100 * high, len(values))

    def by_type(self, items: Sequence[Any], value_of: Callable[[Any], float | None]) -> dict[str, Cell]:
        """One VQA table row: per question type present, then the Mean over types."""
        types = [t for t in QUESTION_TYPES if any(_type(i) == t for i in items)]
        cells = {t: self.cell([i for i in items if _type(i) == t], value_of) for t in types}
        return {**cells, MEAN: self.cell(items, value_of, by_type=True)}


def _mcnemar(pairs: Sequence[_Pair], columns: Sequence[str]) -> dict[str, Cell]:
    cells = {}
    for column in columns:
        group = [p for p in pairs if column == MEAN or p.question_type == column]
        b, c = discordant_counts([p.own.scores["correct"] > 0 for p in group],
                                 [p.control.scores["correct"] > 0 for p in group])
        cells[column] = Cell(mcnemar_exact(b, c) if group else None, n=len(group), detail=f"{b}/{c}")
    return cells


def _maybe(flag: bool | None) -> float | None:
    return None if flag is None else float(flag)


def _closed_table(stats: _Stats, own: list[PredictionRecord], pairs: dict[str, list[_Pair]]) -> dict[str, dict[str, Cell]]:
    rows = {"own": stats.by_type(own, lambda r: r.scores["correct"])}
    for condition, items in pairs.items():
        rows[condition] = stats.by_type(items, lambda p: p.control.scores["correct"])
        rows[f"delta_{condition}"] = stats.by_type(items, lambda p: p.own.scores["correct"] - p.control.scores["correct"])
        rows[f"mcnemar_{condition}"] = _mcnemar(items, list(rows["own"]))
        if condition == "swapped":
            rows["agree"] = stats.by_type(items, lambda p: None if p.truth.reference is None
                                          else float(p.truth.answer_choice == p.own.answer_choice))
            rows["follows"] = _with_n(stats.by_type(items, lambda p: _maybe(
                follows_closed(p.control.prediction, p.own.answer_choice, p.truth.answer_choice))))
    return rows


def _with_n(cells: dict[str, Cell]) -> dict[str, Cell]:
    """Show each cell's n (follow shares count only the informative pairs)."""
    for cell in cells.values():
        cell.detail = f"n {cell.n}"
    return cells


def _score_swapped_refs(pairs: list[_Pair], bertscore: BertScoreSpec | None, own_too: bool) -> None:
    """Score swapped answers (and, when asked, own answers) against the swapped-in truth."""
    jobs: list[tuple[str, _Pair, PredictionRecord]] = []
    for pair in pairs:
        if pair.truth.reference is not None:
            jobs += [("swapped_ref", pair, pair.control)] + ([("own_swapped_ref", pair, pair.own)] if own_too else [])
    for name, pair, record in jobs:
        setattr(pair, name, score_sample(replace(record, reference=pair.truth.reference, scores={})))
    if bertscore is not None and jobs:
        f1 = bertscore_f1([r.prediction for _, _, r in jobs], [p.truth.reference or "" for _, p, _ in jobs], bertscore)
        for (name, pair, _), value in zip(jobs, f1, strict=True):
            getattr(pair, name)["bertscore"] = value


def _text_sources(own: list[PredictionRecord], pairs: dict[str, list[_Pair]], reports: bool) -> dict[str, tuple[list, Callable]]:
    """Row name -> (items, metric getter) of a text table."""
    sources: dict[str, tuple[list, Callable]] = {"own": (own, lambda r, m: r.scores.get(m))}
    for condition, items in pairs.items():
        sources[condition] = (items, lambda p, m: p.control.scores.get(m))
        if condition == "swapped":
            sources["swapped_vs_swapped_ref"] = (items, lambda p, m: (p.swapped_ref or {}).get(m))
            if reports:
                sources["own_vs_swapped_ref"] = (items, lambda p, m: (p.own_swapped_ref or {}).get(m))
    return sources


def _report_table(stats: _Stats, own: list[PredictionRecord], pairs: dict[str, list[_Pair]],
                  metrics: Sequence[str]) -> dict[str, dict[str, Cell]]:
    return {name: {m: stats.cell(items, lambda x, g=get, m=m: g(x, m)) for m in metrics}
            for name, (items, get) in _text_sources(own, pairs, reports=True).items()}


def _open_table(stats: _Stats, own: list[PredictionRecord], pairs: dict[str, list[_Pair]],
                metrics: Sequence[str]) -> dict[str, dict[str, Cell]]:
    rows = {f"{m}/{name}": stats.by_type(items, lambda x, g=get, m=m: g(x, m))
            for m in metrics for name, (items, get) in _text_sources(own, pairs, reports=False).items()}
    if "swapped" in pairs:
        items = pairs["swapped"]
        rows["agree"] = stats.by_type(items, lambda p: None if p.truth.reference is None
                                      else float(truths_agree_open(p.own.reference or "", p.truth.reference)))
        rows["follows"] = _with_n(stats.by_type(items, lambda p: _maybe(
            follows_open(p.control.prediction, p.own.reference or "", p.truth.reference))))
    return rows


def control_report(
    records: Sequence[PredictionRecord],
    bertscore: BertScoreSpec | None = None,
    n_resamples: int = N_RESAMPLES,
    level: float = CI_LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> ControlReport | None:
    """Score a run's control rows against their own rows (m3d per-sample scores).

    Args:
        records: All rows of a predictions file (own and control rows); missing per-sample scores
            are computed, stored ones reused.
        bertscore: BERTScore model for the text tables, or None to leave BERTScore out.
        n_resamples: Bootstrap resamples per interval.
        level: Interval coverage.
        seed: Bootstrap seed.

    Returns:
        The report, or None when the records hold no control row whose own row has a reference.
    """
    own_by_id = {r.id: r for r in records if r.condition == "own" and r.scorable}
    controls = [r for r in records if r.control is not None and r.control.of in own_by_id]
    if not controls:
        return None
    fill_sample_scores([*own_by_id.values(), *controls], bertscore, overwrite=False)
    conditions = [c for c in ("swapped", "blank") if any(r.condition == c for r in controls)]
    stats = _Stats(n_resamples, level, seed)
    report = ControlReport(conditions, bootstrap={"unit": "cases", "method": "percentile", **stats.settings})
    metrics = [m.name for m in metrics_for("m3d", "vqa_open") if m.name != "bertscore" or bertscore is not None]
    for task in ("caption", "vqa_open", "vqa_closed"):
        pairs = {c: [_Pair(own_by_id[r.control.of], r) for r in controls  # type: ignore[union-attr]
                     if r.task == task and r.condition == c] for c in conditions}
        pairs = {c: items for c, items in pairs.items() if items}
        if not pairs:
            continue
        asked = {p.own.id for items in pairs.values() for p in items}
        own = [r for r in own_by_id.values() if r.id in asked]
        if task == "vqa_closed":
            report.tables[task] = _closed_table(stats, own, pairs)
            continue
        if "swapped" in pairs:
            _score_swapped_refs(pairs["swapped"], bertscore if "bertscore" in metrics else None, own_too=task == "caption")
        table = _report_table if task == "caption" else _open_table
        report.tables[task] = table(stats, own, pairs, metrics)
    unknown = sum(1 for r in controls if r.condition == "swapped" and r.control.reference is None)  # type: ignore[union-attr]
    if unknown:
        report.notes.append(f"{unknown} swapped rows have no truth of the same question type for the swapped-in "
                            "volume: they count in the accuracies, not in the agreement or follow shares.")
    if bertscore is not None and not bertscore.comparable:
        report.notes.append(f"BERTScore uses {bertscore.model}: not comparable with roberta-large numbers.")
    return report
