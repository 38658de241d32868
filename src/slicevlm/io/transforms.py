"""Array transforms between a volume as read and the model's input (docs/method.md#input-and-preprocessing).

Orientation convention: readers hand over arrays in ``(z, y, x)`` order of the LPS frame (z runs
inferior→superior, y anterior→posterior, x patient right→left; the radiological view of an axial
slice). :func:`reorient_to_axis` turns that into ``(D, H, W)`` slices along the chosen axis, with
the superior side at the top of coronal and sagittal slices. Arrays without orientation (``.npy``,
slice images) are taken to be stored axially already.

The model-size transform (:func:`resize_to_model`) resamples depth linearly and resizes in-plane
so that the image covers the target, then crops the centre: for a square target, this is "shorter
side to H, centre crop".
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from slicevlm.io.errors import DataError, check_choice
from slicevlm.io.geometry import AXES
from slicevlm.errors import ConfigError

__all__ = ["AXES", "crop_foreground", "axis_view", "normalize_intensity", "reorient_to_axis", "resize_exact", "resize_to_model"]


def reorient_to_axis(volume: np.ndarray, axis: str = "axial") -> np.ndarray:
    """Return the slices of an LPS ``(z, y, x)`` volume along ``axis`` as ``(D, H, W)``.

    Args:
        volume: Array of shape ``(z, y, x)``.
        axis: ``"axial"`` (slices along z), ``"coronal"`` (along y) or ``"sagittal"`` (along x).

    Returns:
        A C-contiguous array; coronal and sagittal slices have the superior side at row 0.
    """
    return np.ascontiguousarray(axis_view(volume, axis))


def axis_view(volume: np.ndarray, axis: str = "axial") -> np.ndarray:
    """:func:`reorient_to_axis` as a view (transposed and flipped, nothing copied)."""
    check_choice("slicing_axis", axis, AXES)
    if axis == "axial":
        return volume  # (z, y, x)
    if axis == "coronal":
        return volume.transpose(1, 0, 2)[:, ::-1, :]  # (y, z↓, x)
    return volume.transpose(2, 0, 1)[:, ::-1, :]  # (x, z↓, y)


def normalize_intensity(
    volume: np.ndarray,
    window: tuple[float, float] | None = None,
    source: str = "volume",
) -> np.ndarray:
    """Scale a volume to [0, 1]: min-max, after an optional CT window.

    Args:
        volume: Finite array of any shape.
        window: ``(center, width)`` in the volume's units (HU for CT, e.g. ``(40, 400)`` for soft
            tissue): values are clipped to ``[center - width/2, center + width/2]`` first.
        source: Name of the file, used in error messages.

    Returns:
        float32 array of the same shape with minimum 0 and maximum 1.

    Raises:
        DataError: The volume is constant (before or after windowing).
    """
    volume = volume.astype(np.float32, copy=False)
    work: np.ndarray | None = None  # a copy this function owns (scaled in place: one copy, not three)
    if window is not None:
        center, width = float(window[0]), float(window[1])
        if width <= 0:
            raise ConfigError(f"CT window width must be > 0, got window={window!r} (center, width).")
        work = np.clip(volume, center - width / 2, center + width / 2)
        volume = work
    low, high = float(volume.min()), float(volume.max())
    if high <= low:
        hint = (
            f" after the CT window {window} (every voxel lies outside it: check the window and that "
            "the volume is in HU)"
            if window is not None
            else ""
        )
        raise DataError(
            f"{source}: constant volume (every voxel = {low:g}){hint}; expected at least two distinct "
            "intensities. The file is blank or was exported wrongly; re-export it or drop it from the "
            "json/CSV."
        )
    if work is None:
        work = np.subtract(volume, np.float32(low), dtype=np.float32)
    else:
        work -= np.float32(low)
    work *= np.float32(1.0 / (high - low))
    return work


def resize_to_model(
    volume: np.ndarray | torch.Tensor,
    size: tuple[int, int, int] = (50, 224, 224),
) -> torch.Tensor:
    """Bring a ``(D, H, W)`` volume to the model's input size (docs/method.md#input-and-preprocessing).

    Depth is resampled linearly to ``size[0]``; in-plane, the image is scaled (same factor on both
    axes) so that it covers ``size[1] × size[2]`` and the centre is cropped. One trilinear
    ``interpolate`` call does both resamplings.

    Args:
        volume: Array or tensor of shape ``(D, H, W)``.
        size: Target ``(D, H, W)``.

    Returns:
        float32 tensor of shape ``size``.
    """
    x = torch.as_tensor(np.ascontiguousarray(volume) if isinstance(volume, np.ndarray) else volume)
    if x.ndim != 3:
        raise ValueError(f"resize_to_model expects a (D, H, W) volume, got shape {tuple(x.shape)}.")
    depth, height, width = (int(s) for s in size)
    d, h, w = x.shape
    scale = max(height / h, width / w)
    h2, w2 = max(height, round(h * scale)), max(width, round(w * scale))
    x = x.to(torch.float32)
    if (d, h, w) != (depth, h2, w2):
        # (1, 1, d, h, w) -> (1, 1, depth, h2, w2)
        x = F.interpolate(x[None, None], size=(depth, h2, w2), mode="trilinear", align_corners=False)[0, 0]
    top, left = (h2 - height) // 2, (w2 - width) // 2
    return x[:, top : top + height, left : left + width].contiguous()  # (depth, height, width)


def resize_exact(volume: np.ndarray | torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Resample a ``(D, H, W)`` volume to exactly ``size`` (trilinear, aspect not kept).

    This is the peers' M3D preprocessing resize (MONAI ``Resize``), used by ``prepare-m3d``.

    Args:
        volume: Array or tensor of shape ``(D, H, W)``.
        size: Target ``(D, H, W)``.
    """
    x = torch.as_tensor(np.ascontiguousarray(volume) if isinstance(volume, np.ndarray) else volume)
    x = x.to(torch.float32)
    if tuple(x.shape) == tuple(size):
        return x.contiguous()
    return F.interpolate(x[None, None], size=tuple(size), mode="trilinear", align_corners=False)[0, 0]


def crop_foreground(volume: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Crop a ``(D, H, W)`` volume to the bounding box of voxels above ``threshold``.

    Mirrors MONAI ``CropForeground(select_fn=lambda x: x > 0)`` as the M3D peers use it. A volume
    with no voxel above the threshold is returned unchanged.

    Args:
        volume: Array of shape ``(D, H, W)``.
        threshold: Voxels strictly above it count as foreground.
    """
    mask = volume > threshold
    if not mask.any():
        return volume
    box = []
    for axis in range(volume.ndim):
        other = tuple(a for a in range(volume.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return volume[tuple(box)]
