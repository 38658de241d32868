"""Volume readers: one loader (:func:`load_volume`) in front of one reader per format (MONAI style).

Readers, tried in this order (the first whose ``can_read`` accepts the path reads it):

========================  ===============================================================
``NumpyReader``           ``.npy``: M3D's ``(1, D, H, W)`` or a plain ``(D, H, W)`` array
``SimpleITKReader``       ``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``,
                          ``.dcm`` (a single, possibly multi-frame, DICOM file)
``DicomSeriesReader``     a folder of DICOM slices (``.dcm``/``.ima`` or extension-less)
``SliceFolderReader``     a folder of numbered 2D images (raw M3D-Cap layout)
``ImageReader``           one 2D image (``.png``, ``.jpg`` ...), read as a single slice
========================  ===============================================================

Every reader checks the header first (shape, channels, size) and refuses 4D input and absurd sizes
*before* decompressing or allocating pixel memory; it returns ``(z, y, x)`` arrays. What a read may
cost and which files it may open (a header's separate data file, a folder's members) is one
:class:`~slicevlm.io.limits.ReadLimits`: by default a volume's parts must sit in its own folder. SimpleITK images are reoriented
to LPS (``DICOMOrient(image, "LPS")``) so that every format lands in one anatomical frame, unless
``reorient="none"`` asks for the file's stored voxel order; ``.npy`` and image slices carry no
orientation and are taken as stored (axial).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from slicevlm.io.errors import DataError
from slicevlm.io.geometry import READER_ORIENTATION
from slicevlm.io.headers import check_header
from slicevlm.io.image_readers import ImageReader, SliceFolderReader, read_grey_image
from slicevlm.io.limits import DEFAULT_LIMITS, MAX_VOXELS, ReadLimits
from slicevlm.io.reader_base import (
    DICOM_SUFFIXES,
    IMAGE_SUFFIXES,
    SIMPLEITK_SUFFIXES,
    VolumeReader,
    check_shape,
    suffix,
)
from slicevlm.io.sitk_readers import DicomSeriesReader, SimpleITKReader
from slicevlm.io.transforms import axis_view, normalize_intensity

__all__ = [
    "DICOM_SUFFIXES",
    "IMAGE_SUFFIXES",
    "MAX_VOXELS",
    "SIMPLEITK_SUFFIXES",
    "DicomSeriesReader",
    "ImageReader",
    "NumpyReader",
    "ReadLimits",
    "SimpleITKReader",
    "SliceFolderReader",
    "VolumeReader",
    "check_shape",
    "find_reader",
    "load_volume",
    "volume_from_array",
    "read_grey_image",
]


class NumpyReader(VolumeReader):
    """``.npy`` arrays; the header is parsed and the file size checked before ``np.load``."""

    name = "NumpyReader"
    accepts = ".npy: (1, D, H, W) as M3D ships it, or (D, H, W)"

    def can_read(self, path: Path) -> bool:
        return path.is_file() and suffix(path) == ".npy"

    def header_shape(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[int, int, int]:
        limits.check_volume_path(path)
        return check_header(path, limits)  # type: ignore[return-value]  (always a shape for .npy)

    def read(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
        dims = self.header_shape(path, limits)
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.array(array, copy=True).reshape(dims)  # (D, H, W)


def find_reader(path: str | os.PathLike, dicom_series: str | None = None, reorient: str = READER_ORIENTATION) -> VolumeReader:
    """The first reader that accepts ``path``.

    Args:
        path: A file or folder.
        dicom_series: SeriesInstanceUID to pick when a DICOM folder holds several series.
        reorient: ``"LPS"`` (turn oriented images to LPS) or ``"none"`` (keep the stored voxel order).

    Raises:
        DataError: Nothing exists at ``path`` or no reader accepts it (the message lists them).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder; expected a volume there. Check data_root and the path "
            "written in the json/CSV (paths are relative to the data root)."
        )
    readers = (NumpyReader(), SimpleITKReader(reorient), DicomSeriesReader(dicom_series, reorient), SliceFolderReader(), ImageReader())
    for reader in readers:
        if reader.can_read(path):
            return reader
    tried = "; ".join(f"{reader.name} ({reader.accepts})" for reader in readers)
    kind = "folder" if path.is_dir() else f"file with suffix {suffix(path)!r}"
    raise DataError(
        f"{path}: no reader can read this {kind}. Tried: {tried}. Convert the volume to one of these "
        "formats (e.g. NIfTI via SimpleITK.WriteImage) or point the json/CSV at the right file."
    )


