"""Caps and confinement for volumes read on behalf of a user or a remote client (no torch here).

The data layer's :class:`~slicevlm.data.limits.ReadLimits` and its hand-read header check, so that
the faces on top (``slicevlm ask``, the web server's request process) can refuse a volume before it
is read or queued for the model, importing from ``slicevlm.inference`` only.
"""

from __future__ import annotations

from slicevlm.data.headers import check_header
from slicevlm.data.limits import MAX_HEADER_BYTES, MAX_VOXELS, ReadLimits

__all__ = ["MAX_HEADER_BYTES", "MAX_VOXELS", "ReadLimits", "check_header"]
