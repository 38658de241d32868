"""SimpleITK readers: NIfTI, NRRD, MetaImage, single DICOM files and DICOM series, in LPS.

Every image is reoriented with ``DICOMOrient(image, "LPS")`` so that all formats land in one
anatomical frame: array ``(z, y, x)`` with z inferior→superior, y anterior→posterior, x patient
right→left. SimpleITK is imported when a reader runs, not at import time.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from slicevlm.data.errors import DataError
from slicevlm.data.reader_base import (
    DICOM_SUFFIXES,
    MAX_VOXELS,
    SIMPLEITK_SUFFIXES,
    VolumeReader,
    check_shape,
    first_line,
    suffix,
)


class SimpleITKReader(VolumeReader):
    """NIfTI, NRRD, MetaImage and single DICOM files through SimpleITK, reoriented to LPS."""

    name = "SimpleITKReader"
    accepts = ", ".join(SIMPLEITK_SUFFIXES)

    def can_read(self, path: Path) -> bool:
        return path.is_file() and suffix(path) in SIMPLEITK_SUFFIXES

    def _file_reader(self, path: Path):  # -> SimpleITK.ImageFileReader
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as e:
            raise DataError(
                f"{path}: SimpleITK could not read the header ({first_line(e)}); expected a valid "
                f"{suffix(path)} image. The file is corrupt or not what its name says: re-export it."
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
        if suffix(path) in (".nii", ".nii.gz"):
            check_nifti_complete(path)  # ITK zero-fills a short NIfTI instead of failing
        try:
            image = reader.Execute()
        except RuntimeError as e:
            raise DataError(
                f"{path}: SimpleITK read the header but not the pixel data ({first_line(e)}); the file "
                "is truncated or corrupt. Fetch or re-export it."
            ) from e
        return sitk_to_array(image)


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
            if child.is_file() and (child.suffix.lower() in DICOM_SUFFIXES or (not child.suffix and is_dicom(child))):
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
                f"{path}: SimpleITK could not read the DICOM series ({first_line(e)}); a slice is "
                "truncated or slices differ in size. Re-export the series."
            ) from e
        return sitk_to_array(image)


def sitk_to_array(image) -> np.ndarray:
    """SimpleITK image (2D, 3D, or 4D with one time point) → ``(z, y, x)`` array in LPS."""
    import SimpleITK as sitk

    if image.GetDimension() == 4:
        image = image[:, :, :, 0]  # size (x, y, z, 1), checked by check_shape
    if image.GetDimension() == 3:
        image = sitk.DICOMOrient(image, "LPS")
    array = sitk.GetArrayFromImage(image)  # (z, y, x) or (y, x)
    return array[None] if array.ndim == 2 else array


def check_nifti_complete(path: Path) -> None:
    """Raise when a NIfTI file holds fewer pixel bytes than its header announces."""
    opener = gzip.open if suffix(path) == ".nii.gz" else open
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


def is_dicom(path: Path) -> bool:
    """Whether a file carries the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False
