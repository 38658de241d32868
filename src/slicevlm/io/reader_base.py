"""What every volume reader shares: the reader interface and the header checks.

:func:`check_shape` is the one place that turns a header's shape into ``(D, H, W)`` and refuses
4D input and absurd sizes before any pixel memory is allocated. What a read may cost and touch
travels as one :class:`~slicevlm.io.limits.ReadLimits`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np

from slicevlm.io.errors import DataError, VolumeTooLarge
from slicevlm.io.limits import DEFAULT_LIMITS, MAX_VOXELS, VOXEL_KNOB, ReadLimits

SIMPLEITK_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".ima")
#: The one SimpleITK ImageIO allowed per suffix: the library never guesses a format from content.
#: NRRD and MetaImage have none: :mod:`slicevlm.io.text_volumes` reads them.
IMAGE_IO: dict[str, str] = {
    ".nii": "NiftiImageIO",
    ".nii.gz": "NiftiImageIO",
    ".dcm": "GDCMImageIO",
}


def suffix(path: Path) -> str:
    """Lower-case suffix, with ``.nii.gz`` kept whole."""
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def check_shape(shape: tuple[int, ...], path: Path | str, max_voxels: int = MAX_VOXELS) -> tuple[int, int, int]:
    """Map a header shape (numpy order) to ``(D, H, W)`` or raise, before any pixel is read.

    ``(1, D, H, W)`` (M3D) loses its leading axis; ``(H, W)`` becomes ``(1, H, W)``.

    Args:
        shape: The shape the header announces, numpy (slowest-first) order.
        path: The file, for messages.
        max_voxels: Largest accepted number of voxels.

    Raises:
        DataError: Empty axis, 4D or higher, or more than ``max_voxels`` voxels.
    """
    dims = tuple(int(s) for s in shape)
    if not dims or any(s <= 0 for s in dims):
        raise DataError(
            f"{path}: header announces shape {dims}; expected at least one voxel along every axis. "
            "The file is empty or its header is corrupt: re-export it."
        )
    if len(dims) == 4 and dims[0] == 1:
        dims = dims[1:]  # M3D's (C=1, D, H, W)
    if len(dims) == 2:
        dims = (1, *dims)
    if len(dims) != 3:
        raise DataError(
            f"{path}: {len(dims)}D input of shape {tuple(shape)}; expected a 3D volume (D, H, W) or "
            "M3D's (1, D, H, W). Select one channel or time point first (e.g. `array[0]`, or "
            "`nibabel.load(p).slicer[..., 0]` for a 4D NIfTI) and save that."
        )
    voxels = math.prod(dims)
    if voxels > max_voxels:
        raise VolumeTooLarge(
            f"{path}: header announces shape {tuple(shape)} = {voxels:,} voxels "
            f"({voxels * 4 / 2**30:.1f} GiB as float32); refusing to allocate more than "
            f"{max_voxels:,} voxels. A corrupt header usually causes this; if the volume is real, "
            f"downsample it first or raise the limit ({VOXEL_KNOB})."
        )
    return dims  # type: ignore[return-value]


class VolumeReader:
    """One file format. Subclasses set ``name``/``accepts`` and implement the three methods."""

    name: ClassVar[str] = "VolumeReader"
    accepts: ClassVar[str] = ""

    def can_read(self, path: Path) -> bool:
        """Whether this reader handles ``path`` (by suffix or folder content; no pixel I/O)."""
        raise NotImplementedError

    def header_shape(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[int, int, int]:
        """``(D, H, W)`` from the header alone, after the 4D, size and confinement checks."""
        raise NotImplementedError

    def read(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
        """The pixel array ``(z, y, x)`` in its stored dtype, after :meth:`header_shape`'s checks (possibly a
        transposed or flipped view: :func:`~slicevlm.io.readers.volume_from_array` copies it once)."""
        raise NotImplementedError


def first_line(error: BaseException) -> str:
    """The last non-empty line of an exception (where SimpleITK puts its reason)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
