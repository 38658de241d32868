"""The end-of-run summary of a predictions file: metrics per protocol, settings and counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from slicevlm.metrics.bertscore import BertScoreSpec
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
) -> tuple[dict[str, Any], dict[str, ScoreReport]]:
    """Score the records under each protocol and gather everything a reader needs.

    Args:
        records: All rows of the predictions file (stored per-sample m3d scores are reused).
        protocols: Protocols to report.
        bertscore: BERTScore model for the m3d protocol, or ``None``.
        generation: What decoding used (``pl_module.generation_settings()``).
        counts: Extra counts (e.g. rows written this run, rows resumed).
        predictions_path: The JSONL the rows came from.

    Returns:
        The JSON-friendly summary and the reports by protocol.
    """
    scorable = [r for r in records if r.scorable]
    reports = {
        protocol: evaluate(scorable, protocol, bertscore, reuse_scores=True)
        for protocol in protocols
    } if scorable else {}
    summary = {
        "predictions": predictions_path,
        "counts": {
            "rows": len(records),
            "scored": len(scorable),
            "without_reference": len(records) - len(scorable),
            "by_task": dict(Counter(r.task for r in records)),
            **dict(counts),
        },
        "generation": dict(generation),
        "protocols": {protocol: report.to_dict() for protocol, report in reports.items()},
    }
    return summary, reports


def summary_markdown(summary: Mapping[str, Any], reports: Mapping[str, ScoreReport], compare: bool = False) -> str:
    """Markdown version of :func:`build_summary`'s output.

    Args:
        summary: The summary dict.
        reports: Reports by protocol.
        compare: Append paper-vs-ours tables for each report.

    Returns:
        The markdown document.
    """
    counts = summary["counts"]
    lines = [f"# Predictions: {summary['predictions']}", ""]
    lines += markdown_table(["count", "value"], [[k, str(v)] for k, v in counts.items() if k != "by_task"])
    lines += ["", "Rows by task: " + ", ".join(f"{k} {v}" for k, v in counts.get("by_task", {}).items()), ""]
    if summary.get("generation"):
        lines += ["Generation settings:", ""]
        lines += markdown_table(["setting", "value"], [[k, str(v)] for k, v in summary["generation"].items()])
        lines.append("")
    if not reports:
        lines += ["No rows with a reference: nothing was scored.", ""]
    for report in reports.values():
        lines += [report.to_markdown(), ""]
        if compare:
            from slicevlm.metrics.compare import compare_with_paper

            lines += [compare_with_paper(report), ""]
    return "\n".join(lines)
