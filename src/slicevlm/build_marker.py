"""A folder's build marker: a small JSON file of the settings its contents were written with.

A step that writes a folder (the tiny models, the synthetic testbed) writes its settings next to its
output with :func:`write_marker`; a rerun asks :func:`built_with` and skips the step when the
settings are the same and the outputs are all there, or writes the folder again when they differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def built_with(marker: Path, settings: dict[str, Any], *outputs: Path) -> bool:
    """Whether ``marker`` records exactly ``settings`` and every path in ``outputs`` is a file."""
    if not marker.is_file() or not all(Path(output).is_file() for output in outputs):
        return False
    return json.loads(marker.read_text(encoding="utf-8")) == settings


def write_marker(marker: Path, settings: dict[str, Any]) -> None:
    """Record ``settings`` in ``marker`` (after the folder's contents are complete)."""
    marker.write_text(json.dumps(settings, indent=1), encoding="utf-8")
