"""The end-of-run summary of a predictions file: metrics per protocol, settings and counts.

The protocols score the rows asked of their own volume; image-reliance control rows (another
case's volume, a blank volume) are scored beside them in their own section.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from slicevlm.metrics.bertscore import BertScoreSpec
from slicevlm.metrics.controls import ControlReport, control_report
from slicevlm.metrics.evaluate import evaluate
from slicevlm.metrics.records import PredictionRecord
from slicevlm.metrics.report import ScoreReport, markdown_table


def build_summary(
    records: Sequence[PredictionRecord],
    protocols: Sequence[str],
    bertscore: BertScoreSpec | None,
    generation: Mapping[str, Any],
    counts: Mapping[str, int],
    predictions_path: str,
) -> tuple[dict[str, Any], dict[str, ScoreReport | ControlReport]]:
    """Score the records under each protocol and gather everything a reader needs.

    Args:
        records: All rows of the predictions file (stored per-sample m3d scores are reused).
        protocols: Protocols to report.
        bertscore: BERTScore model for the m3d protocol, or ``None``.
        generation: What decoding used (``pl_module.generation_settings()``).
        counts: Extra counts (e.g. rows written this run, rows resumed).
        predictions_path: The JSONL the rows came from.

    Returns:
        The JSON-friendly summary and the reports by protocol; with control rows, the summary's
        ``"controls"`` holds their tables and ``reports["controls"]`` the :class:`ControlReport`.
    """
    scorable = [r for r in records if r.scorable and r.condition == "own"]
    reports: dict[str, ScoreReport | ControlReport] = {
        protocol: evaluate(scorable, protocol, bertscore, reuse_scores=True)
        for protocol in protocols
    } if scorable else {}
    summary = {
        "predictions": predictions_path,
        "counts": {
            "rows": len(records),
            "scored": len(scorable),
            "without_reference": sum(1 for r in records if not r.scorable and r.condition == "own"),
            "by_task": dict(Counter(r.task for r in records)),
            **({"by_condition": dict(Counter(r.condition for r in records))} if any(r.control for r in records) else {}),
            **dict(counts),
        },
        "generation": dict(generation),
        "protocols": {protocol: report.to_dict() for protocol, report in reports.items()},
    }
    controls = control_report(records, bertscore)
    if controls is not None:
        summary["controls"] = controls.to_dict()
        reports = {**reports, "controls": controls}
    return summary, reports


def summary_markdown(
    summary: Mapping[str, Any],
    reports: Mapping[str, ScoreReport | ControlReport],
    compare: bool = False,
    comparable: bool = True,
) -> str:
    """Markdown version of :func:`build_summary`'s output.

    Args:
        summary: The summary dict.
        reports: Reports by protocol, and the control report under ``"controls"``.
        compare: Append paper-vs-ours tables for each report.
        comparable: False when the run does not measure the paper's task (the synthetic twin): the
            paper's rows are then a labelled reference, with no difference to them.

    Returns:
        The markdown document.
    """
    counts = summary["counts"]
    lines = [f"# Predictions: {summary['predictions']}", ""]
    lines += markdown_table(["count", "value"], [[k, str(v)] for k, v in counts.items() if not k.startswith("by_")])
    lines += ["", "Rows by task: " + ", ".join(f"{k} {v}" for k, v in counts.get("by_task", {}).items()), ""]
    if "by_condition" in counts:
        lines += ["Rows by volume: " + ", ".join(f"{k} {v}" for k, v in counts["by_condition"].items()), ""]
    if summary.get("generation"):
        lines += ["Generation settings:", ""]
        lines += markdown_table(["setting", "value"], [[k, str(v)] for k, v in summary["generation"].items()])
        lines.append("")
    if not any(isinstance(report, ScoreReport) for report in reports.values()):
        lines += ["No rows with a reference: nothing was scored.", ""]
    for report in reports.values():
        lines += [report.to_markdown(), ""]
        if compare and isinstance(report, ScoreReport):
            from slicevlm.metrics.compare import compare_with_paper

            lines += [compare_with_paper(report, comparable=comparable), ""]
    return "\n".join(lines)
