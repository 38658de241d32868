"""Paper-vs-ours markdown tables (paper Tables 2, 3, 4, 6, 8; docs/method.md#the-papers-numbers).

The paper's numbers are m3d-protocol numbers. A report under another protocol can be shown next
to them, but the table then says in its heading that the numbers are not comparable. A run that is
not comparable at all (the synthetic twin: tiny models on synthetic data) shows the paper's rows
for reference only and no difference to them.

Every table also shows the chance level (docs/method.md#chance-levels): the accuracy of answering
closed questions at random, "—" where no chance value is defined (text metrics, open questions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slicevlm.metrics.paper_tables import OURS, TABLE2, TABLE3, TABLE4, TABLE8, PaperTable, Row
from slicevlm.metrics.records import QUESTION_TYPES
from slicevlm.metrics.registry import paper_metric_keys
from slicevlm.metrics.report import MEAN, OVERALL, ScoreReport, format_value, markdown_table

TEXT_METRICS: tuple[str, ...] = ("BLEU", "ROUGE", "METEOR", "BERTScore")
#: Accuracy (×100) of a random choice per closed question type: Plane questions offer the three
#: planes (the fourth choice is "NA"), the other types four choices.
CLOSED_CHANCE: dict[str, float] = {"Plane": 100 / 3, "Phase": 25.0, "Organ": 25.0, "Abnormality": 25.0, "Location": 25.0}
#: Row label of the chance level.
CHANCE_LABEL = "chance (random choice)"
#: How a cell without a defined chance value reads.
NO_CHANCE = "—"


def closed_chance_mean() -> float:
    """Chance accuracy averaged over the question types, unweighted like the paper's Mean (26.67)."""
    return sum(CLOSED_CHANCE.values()) / len(CLOSED_CHANCE)


def chance_row(table: PaperTable) -> Row:
    """The chance level in ``table``'s columns: closed-VQA accuracy columns get one, others ``None``."""
    if table.number == TABLE4.number:
        return (*(CLOSED_CHANCE[t] for t in QUESTION_TYPES), closed_chance_mean())
    return tuple(closed_chance_mean() if column == "VQA Acc" else None for column in table.columns)


def render_comparison(
    table: PaperTable,
    ours: Mapping[str, Row],
    protocol: str,
    paper_rows: Sequence[str] | None = None,
    comparable: bool = True,
) -> str:
    """Markdown: the paper's rows, this run's rows, the chance level, then ours − paper where rows pair up.

    Args:
        table: The paper table.
        ours: Row label -> values in ``table.columns`` order (``None`` = not measured).
        protocol: Protocol of ``ours`` (named in the heading; non-m3d is flagged not comparable).
        paper_rows: Which paper rows to show (default: all).
        comparable: False for a run that measures something else than the paper (the synthetic
            twin): the paper's rows are labelled as a reference only and no difference is shown.

    Returns:
        A markdown section.
    """
    if comparable:
        heading = f"### Paper Table {table.number} ({table.title}): paper vs this run, {protocol} protocol"
        paper_label = "paper"
    else:
        heading = f"### This run in the layout of paper Table {table.number} ({table.title}), {protocol} protocol"
        paper_label = "paper, for reference only (not comparable)"
    lines = [heading, ""]
    if not comparable:
        lines += ["**Not comparable**: this run measures the synthetic task with tiny models, not the paper's; "
                  "the paper's rows are shown for orientation only and no difference is computed.", ""]
    elif protocol != "m3d":
        lines += [f"**Not comparable**: the paper uses the m3d protocol; this run was scored with {protocol}.", ""]
    names = list(table.rows) if paper_rows is None else list(paper_rows)
    rows = [[f"this run: {name}", *map(format_value, values)] for name, values in ours.items()]
    rows.append([CHANCE_LABEL, *(NO_CHANCE if c is None else f"{c:.2f}" for c in chance_row(table))])
    paper = [[f"{paper_label}: {name}", *map(format_value, table.rows[name])] for name in names]
    rows = paper + rows if comparable else rows + paper
    for name, values in ours.items() if comparable else ():
        if name in table.rows:
            delta = [None if a is None or b is None else a - b for a, b in zip(values, table.rows[name], strict=True)]
            rows.append([f"Δ this run − paper: {name}", *(("–" if d is None else f"{d:+.2f}") for d in delta)])
    lines += markdown_table(["", *table.columns], rows)
    lines += ["", *[f"Note: {note}" for note in table.notes]]
    return "\n".join(lines).rstrip() + "\n"


