"""Tables 2, 3 and 4 of the paper: the full model's report generation, open VQA and closed VQA.

One row, the full model (its checkpoint folder, or the demo twin); the printed table is the
prediction writer's summary, with the paper's rows beside ours (a labelled reference for the twin).
"""

from __future__ import annotations

from pathlib import Path

from slicevlm.reproduction.inputs import check_checkpoint
from slicevlm.reproduction.table import PaperTable, Rows, twin_note

FULL_MODEL = "Full model (Tables 2-4)"


def _real_rows(options) -> Rows:
    check_checkpoint(Path(options.checkpoint), "Train it: lightning-cli fit --config configs/stage1.yaml, then --config configs/stage2.yaml.")
    return {"full": Path(options.checkpoint)}


def _title(options, synthetic: bool) -> str:
    header = f"# Reproduction of paper {options.table.replace('table', 'Table ')} — protocol: {options.protocol}\n"
    return header + (twin_note("; the paper's rows are printed for reference only.") if synthetic else "")


def _table(name: str, tasks: list[str]) -> PaperTable:
    return PaperTable(name, tasks, lambda options: {"full": None}, _real_rows, lambda row: FULL_MODEL, _title)


TABLE2 = _table("table2", ["caption"])
TABLE3 = _table("table3", ["vqa_open"])
TABLE4 = _table("table4", ["vqa_closed"])
