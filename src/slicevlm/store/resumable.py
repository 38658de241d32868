"""`ResumableJsonl`: a crash-safe JSONL file, its run record, and the files beside it.

    answers.jsonl            the rows (appended with flush + fsync; a cut last line is repaired)
    answers.run.json         the RunRecord of the run that wrote them
    answers.old.jsonl        another run's rows, moved aside on request
    answers.rank<R>.jsonl    one part per process when several write (merged at the end)

A run may append only to rows written under the same :class:`RunRecord`; :meth:`ResumableJsonl.conflict`
says why not otherwise, and each writer turns that into its own error with its own remedy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slicevlm.store.jsonl import read_jsonl, repair_jsonl
from slicevlm.store.run_record import RunRecord


class ResumableJsonl:
    """The files of one resumable output (see the module docstring).

    Args:
        path: The main JSONL file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def run_record_path(self) -> Path:
        """``<stem>.run.json``: which weights and generation settings wrote the rows."""
        return self.path.with_name(f"{self.path.stem}.run.json")

    @property
    def old_rows_path(self) -> Path:
        """``<stem>.old.jsonl``: where another run's rows are moved aside."""
        return self.path.with_name(f"{self.path.stem}.old{self.path.suffix}")

    def part_path(self, rank: int) -> Path:
        """``<stem>.rank<R>.jsonl``: the rows process ``rank`` appends."""
        return self.path.with_name(f"{self.path.stem}.rank{rank}{self.path.suffix}")

    def all_paths(self) -> list[Path]:
        """The main file and every rank part beside it."""
        parts = sorted(self.path.parent.glob(f"{self.path.stem}.rank*{self.path.suffix}"))
        return [self.path, *parts]

    def repair(self) -> int:
        """Cut a crash-truncated last line off every file; returns the bytes removed."""
        return sum(repair_jsonl(path) for path in self.all_paths())

    def read_rows(self) -> list[dict[str, Any]]:
        """Every row of every file (main first).

        Raises:
            JsonlCorruptError: a line that is not a JSON object (other than a cut last line).
        """
        return [row for path in self.all_paths() for row in read_jsonl(path)]

    def recorded_run(self) -> RunRecord | None:
        """The run record beside the rows, or None when there is none."""
        if not self.run_record_path.is_file():
            return None
        return RunRecord.from_dict(json.loads(self.run_record_path.read_text(encoding="utf-8")))

    def write_run(self, record: RunRecord) -> None:
        """Store ``record`` as the run record (the folder is created)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_record_path.write_text(json.dumps(record.to_dict(), indent=2) + "\n", encoding="utf-8")

    def conflict(self, current: RunRecord, recorded: RunRecord | None) -> str | None:
        """Why rows already written cannot be resumed by ``current``, or None when they can.

        Args:
            current: The run about to append.
            recorded: The stored record (:meth:`recorded_run`; None when there is none).
        """
        if recorded is None:
            return f"no {self.run_record_path.name} says which model wrote them"
        reasons = current.changes_since(recorded)
        return "; ".join(reasons) if reasons else None

    def remove(self) -> None:
        """Delete the rows, the rank parts and the run record (a fresh start)."""
        for path in [*self.all_paths(), self.run_record_path]:
            path.unlink(missing_ok=True)
