"""What every table of `slicevlm reproduce` provides (:class:`PaperTable`), so the command runs any of them alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slicevlm.metrics.across_seeds import RowRun

#: name -> where the row comes from: an overlay on the demo configs (synthetic twin; None = the demo
#: as it is) or a checkpoint folder (real data).
Rows = dict[str, "Path | None"]


@dataclass(frozen=True)
class PaperTable:
    """One table: which tasks it evaluates, its rows, and how their results become the printed text.

    Attributes:
        name: the command's table name (``table4``).
        tasks: the test tasks every row is evaluated on.
        synthetic_rows: the rows of the synthetic twin, from the command's options.
        real_rows: the rows on real data (checkpoint folders, checked: a missing one raises
            ``ReproduceError`` naming how to train it), from the command's options.
        row_label: a row's name in the tables.
        title: the first lines of the output, from the command's options and whether it is the twin.
        combine: the tables after every row ran: ``(runs, first checkpoint per row label, protocol,
            comparable) -> markdown``; None prints each row's own summary (the prediction writer's).
    """

    name: str
    tasks: list[str]
    synthetic_rows: Callable[[Any], Rows]
    real_rows: Callable[[Any], Rows]
    row_label: Callable[[str], str]
    title: Callable[[Any, bool], str]
    combine: Callable[[list[RowRun], dict[str, Path], str, bool], str] | None = None


def twin_note(after: str) -> str:
    """The line that says a synthetic twin's numbers are not the paper's."""
    return ("\n**Synthetic twin**: tiny models on the synthetic testbed. These numbers test the pipeline; "
            "they are not comparable with the paper's. Compare them with the chance row" + after + "\n")
