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
*before* allocating pixel memory; it returns ``(z, y, x)`` arrays. SimpleITK images are reoriented
to LPS (``DICOMOrient(image, "LPS")``) so that every format lands in one anatomical frame;
``.npy`` and image slices carry no orientation and are taken as stored (axial).
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import re
import zlib
from collections import Counter
from pathlib import Path
from typing import ClassVar

import numpy as np

from slicevlm.data.errors import DataError
from slicevlm.data.transforms import normalize_intensity, reorient_to_axis

log = logging.getLogger(__name__)

#: Refuse volumes larger than this many voxels (2 GiB as float32) unless the caller raises it.
MAX_VOXELS: int = 2**29
SIMPLEITK_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".ima")


def _suffix(path: Path) -> str:
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
        raise DataError(
            f"{path}: header announces shape {tuple(shape)} = {voxels:,} voxels "
            f"({voxels * 4 / 2**30:.1f} GiB as float32); refusing to allocate more than "
            f"max_voxels={max_voxels:,}. A corrupt header usually causes this; if the volume is real, "
            "downsample it first or pass a larger max_voxels."
        )
    return dims  # type: ignore[return-value]


class VolumeReader:
    """One file format. Subclasses set ``name``/``accepts`` and implement the three methods."""

    name: ClassVar[str] = "VolumeReader"
    accepts: ClassVar[str] = ""

    def can_read(self, path: Path) -> bool:
        """Whether this reader handles ``path`` (by suffix or folder content; no pixel I/O)."""
        raise NotImplementedError

    def header_shape(self, path: Path, max_voxels: int = MAX_VOXELS) -> tuple[int, int, int]:
        """``(D, H, W)`` from the header alone, after the 4D and size checks."""
        raise NotImplementedError

    def read(self, path: Path, max_voxels: int = MAX_VOXELS) -> np.ndarray:
        """The pixel array ``(z, y, x)`` in its stored dtype, after :meth:`header_shape`'s checks."""
        raise NotImplementedError


