"""Readers of oriented formats: NIfTI, NRRD, MetaImage, single DICOM files and DICOM series, in LPS.

NIfTI and DICOM are decoded by SimpleITK; NRRD and MetaImage are parsed and decoded by
:mod:`slicevlm.io.text_volumes` (their headers can name other files, so no library reads them).

Every image is reoriented with ``DICOMOrient(image, "LPS")`` so that all formats land in one
anatomical frame: array ``(z, y, x)`` with z inferior→superior, y anterior→posterior, x patient
right→left. A reader made with ``reorient="none"`` keeps the file's stored voxel order instead
(array ``(z, y, x)`` of the file's own index axes). SimpleITK is imported when a reader runs, not
at import time.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from slicevlm.io.errors import DataError, check_choice
from slicevlm.io.geometry import READER_ORIENTATION, REORIENTATIONS
from slicevlm.io.dicom_headers import DicomSlice, order_series, read_dicom_slice
from slicevlm.io.headers import check_header
from slicevlm.io.limits import DEFAULT_LIMITS, ReadLimits
from slicevlm.io.text_volumes import TEXT_HEADER_SUFFIXES, read_text_header, read_text_volume
from slicevlm.io.reader_base import (
    DICOM_SUFFIXES,
    IMAGE_IO,
    SIMPLEITK_SUFFIXES,
    VolumeReader,
    check_shape,
    first_line,
    suffix,
)

class SimpleITKReader(VolumeReader):
    """NIfTI, NRRD, MetaImage and single DICOM files, reoriented to LPS.

    The file's own header is checked by hand first (:func:`~slicevlm.io.headers.check_header`:
    size, pair-file NIfTI, deflated DICOM); SimpleITK then reads NIfTI and DICOM with the ImageIO
    the suffix names, never one guessed from the content. NRRD and MetaImage never reach SimpleITK:
    :mod:`~slicevlm.io.text_volumes` parses the header and decodes the pixels itself.
    """

    name = "SimpleITKReader"
    accepts = ", ".join(SIMPLEITK_SUFFIXES)

    def __init__(self, reorient: str = READER_ORIENTATION) -> None:
        self.reorient = check_choice("reorient", reorient, REORIENTATIONS)

    def can_read(self, path: Path) -> bool:
        return path.is_file() and suffix(path) in SIMPLEITK_SUFFIXES

    def _file_reader(self, path: Path, limits: ReadLimits):  # -> SimpleITK.ImageFileReader
        limits.check_volume_path(path)
        check_header(path, limits)
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetImageIO(IMAGE_IO[suffix(path)])
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as e:
            raise DataError(
                f"{path}: SimpleITK could not read the header ({first_line(e)}); expected a valid "
                f"{suffix(path)} image. The file is corrupt or not what its name says: re-export it."
            ) from e
        return reader

    def header_shape(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[int, int, int]:
        if suffix(path) in TEXT_HEADER_SUFFIXES:
            limits.check_volume_path(path)
            return check_shape(read_text_header(path, limits).shape, path, limits.max_voxels)
        return self._checked(self._file_reader(path, limits), path, limits)

    @staticmethod
    def _checked(reader, path: Path, limits: ReadLimits) -> tuple[int, int, int]:
        components = reader.GetNumberOfComponents()
        if components != 1:
            raise DataError(
                f"{path}: {components} components per voxel (colour or vector image); expected one "
                "grey value per voxel. Convert it to a scalar image first."
            )
        return check_shape(tuple(reversed(reader.GetSize())), path, limits.max_voxels)

    def read(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
        if suffix(path) in TEXT_HEADER_SUFFIXES:
            limits.check_volume_path(path)
            header = read_text_header(path, limits)
            dims = check_shape(header.shape, path, limits.max_voxels)
            array = read_text_volume(header).reshape(dims)  # (z, y, x) in file order
            return orient_array(array, header.direction, self.reorient)
        reader = self._file_reader(path, limits)
        self._checked(reader, path, limits)
        try:
            image = reader.Execute()
        except RuntimeError as e:
            raise DataError(
                f"{path}: SimpleITK read the header but not the pixel data ({first_line(e)}); the file "
                "is truncated or corrupt. Fetch or re-export it."
            ) from e
        return sitk_to_array(image, self.reorient)


class DicomSeriesReader(VolumeReader):
    """A folder holding one DICOM series (ImageSeriesReader, slices sorted by GDCM by position).

    The folder's files must be regular files inside the allowed folder (no links pointing out),
    at most ``limits.max_files`` of them, none with a deflated data set.
    """

    name = "DicomSeriesReader"
    accepts = "a folder of DICOM slices (.dcm, .ima or no extension)"

    def __init__(self, series_uid: str | None = None, reorient: str = READER_ORIENTATION) -> None:
        self.series_uid = series_uid
        self.reorient = check_choice("reorient", reorient, REORIENTATIONS)

    def can_read(self, path: Path) -> bool:
        if not path.is_dir():
            return False
        for child in path.iterdir():  # links are not opened here: _files checks where they point first
            if child.suffix.lower() in DICOM_SUFFIXES and child.is_file():
                return True
            if not child.suffix and not child.is_symlink() and child.is_file() and is_dicom(child):
                return True
        return False

    def _slices(self, path: Path, limits: ReadLimits) -> list[DicomSlice]:
        """The checked slices of the chosen series, in position order (see :mod:`~slicevlm.io.dicom_headers`).

        Every regular file of the folder must be a DICOM slice (hidden files and a ``DICOMDIR`` aside):
        a file that is not, or that is cut off, is refused by name, never skipped.
        """
        limits.check_volume_path(path)
        children = sorted(itertools.islice(path.iterdir(), limits.max_files + 1))
        limits.check_files(path, len(children))
        slices: list[DicomSlice] = []
        for child in children:
            limits.check_member(path, child)
            if child.name.startswith(".") or child.name.upper() == "DICOMDIR" or child.is_dir():
                continue
            slices.append(read_dicom_slice(child))
        if not slices:
            raise DataError(f"{path}: no DICOM slice in the folder; expected a folder of DICOM slices of one series.")
        series = sorted({item.series_uid for item in slices})
        if self.series_uid is None and len(series) > 1:
            raise DataError(
                f"{path}: {len(series)} DICOM series in one folder ({', '.join(series)}); expected one. "
                "Move each series into its own folder (one SeriesInstanceUID per folder)."
            )
        uid = self.series_uid if self.series_uid is not None else series[0]
        if uid not in series:
            raise DataError(f"{path}: DICOM series {uid!r} not in this folder; found {series}.")
        return order_series([item for item in slices if item.series_uid == uid], path, limits)

    def header_shape(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[int, int, int]:
        slices = self._slices(path, limits)
        return check_shape((sum(s.frames for s in slices), slices[0].rows, slices[0].columns), path, limits.max_voxels)

    def read(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
        import SimpleITK as sitk

        files = [str(item.path) for item in self._slices(path, limits)]
        reader = sitk.ImageSeriesReader()
        reader.SetImageIO("GDCMImageIO")
        reader.SetFileNames(files)
        try:
            image = reader.Execute()
        except RuntimeError as e:
            raise DataError(
                f"{path}: SimpleITK could not read the DICOM series ({first_line(e)}); a slice is "
                "truncated or slices differ in size. Re-export the series."
            ) from e
        return sitk_to_array(image, self.reorient)


def orient_array(array: np.ndarray, direction: tuple[float, ...] | None, reorient: str = READER_ORIENTATION) -> np.ndarray:
    """``array`` ``(z, y, x)`` in file order, turned to ``reorient`` exactly as ``DICOMOrient`` would.

    The axis permutation and flips are learnt from a 2×3×4 probe image with the same direction
    cosines passed through ``DICOMOrient`` itself, then applied to ``array`` as a view: nothing is
    copied here (:func:`~slicevlm.io.readers.volume_from_array` makes the one float32 copy).
    """
    if reorient == "none" or direction is None or array.ndim != 3:
        return array
    order, flips = orientation_steps(direction, reorient)
    view = array.transpose(order)
    return view[tuple(slice(None, None, -1) if flip else slice(None) for flip in flips)]


def orientation_steps(direction: tuple[float, ...], reorient: str = READER_ORIENTATION) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]]:
    """``(numpy axis order, flips per output axis)`` that ``DICOMOrient(image, reorient)`` applies to
    a ``(z, y, x)`` array with these row-major direction cosines."""
    import SimpleITK as sitk

    size = (2, 3, 4)  # x, y, z: distinct sizes tell the axes apart after reorienting
    probe = np.arange(24, dtype=np.uint8).reshape(4, 3, 2)  # (z, y, x); value = x + 2 y + 6 z
    image = sitk.GetImageFromArray(probe)
    try:
        image.SetDirection(tuple(float(v) for v in direction))
    except RuntimeError as e:
        raise DataError(f"direction cosines {tuple(direction)} are not a valid 3D orientation ({first_line(e)}).") from e
    turned = sitk.GetArrayFromImage(sitk.DICOMOrient(image, reorient))  # (z', y', x')
    file_axis = [size.index(n) for n in turned.shape]  # file axis (0 x, 1 y, 2 z) of each output axis
    order = tuple(2 - a for a in file_axis)
    first = int(turned[0, 0, 0])
    start = (first % 2, (first // 2) % 3, first // 6)  # (x, y, z) index of the output's first voxel
    flips = tuple(start[a] != 0 for a in file_axis)
    return order, flips  # type: ignore[return-value]


def sitk_to_array(image, reorient: str = READER_ORIENTATION) -> np.ndarray:
    """SimpleITK image (2D, 3D, or 4D with one time point) → ``(z, y, x)`` array in LPS, or in the
    stored voxel order with ``reorient="none"``.

    The image is copied out once and reoriented on the array (:func:`orient_array`), so the peak is
    two copies of the volume, not the three that ``DICOMOrient`` + ``GetArrayFromImage`` take.
    """
    import SimpleITK as sitk

    if image.GetDimension() == 4:
        image = image[:, :, :, 0]  # size (x, y, z, 1), checked by check_shape
    direction = image.GetDirection() if image.GetDimension() == 3 else None
    array = sitk.GetArrayFromImage(image)  # (z, y, x) or (y, x)
    del image
    if array.ndim == 2:
        return array[None]
    return orient_array(array, direction, reorient)


def is_dicom(path: Path) -> bool:
    """Whether a file carries the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False
