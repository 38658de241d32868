"""Volume files and preprocessing: everything between a file on disk and the model's ``(D, H, W)`` tensor
(docs/method.md#input-and-preprocessing). Nothing here knows about data sets, tasks or the model.

- :mod:`~slicevlm.io.readers`: :func:`load_volume`, one loader in front of per-format readers
  (:mod:`~slicevlm.io.sitk_readers`, :mod:`~slicevlm.io.image_readers`, :mod:`~slicevlm.io.text_volumes`;
  header checks in :mod:`~slicevlm.io.headers` and :mod:`~slicevlm.io.dicom_headers`)
- :mod:`~slicevlm.io.limits`: what a read may cost and which files it may open (:class:`ReadLimits`)
- :mod:`~slicevlm.io.geometry`: orientation and the slicing axes
- :mod:`~slicevlm.io.transforms`: intensity, :func:`resize_to_model`
- :mod:`~slicevlm.io.recipe`: the preprocessing recipe (window, orientation, axis, crop, depth), the one
  declaration of the choices that training configs, ``ask`` and ``serve`` offer
- :mod:`~slicevlm.io.shards`: volumes packed into LitData shards (object storage)
- :mod:`~slicevlm.io.errors`: :class:`DataError`, a file or value the code cannot use

The names below load on first use.
"""

from __future__ import annotations

from slicevlm.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "DataError": "slicevlm.io.errors",
    "load_volume": "slicevlm.io.readers",
    "resize_to_model": "slicevlm.io.transforms",
    "PreprocessingRecipe": "slicevlm.io.recipe",
}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