class NumpyReader(VolumeReader):
    """``.npy`` arrays; the header is parsed and the file size checked before ``np.load``."""

    name = "NumpyReader"
    accepts = ".npy: (1, D, H, W) as M3D ships it, or (D, H, W)"

    def can_read(self, path: Path) -> bool:
        return path.is_file() and _suffix(path) == ".npy"

    def _header(self, path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
        """(shape, dtype, offset of the pixel data)."""
        try:
            with open(path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
                else:
                    array = np.load(path, mmap_mode="r", allow_pickle=False)
                    return tuple(array.shape), array.dtype, int(array.offset)
                return tuple(shape), np.dtype(dtype), handle.tell()
        except (ValueError, OSError, EOFError) as e:
            raise DataError(
                f"{path}: not a readable .npy file ({e}); expected a numpy array saved with np.save. "
                "The file is truncated or not an .npy: re-create it."
            ) from e

    def header_shape(self, path: Path, max_voxels: int = MAX_VOXELS) -> tuple[int, int, int]:
        shape, dtype, offset = self._header(path)
        if dtype.hasobject or dtype.kind not in "biuf":
            raise DataError(
                f"{path}: .npy of dtype {dtype}; expected a real numeric array (float32 in M3D). "
                "Save the pixel array itself, not a pickled object or complex data."
            )
        dims = check_shape(shape, path, max_voxels)
        expected = offset + math.prod(shape) * dtype.itemsize
        actual = os.path.getsize(path)
        if actual < expected:
            raise DataError(
                f"{path}: truncated .npy: the header announces shape {shape} {dtype} "
                f"({expected:,} bytes with the header) but the file has {actual:,} bytes. "
                "The copy or download was interrupted: fetch or re-create the file."
            )
        return dims

    def read(self, path: Path, max_voxels: int = MAX_VOXELS) -> np.ndarray:
        dims = self.header_shape(path, max_voxels)
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.array(array, copy=True).reshape(dims)  # (D, H, W)


class SimpleITKReader(VolumeReader):
    """NIfTI, NRRD, MetaImage and single DICOM files through SimpleITK, reoriented to LPS."""

    name = "SimpleITKReader"
    accepts = ", ".join(SIMPLEITK_SUFFIXES)

    def can_read(self, path: Path) -> bool:
        return path.is_file() and _suffix(path) in SIMPLEITK_SUFFIXES

    def _file_reader(self, path: Path):  # -> SimpleITK.ImageFileReader
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as e:
            raise DataError(
                f"{path}: SimpleITK could not read the header ({_first_line(e)}); expected a valid "
                f"{_suffix(path)} image. The file is corrupt or not what its name says: re-export it."
            ) from e
        return reader

    def header_shape(self, path: Path, max_voxels: int = MAX_VOXELS) -> tuple[int, int, int]:
        return self._checked(self._file_reader(path), path, max_voxels)

    @staticmethod
    def _checked(reader, path: Path, max_voxels: int) -> tuple[int, int, int]:
        components = reader.GetNumberOfComponents()
        if components != 1:
            raise DataError(
                f"{path}: {components} components per voxel (colour or vector image); expected one "
                "grey value per voxel. Convert it to a scalar image first."
            )
        return check_shape(tuple(reversed(reader.GetSize())), path, max_voxels)

    def read(self, path: Path, max_voxels: int = MAX_VOXELS) -> np.ndarray:
        reader = self._file_reader(path)
        self._checked(reader, path, max_voxels)
        if _suffix(path) in (".nii", ".nii.gz"):
            _check_nifti_complete(path)  # ITK zero-fills a short NIfTI instead of failing
        try:
            image = reader.Execute()
        except RuntimeError as e:
            raise DataError(
                f"{path}: SimpleITK read the header but not the pixel data ({_first_line(e)}); the file "
                "is truncated or corrupt. Fetch or re-export it."
            ) from e
        return _sitk_to_array(image)


class DicomSeriesReader(VolumeReader):
    """A folder holding one DICOM series (ImageSeriesReader, slices sorted by GDCM by position)."""

    name = "DicomSeriesReader"
    accepts = "a folder of DICOM slices (.dcm, .ima or no extension)"

    def __init__(self, series_uid: str | None = None) -> None:
        self.series_uid = series_uid

    def can_read(self, path: Path) -> bool:
        if not path.is_dir():
            return False
        for child in path.iterdir():
            if child.is_file() and (child.suffix.lower() in DICOM_SUFFIXES or (not child.suffix and _is_dicom(child))):
                return True
        return False

    def _files(self, path: Path) -> list[str]:
        import SimpleITK as sitk

        series = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path)))
        if not series:
            raise DataError(
                f"{path}: no DICOM series found (GDCM read no slice headers); expected a folder of "
                "DICOM slices of one series. Check that the files are DICOM and not truncated."
            )
        if self.series_uid is None and len(series) > 1:
            raise DataError(
                f"{path}: {len(series)} DICOM series in one folder ({', '.join(series)}); expected one. "
                "Pass dicom_series=<SeriesInstanceUID> to load_volume or split the folder per series."
            )
        uid = self.series_uid or series[0]
        if uid not in series:
            raise DataError(f"{path}: DICOM series {uid!r} not in this folder; found {series}.")
        return list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), uid))

    def header_shape(self, path: Path, max_voxels: int = MAX_VOXELS) -> tuple[int, int, int]:
        files = self._files(path)
        first = SimpleITKReader()._file_reader(Path(files[0]))
        width, height = first.GetSize()[:2]
        return check_shape((len(files), height, width), path, max_voxels)

    def read(self, path: Path, max_voxels: int = MAX_VOXELS) -> np.ndarray:
        import SimpleITK as sitk

        self.header_shape(path, max_voxels)
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(self._files(path))
        try:
            image = reader.Execute()
        except RuntimeError as e:
            raise DataError(
                f"{path}: SimpleITK could not read the DICOM series ({_first_line(e)}); a slice is "
                "truncated or slices differ in size. Re-export the series."
            ) from e
        return _sitk_to_array(image)


