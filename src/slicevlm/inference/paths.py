"""Paths a remote client names, resolved safely inside one folder (no torch: the web server's
request process uses it before anything is loaded)."""

from __future__ import annotations

import os
from pathlib import Path

from slicevlm.io.limits import is_inside
from slicevlm.inference.errors import InputError

__all__ = ["is_inside", "resolve_under"]


def resolve_under(root: str | os.PathLike, relative: str) -> Path:
    """Resolve a client-named path inside ``root``, refusing anything that leaves it.

    Absolute paths, ``..`` components and symbolic links pointing outside ``root`` are all refused;
    the check is on the fully resolved path, so no spelling gets around it.

    Args:
        root: The folder clients may read from.
        relative: The path as the client wrote it, relative to ``root``.

    Returns:
        The resolved path (it may not exist; the reader reports that).

    Raises:
        InputError: The path is empty, not text, absolute, or resolves outside ``root``. The message
            is the same whether or not the named file exists.
    """
    text = (relative or "").strip()
    if not text:
        raise InputError("path is empty; expected a volume path relative to the server's data folder.")
    if "\x00" in text or any("\ud800" <= char <= "\udfff" for char in text):
        raise InputError("path contains a NUL byte or bytes that are not UTF-8; expected a plain relative path.")
    candidate = Path(text)
    if candidate.is_absolute():
        raise InputError(f"path {text!r} is absolute; expected a path relative to the server's data folder.")
    resolved = (Path(root).resolve() / candidate).resolve()
    if not is_inside(root, resolved):
        raise InputError(f"path {text!r} leaves the server's data folder; expected a path inside it (no '..', no links out).")
    return resolved