def load_volume(
    path: str | os.PathLike,
    *,
    axis: str = "axial",
    window: tuple[float, float] | None = None,
    normalize: bool = True,
    min_slices: int = 2,
    limits: ReadLimits = DEFAULT_LIMITS,
    dicom_series: str | None = None,
    reorient: str = READER_ORIENTATION,
) -> np.ndarray:
    """Read any supported volume as float32 ``(D, H, W)`` slices along ``axis``, scaled to [0, 1].

    Args:
        path: File or folder (see the module docstring for the formats).
        axis: Slicing axis: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        window: Optional CT window ``(center, width)`` in HU applied before min-max (HU data only;
            M3D's npy volumes are display images in [0, 1] already).
        normalize: Min-max scale to [0, 1] (the model's input). ``False`` returns raw intensities.
        min_slices: Fewest slices accepted along every axis; 1 lets a single 2D image through.
        limits: Caps (voxels, files, header bytes) checked on headers before allocating, and the
            folder every file read must resolve into (see :class:`ReadLimits`).
        dicom_series: SeriesInstanceUID when a DICOM folder holds several series.
        reorient: ``"LPS"`` turns oriented images (NIfTI, NRRD, MetaImage, DICOM) to LPS first;
            ``"none"`` slices the file's stored voxel order.

    Returns:
        float32 array ``(D, H, W)``.

    Raises:
        DataError: Missing or unreadable file, 4D input, absurd size, truncated file, a data file or
            folder member outside the allowed folder, NaN/Inf, constant volume, or fewer than
            ``min_slices`` slices. The message names the file.
    """
    path = Path(path)
    limits.check_volume_path(path)  # before anything is looked up: no hint about what exists outside
    array = find_reader(path, dicom_series, reorient).read(path, limits)  # (z, y, x)
    return volume_from_array(array, path, axis=axis, window=window, normalize=normalize, min_slices=min_slices)


def volume_from_array(
    array: np.ndarray,
    source: str | os.PathLike,
    *,
    axis: str = "axial",
    window: tuple[float, float] | None = None,
    normalize: bool = True,
    min_slices: int = 2,
) -> np.ndarray:
    """The checks and steps of :func:`load_volume` after reading: an array ``(z, y, x)`` from any source
    (a reader, a LitData shard) to float32 ``(D, H, W)`` along ``axis`` in [0, 1].

    Args:
        array: Pixel data ``(z, y, x)``.
        source: What the array came from, for error messages (a path, ``shards::key``).
        axis, window, normalize, min_slices: As in :func:`load_volume`.
    """
    if array.ndim != 3:
        raise DataError(f"{source}: reader returned shape {array.shape}; expected (D, H, W).")
    if min(array.shape) < min_slices:
        raise DataError(
            f"{source}: shape {array.shape} has a single slice along axis {int(np.argmin(array.shape))}; "
            f"expected at least {min_slices} slices along every axis of a 3D volume. Give the whole "
            "series (a folder of slices or a 3D file) instead of one slice."
        )
    # The one copy of the whole volume: turned to the slicing axis and converted to float32 at once
    # (none at all for a contiguous float32 axial array). Readers may hand over views.
    array = np.ascontiguousarray(axis_view(array, axis), dtype=np.float32)  # (D, H, W)
    _check_finite(array, source)
    if normalize:
        array = normalize_intensity(array, window, source=str(source))
    elif float(array.min()) == float(array.max()):
        normalize_intensity(array, window, source=str(source))  # raises the constant-volume error
    return array


def _check_finite(array: np.ndarray, source: str | os.PathLike, slab_voxels: int = 1 << 24) -> None:
    """Refuse NaN or infinite voxels, checked slab by slab (no mask the size of the volume)."""
    step = max(1, slab_voxels // max(1, array[0].size))
    nan = infinite = 0
    for start in range(0, array.shape[0], step):
        slab = array[start : start + step]
        finite = np.isfinite(slab)
        if not finite.all():
            nan += int(np.isnan(slab).sum())
            infinite += slab.size - int(finite.sum()) - int(np.isnan(slab).sum())
    if nan or infinite:
        raise DataError(
            f"{source}: {nan:,} NaN and {infinite:,} infinite voxels; expected "
            "finite intensities. Fix the export (e.g. np.nan_to_num before saving) or drop the file."
        )