class SliceFolderReader(VolumeReader):
    """A folder of numbered 2D images, one per slice (the raw M3D-Cap layout).

    Slices are sorted by the integer in their file name (``2.png`` before ``10.png``), read as
    greyscale, and only slices of the most common shape are kept (the peers' recipe, SPEC §3); the
    dropped ones are logged as a warning.
    """

    name = "SliceFolderReader"
    accepts = "a folder of numbered 2D images (" + ", ".join(IMAGE_SUFFIXES) + ")"

    def can_read(self, path: Path) -> bool:
        return path.is_dir() and any(_suffix(child) in IMAGE_SUFFIXES for child in path.iterdir())

    def _sorted_slices(self, path: Path) -> list[Path]:
        numbered: dict[int, Path] = {}
        for child in path.iterdir():
            if _suffix(child) not in IMAGE_SUFFIXES:
                continue
            digits = re.findall(r"\d+", child.stem)
            if not digits:
                raise DataError(
                    f"{child}: slice file name has no number; expected numbered slices such as 1.png, "
                    "2.png ... so that their order is known. Rename the slices."
                )
            number = int(digits[-1])
            if number in numbered:
                raise DataError(
                    f"{path}: two slices carry number {number} ({numbered[number].name}, {child.name}); "
                    "expected one file per slice number. Remove the duplicate."
                )
            numbered[number] = child
        return [numbered[n] for n in sorted(numbered)]

    def _shapes(self, path: Path) -> tuple[list[Path], tuple[int, int]]:
        from PIL import Image

        files = self._sorted_slices(path)
        shapes = []
        for file in files:
            try:
                with Image.open(file) as image:
                    shapes.append((image.height, image.width))
            except OSError as e:
                raise DataError(f"{file}: not a readable image ({e}); re-export the slice.") from e
        common = Counter(shapes).most_common(1)[0][0]
        kept = [file for file, shape in zip(files, shapes) if shape == common]
        if len(kept) < len(files):
            log.warning("%s: kept %d of %d slices with the most common shape %s", path, len(kept), len(files), common)
        return kept, common

    def header_shape(self, path: Path, max_voxels: int = MAX_VOXELS) -> tuple[int, int, int]:
        kept, (height, width) = self._shapes(path)
        return check_shape((len(kept), height, width), path, max_voxels)

    def read(self, path: Path, max_voxels: int = MAX_VOXELS) -> np.ndarray:
        kept, (height, width) = self._shapes(path)
        check_shape((len(kept), height, width), path, max_voxels)
        return np.stack([read_grey_image(file) for file in kept])  # (D, H, W)


class ImageReader(VolumeReader):
    """One 2D image, read as a volume of a single slice ``(1, H, W)``."""

    name = "ImageReader"
    accepts = "one 2D image (" + ", ".join(IMAGE_SUFFIXES) + "), a single slice"

    def can_read(self, path: Path) -> bool:
        return path.is_file() and _suffix(path) in IMAGE_SUFFIXES

    def header_shape(self, path: Path, max_voxels: int = MAX_VOXELS) -> tuple[int, int, int]:
        from PIL import Image

        try:
            with Image.open(path) as image:
                return check_shape((image.height, image.width), path, max_voxels)
        except OSError as e:
            raise DataError(f"{path}: not a readable image ({e}); re-export it.") from e

    def read(self, path: Path, max_voxels: int = MAX_VOXELS) -> np.ndarray:
        self.header_shape(path, max_voxels)
        return read_grey_image(path)[None]  # (1, H, W)


