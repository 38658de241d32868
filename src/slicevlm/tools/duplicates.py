"""Identical volumes and reports kept under different case folders, found by hashing content.

The public M3D-Cap release holds some cases twice, under different ids in two source folders: a
leakage check by case folder cannot see them. Here reports are compared by their normalised text
(whitespace collapsed) and volumes by their bytes (a folder volume by its members' names and bytes).

Volumes are hashed in two passes so that a data root of 100k+ volumes costs little more than its
headers: a cheap fingerprint first (size + three 64 KiB samples), then a full SHA-256 of only the
volumes whose fingerprints collide.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from slicevlm.io.limits import is_inside

_SAMPLE = 64 * 1024


def _file_fingerprint(path: Path, digest: hashlib._Hash, full: bool) -> None:
    size = os.path.getsize(path)
    digest.update(size.to_bytes(8, "little"))
    with open(path, "rb") as handle:
        if full:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
            return
        for start in sorted({0, max(0, size // 2 - _SAMPLE // 2), max(0, size - _SAMPLE)}):
            handle.seek(start)
            digest.update(handle.read(_SAMPLE))


def volume_digest(path: Path, full: bool = True) -> str:
    """SHA-256 of a volume's bytes (``full``) or of its cheap fingerprint; folders hash their files."""
    digest = hashlib.sha256()
    if path.is_dir():  # links pointing out of the folder are not read (the readers refuse them)
        for member in sorted(p for p in path.rglob("*") if p.is_file() and is_inside(path, p)):
            digest.update(member.relative_to(path).as_posix().encode("utf-8", "surrogateescape") + b"\0")
            _file_fingerprint(member, digest, full)
    else:
        _file_fingerprint(path, digest, full)
    return digest.hexdigest()


def report_digest(path: Path) -> str:
    """SHA-256 of a report's text with whitespace collapsed (undecodable bytes replaced)."""
    text = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _groups(items: Iterable[str], digest: Callable[[str], str | None]) -> list[list[str]]:
    by_digest: dict[str, list[str]] = defaultdict(list)
    for item in items:
        value = digest(item)
        if value is not None:
            by_digest[value].append(item)
    return [sorted(group) for group in by_digest.values() if len(group) > 1]


def duplicate_groups(
    root: Path,
    paths: Iterable[str],
    case_of: Callable[[str], str],
    kind: str,
) -> list[list[str]]:
    """Groups of index paths whose content is identical and that lie in more than one case folder.

    Args:
        root: The data root the paths are relative to.
        paths: Paths as written in the index files (already checked to stay inside the root).
        case_of: Maps a path to its case folder.
        kind: ``"volumes"`` (bytes, two passes) or ``"reports"`` (normalised text).

    Returns:
        Sorted groups of two or more paths; unreadable files are left to the other checks.
    """

    def safe(function: Callable[[Path], str]) -> Callable[[str], str | None]:
        def digest(item: str) -> str | None:
            try:
                return function(root / item)
            except OSError:
                return None  # missing or unreadable: reported by the file checks

        return digest

    existing = [p for p in paths if (root / p).exists()]
    if kind == "reports":
        groups = _groups(existing, safe(report_digest))
    else:
        candidates = _groups(existing, safe(lambda path: volume_digest(path, full=False)))
        groups = [g for c in candidates for g in _groups(c, safe(lambda path: volume_digest(path, full=True)))]
    return sorted(g for g in groups if len({case_of(p) for p in g}) > 1)
