"""A volume as a user hands it over (a path in any readable format, or an array) → model input.

Reading is :func:`slicevlm.io.readers.load_volume` (every format, checked, reoriented to LPS
unless the recipe's ``reorient`` is ``none``, and sliced along the recipe's axis); windowing, min-max, crop and depth resampling are
:func:`slicevlm.io.recipe.apply_recipe` with a :class:`~slicevlm.io.recipe.PreprocessingRecipe`,
the one implementation the CLI, the Python API and the server share. This module adds what
inference needs on top: the file's geometry (orientation, spacing), timing, and the original shape
(to map kept slices back to the slices a radiologist scrolls through).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import torch

from slicevlm.io.limits import DEFAULT_LIMITS, ReadLimits
from slicevlm.io.recipe import PreprocessingRecipe
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
        preprocessing: what was applied (window, axis, reorientation, spacing, crop, depth, sizes).
        warnings: human-readable warnings about the input (e.g. raw HU without a window).
        depth_range: ``(first, stop)``: the slices as read that the model's slices cover; None: all.
    """

    tensor: torch.Tensor
    source: str
    original_shape: tuple[int, int, int]
    load_ms: float
    preprocessing: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    depth_range: tuple[int, int] | None = None

    def original_slice(self, index: int) -> int:
        """The original slice nearest to model slice ``index`` (linear depth resampling, half-pixel centres)."""
        first, stop = self.depth_range or (0, self.original_shape[0])
        return first + original_slice_index(index, stop - first, int(self.tensor.shape[0]))


def original_slice_index(index: int, original_depth: int, model_depth: int) -> int:
    """Map a slice index of the resampled volume to the nearest slice of the volume as read.

    ``resize_to_model`` interpolates with ``align_corners=False``: model slice ``i`` sits at source
    coordinate ``(i + 0.5) · D_orig / D - 0.5``.
    """
    position = (index + 0.5) * original_depth / model_depth - 0.5
    return int(min(max(round(position), 0), original_depth - 1))


def _array_volume(volume: np.ndarray | torch.Tensor) -> np.ndarray:
    """Check an in-memory array: ``(D, H, W)`` or M3D's ``(1, D, H, W)``, real and finite; float32 out."""
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
    return array


def prepare_volume(
    volume: VolumeLike,
    input_size: tuple[int, int, int],
    recipe: PreprocessingRecipe | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> PreparedVolume:
    """Read (if a path) and preprocess a volume to ``input_size`` under ``recipe``.

    Args:
        volume: A file or folder any :mod:`slicevlm.io.readers` reader accepts, or an array
            ``(D, H, W)`` (taken as already sliced: the recipe's axis is not applied to it).
        input_size: The checkpoint's ``(D, H, W)``.
        recipe: Window, reorientation, axis, crop and depth choices; default :class:`PreprocessingRecipe` ().
        limits: Caps and confinement for reading files (see :class:`ReadLimits`); arrays are
            checked against its voxel cap too.

    Raises:
        slicevlm.io.errors.DataError: The file is missing or unreadable (the message names it).
        InputError: An array of the wrong shape or with non-finite values.
    """
    from slicevlm.io.geometry import read_geometry
    from slicevlm.io.readers import load_volume
    from slicevlm.io.recipe import apply_recipe, oriented_spacing

    recipe = recipe or PreprocessingRecipe()
    start = time.perf_counter()
    if isinstance(volume, (str, os.PathLike)):
        source = str(volume)
        array = load_volume(volume, axis=recipe.axis, normalize=False, limits=limits, reorient=recipe.reorient)  # (D, H, W) raw
        geometry = read_geometry(volume, recipe.reorient)
        spacing = oriented_spacing(geometry.spacing_zyx, recipe.axis)
        axis, reorientation = recipe.axis, geometry.reorientation(recipe.reorient)
    else:
        source = "<array>"
        if int(np.prod(volume.shape)) > limits.max_voxels:
            raise InputError(f"array volume of shape {tuple(volume.shape)} exceeds the limit of {limits.max_voxels:,} voxels.")
        array, spacing = _array_volume(volume), None  # (D, H, W)
        axis, reorientation = "as given", "none: an array is taken as (D, H, W) slices"
    original_shape = tuple(int(s) for s in array.shape)
    done = apply_recipe(array, recipe, tuple(input_size), spacing, source)  # type: ignore[arg-type]
    applied = {**done.applied, "axis": axis, "reorientation": reorientation}
    load_ms = (time.perf_counter() - start) * 1000
    return PreparedVolume(done.tensor, source, original_shape, load_ms, applied, done.warnings, done.depth_range)  # type: ignore[arg-type]
