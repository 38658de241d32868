"""A crash-safe, resumable JSONL file: read what survived, append with flush + fsync.

A run killed while writing leaves at most one partial last line (no trailing newline, or not
valid JSON). :func:`repair_jsonl` cuts that line off so the next run appends cleanly; the row it
held is regenerated because its id is not among the ids read back. A bad line anywhere else is
not a crash artefact and is reported with its line number instead of being dropped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from slicevlm.errors import SliceVLMError


class JsonlCorruptError(SliceVLMError, ValueError):
    """A line other than the last one of a JSONL file is not a JSON object."""


def _parse(line: bytes, path: Path, number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise JsonlCorruptError(
            f"{path}:{number}: not valid JSON ({e.msg}). Only a crash-truncated last line is "
            "repaired automatically; fix or remove this line, or start a new output file."
        ) from e
    if not isinstance(row, dict):
        raise JsonlCorruptError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
    return row


def repair_jsonl(path: str | Path) -> int:
    """Drop a truncated last line (crash artefact) from ``path`` in place.

    Args:
        path: JSONL file; a missing file is left missing.

    Returns:
        Number of bytes removed (0 when the file was intact or absent).
    """
    path = Path(path)
    if not path.is_file():
        return 0
    data = path.read_bytes()
    if not data:
        return 0
    if data.endswith(b"\n"):
        # Complete last line: keep it unless it is not valid JSON.
        cut = data.rfind(b"\n", 0, len(data) - 1) + 1
        last = data[cut:]
        try:
            if not last.strip() or isinstance(json.loads(last), dict):
                return 0
        except json.JSONDecodeError:
            pass
    else:
        # No trailing newline: the last write was cut short.
        cut = data.rfind(b"\n") + 1
    with path.open("r+b") as handle:
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
    return len(data) - cut


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read every row of a JSONL file (blank lines skipped; missing file → no rows).

    Raises:
        JsonlCorruptError: naming the line of the first row that is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                rows.append(_parse(line, path, number))
    return rows


class JsonlAppender:
    """Appends rows to a JSONL file; every :meth:`append` is flushed and fsynced.

    Args:
        path: Output file (parent folders are created).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: IO[str] | None = None

    def open(self) -> None:
        """Open for appending (idempotent)."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Write rows, one JSON object per line, then flush and fsync."""
        if not rows:
            return
        self.open()
        assert self._handle is not None
        self._handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file if open (idempotent)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