def read_grey_image(path: Path) -> np.ndarray:
    """A 2D image as float32 ``(H, W)`` grey values (16-bit and float images keep their range)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I", "F") or image.mode.startswith("I;16"):
                return np.asarray(image, dtype=np.float32)
            return np.asarray(image.convert("L"), dtype=np.float32)
    except OSError as e:
        raise DataError(
            f"{path}: could not decode the image ({e}); the file is truncated or corrupt. Re-export it."
        ) from e


def _sitk_to_array(image) -> np.ndarray:
    """SimpleITK image (2D, 3D, or 4D with one time point) → ``(z, y, x)`` array in LPS."""
    import SimpleITK as sitk

    if image.GetDimension() == 4:
        image = image[:, :, :, 0]  # size (x, y, z, 1), checked by check_shape
    if image.GetDimension() == 3:
        image = sitk.DICOMOrient(image, "LPS")
    array = sitk.GetArrayFromImage(image)  # (z, y, x) or (y, x)
    return array[None] if array.ndim == 2 else array


def _check_nifti_complete(path: Path) -> None:
    """Raise when a NIfTI file holds fewer pixel bytes than its header announces."""
    opener = gzip.open if _suffix(path) == ".nii.gz" else open
    try:
        with opener(path, "rb") as handle:
            header = handle.read(540)
            size = int.from_bytes(header[:4], "little")
            order = "<" if size in (348, 540) else ">"
            if np.frombuffer(header[:4], dtype=f"{order}i4")[0] == 348:  # NIfTI-1
                dims = np.frombuffer(header[40:56], dtype=f"{order}i2").astype(np.int64)
                bitpix = int(np.frombuffer(header[72:74], dtype=f"{order}i2")[0])
                offset = int(np.frombuffer(header[108:112], dtype=f"{order}f4")[0])
            else:  # NIfTI-2
                dims = np.frombuffer(header[16:80], dtype=f"{order}i8")
                bitpix = int(np.frombuffer(header[14:16], dtype=f"{order}i2")[0])
                offset = int(np.frombuffer(header[168:176], dtype=f"{order}i8")[0])
            expected = offset + int(np.prod(dims[1 : 1 + int(dims[0])])) * bitpix // 8
            if opener is open:
                actual = os.path.getsize(path)
            else:  # stream through the gzip data without holding it: a cut stream raises EOFError
                actual = len(header)
                while chunk := handle.read(1 << 22):
                    actual += len(chunk)
    except (OSError, EOFError, zlib.error, ValueError) as e:
        raise DataError(
            f"{path}: the NIfTI data cannot be read to its end ({e}); the file is truncated or "
            "corrupt. Fetch or re-export it."
        ) from e
    if actual < expected:
        raise DataError(
            f"{path}: truncated NIfTI: the header announces {expected:,} bytes with the pixel data but "
            f"the file holds {actual:,}. Fetch or re-export it."
        )


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def find_reader(path: str | os.PathLike, dicom_series: str | None = None) -> VolumeReader:
    """The first reader that accepts ``path``.

    Args:
        path: A file or folder.
        dicom_series: SeriesInstanceUID to pick when a DICOM folder holds several series.

    Raises:
        DataError: Nothing exists at ``path`` or no reader accepts it (the message lists them).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder; expected a volume there. Check data_root and the path "
            "written in the json/CSV (paths are relative to the data root)."
        )
    readers = (NumpyReader(), SimpleITKReader(), DicomSeriesReader(dicom_series), SliceFolderReader(), ImageReader())
    for reader in readers:
        if reader.can_read(path):
            return reader
    tried = "; ".join(f"{reader.name} ({reader.accepts})" for reader in readers)
    kind = "folder" if path.is_dir() else f"file with suffix {_suffix(path)!r}"
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
    max_voxels: int = MAX_VOXELS,
    dicom_series: str | None = None,
) -> np.ndarray:
    """Read any supported volume as float32 ``(D, H, W)`` slices along ``axis``, scaled to [0, 1].

    Args:
        path: File or folder (see the module docstring for the formats).
        axis: Slicing axis: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        window: Optional CT window ``(center, width)`` in HU applied before min-max (HU data only;
            M3D's npy volumes are display images in [0, 1] already).
        normalize: Min-max scale to [0, 1] (SPEC §1). ``False`` returns raw intensities.
        min_slices: Fewest slices accepted along every axis; 1 lets a single 2D image through.
        max_voxels: Largest accepted volume, checked on the header before allocating.
        dicom_series: SeriesInstanceUID when a DICOM folder holds several series.

    Returns:
        float32 array ``(D, H, W)``.

    Raises:
        DataError: Missing or unreadable file, 4D input, absurd size, truncated file, NaN/Inf,
            constant volume, or fewer than ``min_slices`` slices. The message names the file.
    """
    path = Path(path)
    array = find_reader(path, dicom_series).read(path, max_voxels)  # (z, y, x)
    if array.ndim != 3:
        raise DataError(f"{path}: reader returned shape {array.shape}; expected (D, H, W).")
    if min(array.shape) < min_slices:
        raise DataError(
            f"{path}: shape {array.shape} has a single slice along axis {int(np.argmin(array.shape))}; "
            f"expected at least {min_slices} slices along every axis of a 3D volume. Point the "
            "json/CSV at the whole series (a folder or a 3D file), or pass min_slices=1 for 2D input."
        )
    array = array.astype(np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        nan = int(np.isnan(array).sum())
        raise DataError(
            f"{path}: {nan:,} NaN and {array.size - int(finite.sum()) - nan:,} infinite voxels; expected "
            "finite intensities. Fix the export (e.g. np.nan_to_num before saving) or drop the file."
        )
    array = reorient_to_axis(array, axis)  # (D, H, W)
    if normalize:
        array = normalize_intensity(array, window, source=str(path))
    elif float(array.min()) == float(array.max()):
        normalize_intensity(array, window, source=str(path))  # raises the constant-volume error
    return array
