"""The synthetic testbed: 3D phantoms with findings, written as an M3D data root (``slicevlm synth``).

- :mod:`~slicevlm.testbed.phantom`: the volumes (organs, plane, contrast phase)
- :mod:`~slicevlm.testbed.findings`: the findings and their locations, reports and questions
- :mod:`~slicevlm.testbed.synth`: :func:`write_synthetic_dataset`, the M3D layout on disk

The tiny stand-in models that train on it live in :mod:`slicevlm.tiny`.
"""

from __future__ import annotations

from slicevlm.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {"write_synthetic_dataset": "slicevlm.testbed.synth"}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
