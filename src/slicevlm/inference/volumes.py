"""A volume as a user hands it over (a path in any readable format, or an array) → model input.

Reading is :func:`slicevlm.data.readers.load_volume` (every format, checked, min-max to [0, 1]);
sizing is :func:`slicevlm.data.transforms.resize_to_model` to the checkpoint's ``input_size``. This
module adds what inference needs on top: timing, and the original shape (to map kept slices back to
the slices a radiologist scrolls through).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

from slicevlm.data.limits import DEFAULT_LIMITS, ReadLimits
from slicevlm.inference.errors import InputError

VolumeLike = Union[str, os.PathLike, np.ndarray, torch.Tensor]


@dataclass
class PreparedVolume:
    """A volume at the model's input size.

    Attributes:
        tensor: float32 ``(D, H, W)`` in [0, 1], on the CPU.
        source: the path it came from, or ``"<array>"``.
        original_shape: ``(D, H, W)`` as read, before resampling.
        load_ms: milliseconds spent reading and resampling.
    """

    tensor: torch.Tensor
    source: str
    original_shape: tuple[int, int, int]
    load_ms: float

    def original_slice(self, index: int) -> int:
        """The original slice nearest to model slice ``index`` (linear depth resampling, half-pixel centres)."""
        return original_slice_index(index, self.original_shape[0], int(self.tensor.shape[0]))


def original_slice_index(index: int, original_depth: int, model_depth: int) -> int:
    """Map a slice index of the resampled volume to the nearest slice of the volume as read.

    ``resize_to_model`` interpolates with ``align_corners=False``: model slice ``i`` sits at source
    coordinate ``(i + 0.5) · D_orig / D - 0.5``.
    """
    position = (index + 0.5) * original_depth / model_depth - 0.5
    return int(min(max(round(position), 0), original_depth - 1))


def _array_volume(volume: np.ndarray | torch.Tensor) -> np.ndarray:
    """Check and min-max an in-memory array: ``(D, H, W)`` or M3D's ``(1, D, H, W)``, finite."""
    from slicevlm.data.transforms import normalize_intensity

    array = volume.detach().cpu().numpy() if isinstance(volume, torch.Tensor) else np.asarray(volume)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or min(array.shape) < 1:
        raise InputError(
            f"array volume of shape {tuple(array.shape)}; expected (D, H, W) or M3D's (1, D, H, W). "
            "Select one channel or time point first."
        )
    if array.dtype.kind not in "biuf":
        raise InputError(f"array volume of dtype {array.dtype}; expected real numbers (float32 ideally).")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise InputError("array volume holds NaN or infinite values; expected finite intensities (np.nan_to_num first).")
    return normalize_intensity(array, source="<array>")


def prepare_volume(
    volume: VolumeLike,
    input_size: tuple[int, int, int],
    axis: str = "axial",
    window: tuple[float, float] | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> PreparedVolume:
    """Read (if a path), min-max to [0, 1] and resample a volume to ``input_size``.

    Args:
        volume: A file or folder any :mod:`slicevlm.data.readers` reader accepts, or an array.
        input_size: The checkpoint's ``(D, H, W)``.
        axis: Slicing axis for files: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        window: Optional CT window ``(center, width)`` in HU, applied before min-max.
        limits: Caps and confinement for reading files (see :class:`ReadLimits`); arrays are
            checked against its voxel cap too.

    Raises:
        slicevlm.data.errors.DataError: The file is missing or unreadable (the message names it).
        InputError: An array of the wrong shape or with non-finite values.
    """
    from slicevlm.data.readers import load_volume
    from slicevlm.data.transforms import resize_to_model

    start = time.perf_counter()
    if isinstance(volume, (str, os.PathLike)):
        source = str(volume)
        array = load_volume(volume, axis=axis, window=window, limits=limits)  # (D, H, W) in [0, 1]
    else:
        source = "<array>"
        if int(np.prod(volume.shape)) > limits.max_voxels:
            raise InputError(f"array volume of shape {tuple(volume.shape)} exceeds the limit of {limits.max_voxels:,} voxels.")
        array = _array_volume(volume)
    original_shape = tuple(int(s) for s in array.shape)
    tensor = resize_to_model(array, tuple(input_size))  # (D, H, W)
    return PreparedVolume(tensor, source, original_shape, (time.perf_counter() - start) * 1000)  # type: ignore[arg-type]
