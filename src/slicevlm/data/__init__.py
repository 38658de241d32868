"""Data sets and the DataModule: M3D-Cap and M3D-VQA records to batches (docs/method.md#data).

- :mod:`~slicevlm.data.records`: ``M3D_Cap.json`` and the M3D-VQA CSVs parsed into records
- :mod:`~slicevlm.data.prompts`: the instructions and answer texts of each task
- :mod:`~slicevlm.data.datasets`: caption / VQA datasets and :func:`collate_batch`
- :mod:`~slicevlm.data.samplers`, :mod:`~slicevlm.data.resumable`: task mixture, length bucketing, and
  a loader position that survives a restart
- :mod:`~slicevlm.data.datamodule`: :class:`M3DDataModule`
- :mod:`~slicevlm.data.controls`: image-reliance controls (questions asked of another case's volume)
- :mod:`~slicevlm.data.augment`: M3D-LaMed's random training transforms

Reading and preprocessing a volume file is :mod:`slicevlm.io`'s; the synthetic testbed is
:mod:`slicevlm.testbed`; ``check-data`` and ``prepare-m3d`` are in :mod:`slicevlm.tools`. Nothing here
imports the model. The names below load on first use (``from slicevlm.data import M3DDataModule``
imports Lightning).
"""

from __future__ import annotations

from slicevlm.lazy_exports import lazy_exports

#: public name -> module that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "collate_batch": "slicevlm.data.datasets",
    "M3DDataModule": "slicevlm.data.datamodule",
}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