def _metric(report: ScoreReport, task: str, group: str, paper_metric: str) -> float | None:
    key = paper_metric_keys(report.protocol).get(paper_metric)  # None: the protocol has no such metric
    if key is None:
        return None
    return report.results.get(task, {}).get(group, {}).get(key)


def ours_table2(report: ScoreReport) -> Row:
    """This run's Table 2 row (report generation: BLEU, ROUGE, METEOR, BERTScore)."""
    return tuple(_metric(report, "caption", OVERALL, m) for m in TEXT_METRICS)


def ours_table3(report: ScoreReport) -> dict[str, Row]:
    """This run's Table 3 rows (open-ended VQA, one row per metric, by question type + Mean)."""
    groups = (*QUESTION_TYPES, MEAN)
    return {f"{OURS} {m}": tuple(_metric(report, "vqa_open", g, m) for g in groups) for m in TEXT_METRICS}


def ours_table4(report: ScoreReport) -> dict[str, Row]:
    """This run's Table 4 rows: peers' rule (comparable) and the strict variant."""
    groups = (*QUESTION_TYPES, MEAN)
    closed = report.results.get("vqa_closed", {})
    return {
        OURS: tuple(closed.get(g, {}).get("accuracy") for g in groups),
        f"{OURS} (strict rule)": tuple(closed.get(g, {}).get("accuracy_strict") for g in groups),
    }


def ours_table8(report: ScoreReport) -> Row:
    """This run as one Table 8 row: report metrics, open-VQA Means, closed-VQA Mean accuracy."""
    report_part = ours_table2(report)
    vqa_part = tuple(_metric(report, "vqa_open", MEAN, m) for m in TEXT_METRICS)
    accuracy = report.results.get("vqa_closed", {}).get(MEAN, {}).get("accuracy")
    return (*report_part, *vqa_part, accuracy)


def compare_with_paper(report: ScoreReport, ablation: str | None = None, comparable: bool = True) -> str:
    """Paper-vs-ours sections for every task the report has (Tables 2, 3, 4; 8 for an ablation).

    Args:
        report: Scores of this run.
        ablation: A Table 8 row name (e.g. ``"Uniform sampling"``) to compare this run against.
        comparable: False for a run that does not measure the paper's task (see :func:`render_comparison`).

    Returns:
        Markdown sections, empty when the report has none of the tasks.
    """
    sections = []
    if "caption" in report.results:
        sections.append(render_comparison(TABLE2, {OURS: ours_table2(report)}, report.protocol, comparable=comparable))
    if "vqa_open" in report.results:
        sections.append(render_comparison(TABLE3, ours_table3(report), report.protocol, comparable=comparable))
    if "vqa_closed" in report.results:
        sections.append(render_comparison(TABLE4, ours_table4(report), report.protocol, comparable=comparable))
    if ablation is not None:
        if ablation not in TABLE8.rows:
            raise ValueError(f"unknown Table 8 row {ablation!r}; expected one of {', '.join(TABLE8.rows)}")
        sections.append(render_comparison(TABLE8, {ablation: ours_table8(report)}, report.protocol,
                                          paper_rows=[next(iter(TABLE8.rows)), ablation], comparable=comparable))
    return "\n".join(sections)

