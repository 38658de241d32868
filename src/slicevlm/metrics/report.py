"""The result of scoring a predictions set under one protocol, and its markdown / JSON forms.

Layout (paper Tables 2–4): ``results[task][group][metric]``, values ×100, where ``group``
is ``"Overall"`` (all samples of the task pooled) and, for VQA, each question type present plus
``"Mean"`` (unweighted mean over the question types present, as the paper's Mean column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from slicevlm.metrics.records import QUESTION_TYPES
from slicevlm.metrics.registry import metric_label

OVERALL = "Overall"
MEAN = "Mean"

TASK_TITLES: dict[str, str] = {
    "caption": "Report generation (caption; paper Table 2)",
    "vqa_open": "Open-ended VQA (vqa_open; paper Table 3)",
    "vqa_closed": "Closed-ended VQA (vqa_closed; paper Table 4)",
}


@dataclass
class ScoreReport:
    """Scores of one predictions set under one protocol.

    Attributes:
        protocol: ``"m3d"`` or ``"coco"``.
        description: What every metric is exactly (variant, tokenisation, averaging).
        results: ``task -> group -> metric -> value`` (×100).
        counts: ``task -> group -> number of samples``.
        bertscore: The BERTScore model description, or ``None`` when it was off / not part of the
            protocol.
        notes: Caveats printed under the tables.
        implementations: ``metric -> what computed it`` (code and package versions), printed
            beside the tables.
    """

    protocol: str
    description: str
    results: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    bertscore: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    implementations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    def flat(self, prefix: str = "") -> dict[str, float]:
        """``{prefix}{task}/{group}/{metric}`` -> value, for loggers."""
        return {
            f"{prefix}{task}/{group}/{metric}": value
            for task, groups in self.results.items()
            for group, metrics in groups.items()
            for metric, value in metrics.items()
        }

    def to_markdown(self) -> str:
        """Markdown tables per task, headed by the protocol and its exact metric definitions."""
        lines = [f"## Scores: {self.protocol} protocol", "", self.description, ""]
        if self.protocol == "coco":
            lines += ["BERTScore: not part of the coco protocol.", ""]
        elif self.bertscore is None:
            lines += ["BERTScore: off.", ""]
        else:
            label = f"BERTScore: {self.bertscore['model']} layer {self.bertscore['num_layers']} (F1)"
            if not self.bertscore.get("comparable", False):
                label += "; not comparable with roberta-large numbers"
            lines += [label + ".", ""]
        for task, groups in self.results.items():
            total = self.counts.get(task, {}).get(OVERALL, 0)
            lines += [f"### {TASK_TITLES.get(task, task)}, n = {total}", ""]
            if task == "caption":
                lines += _single_row_table(groups[OVERALL], self.protocol)
            else:
                lines += _question_type_table(groups, self.counts.get(task, {}), self.protocol)
            lines.append("")
        lines += _implementation_lines(self.implementations, self.protocol)
        if self.notes:
            lines += ["Notes:", *[f"- {note}" for note in self.notes], ""]
        return "\n".join(lines)


def format_value(value: float | None) -> str:
    """Two decimals, or an en dash for a missing value."""
    return "–" if value is None else f"{value:.2f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub markdown table as lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _single_row_table(metrics: dict[str, float], protocol: str) -> list[str]:
    names = list(metrics)
    return markdown_table([metric_label(n, protocol) for n in names],
                          [[format_value(metrics[n]) for n in names]])


def _question_type_table(groups: dict[str, dict[str, float]], counts: dict[str, int], protocol: str) -> list[str]:
    columns = [*QUESTION_TYPES, MEAN, OVERALL]
    metric_names = list(groups[OVERALL])
    rows = [
        [metric_label(metric, protocol)]
        + [format_value(groups.get(column, {}).get(metric)) for column in columns]
        for metric in metric_names
    ]
    rows.append(["n"] + [str(counts.get(column, 0)) if column != MEAN else "" for column in columns])
    return markdown_table(["Metric", *columns], rows)


def _implementation_lines(implementations: dict[str, str], protocol: str) -> list[str]:
    """A "Metric | Implementation" table; metrics computed by the same code share a row."""
    if not implementations:
        return []
    rows: dict[str, list[str]] = {}
    for metric, text in implementations.items():
        rows.setdefault(text, []).append(metric_label(metric, protocol))
    table = markdown_table(["Metric", "Implementation"], [[", ".join(n), t] for t, n in rows.items()])
    return ["Implementations (installed versions):", "", *table, ""]


def group_keys(question_type: str) -> tuple[str, ...]:
    """The groups a sample counts in: its question type (if any) and Overall."""
    return (question_type, OVERALL) if question_type else (OVERALL,)


def add_type_mean(groups: dict[str, dict[str, float]], notes: list[str], task: str) -> None:
    """Add the paper's Mean column: unweighted mean over the question types present."""
    present = [t for t in QUESTION_TYPES if t in groups]
    if not present:
        return
    groups[MEAN] = {
        metric: sum(groups[t][metric] for t in present) / len(present) for metric in groups[present[0]]
    }
    missing = [t for t in QUESTION_TYPES if t not in groups]
    if missing:
        notes.append(f"{task}: Mean is over {', '.join(present)} only (no {', '.join(missing)} samples).")
