"""Everything between files on disk and a batch (docs/method.md#input-and-preprocessing, docs/method.md#data).

- :mod:`~slicevlm.data.readers`: :func:`load_volume`, one loader in front of per-format readers
- :mod:`~slicevlm.data.transforms`: orientation, intensity, :func:`resize_to_model`
- :mod:`~slicevlm.data.records`: ``M3D_Cap.json`` and the M3D-VQA CSVs parsed into records
- :mod:`~slicevlm.data.datasets`: caption / VQA datasets and :func:`collate_batch`
- :mod:`~slicevlm.data.samplers`: task mixture and length bucketing
- :mod:`~slicevlm.data.datamodule`: :class:`M3DDataModule`
- :mod:`~slicevlm.data.controls`: image-reliance controls (questions asked of another case's volume)
- :mod:`~slicevlm.data.synth`: the synthetic 3D VQA testbed in the M3D layout
- :mod:`~slicevlm.data.check` / :mod:`~slicevlm.data.prepare`: ``check-data`` and ``prepare-m3d``

Nothing here imports the model. The names below load on first use (``from slicevlm.data import
M3DDataModule`` imports Lightning; ``slicevlm synth`` needs numpy only).
"""

from __future__ import annotations

from slicevlm.lazy_exports import lazy_exports

#: public name -> module that defines it (imported on first use, so `slicevlm synth` stays light)
_EXPORTS: dict[str, str] = {
    "DataError": "slicevlm.data.errors",
    "load_volume": "slicevlm.data.readers",
    "resize_to_model": "slicevlm.data.transforms",
    "collate_batch": "slicevlm.data.datasets",
    "M3DDataModule": "slicevlm.data.datamodule",
    "write_synthetic_dataset": "slicevlm.data.synth",
}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
