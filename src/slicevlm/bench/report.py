"""Benchmark figures: one row per ratio, a markdown table, and the JSON record."""

from __future__ import annotations

from dataclasses import asdict, dataclass
import operator


@dataclass
class Figure:
    """One measured figure.

    Attributes:
        suite: which suite measured it (latency, decode, vision, eval, train).
        name: what is compared, e.g. "fast / floor".
        value: the measured number (a ratio, or a rate where the target is absolute).
        unit: "×", "volumes/s", "min", ...
        detail: the raw timings behind the number, human-readable.
        target: the speed goal as (comparison, bound), e.g. ("<=", 1.25); None when informative only.
    """

    suite: str
    name: str
    value: float
    unit: str
    detail: str
    target: tuple[str, float] | None = None

    def meets(self, applies: bool) -> bool | None:
        """Whether the target is met; None without a target or when targets do not apply (tiny/CPU runs)."""
        if self.target is None or not applies:
            return None
        compare = {"<=": operator.le, ">=": operator.ge}[self.target[0]]
        return bool(compare(self.value, self.target[1]))

    def as_dict(self, applies: bool) -> dict:
        return {**asdict(self), "meets_target": self.meets(applies)}


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"


def markdown_table(figures: list[Figure], applies: bool) -> str:
    """The figures as a markdown table; "meets" is filled only where the targets apply (full size on a GPU)."""
    lines = ["| suite | figure | measured | target | meets | from |", "|---|---|---|---|---|---|"]
    for figure in figures:
        target = f"{figure.target[0]} {_number(figure.target[1])}" if figure.target else "–"
        meets = {True: "yes", False: "**no**", None: "–"}[figure.meets(applies)]
        lines.append(f"| {figure.suite} | {figure.name} | {_number(figure.value)} {figure.unit} | {target} | {meets} | {figure.detail} |")
    return "\n".join(lines)
