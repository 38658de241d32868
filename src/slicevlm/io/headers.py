"""Volume headers read by hand, before any library opens the file: shape, voxel size, data files.

Used in front of the readers (and by the web server before it queues a request) so that

- a header announcing an absurd size is refused before anything is decompressed or allocated
  (``.npy``, NIfTI including ``.nii.gz``, MetaImage ``DimSize``, NRRD ``sizes``);
- a header naming a separate pixel-data file (MetaImage ``ElementDataFile``, NRRD ``data file``)
  is refused or confined (:class:`ReadLimits`): those two formats are parsed and decoded by
  :mod:`slicevlm.io.text_volumes`, never by a library; a NIfTI header of a ``.hdr``/``.img``
  pair is refused before SimpleITK would open the second file;
- a DICOM file is walked by :mod:`slicevlm.io.dicom_headers` (deflated data sets, sizes over the
  caps and truncated pixel data refused) before GDCM reads it.

Everything here is pure Python + numpy: no SimpleITK, no torch.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slicevlm.io.dicom_headers import check_dicom_slice, read_dicom_slice
from slicevlm.io.errors import DataError
from slicevlm.io.limits import DEFAULT_LIMITS, ReadLimits
from slicevlm.io.reader_base import check_shape, suffix
from slicevlm.io.text_volumes import TEXT_HEADER_SUFFIXES, read_text_header

_GZIP_CHUNK = 1 << 22


@dataclass(frozen=True)
class Header:
    """What a header announces.

    Attributes:
        shape: Array shape in numpy (slowest-first) order, before any squeezing.
        itemsize: Bytes per voxel.
        data_offset: Where the pixel data starts in the (uncompressed) file, when known.
    """

    shape: tuple[int, ...]
    itemsize: int
    data_offset: int = 0

    @property
    def payload_bytes(self) -> int:
        """Bytes of pixel data the header announces."""
        return math.prod(self.shape) * self.itemsize


def _refuse(path: Path, what: str, fix: str = "The file is corrupt or not what its name says: re-export it.") -> DataError:
    return DataError(f"{path}: {what}. {fix}")


# -- .npy -----------------------------------------------------------------------------------------
def read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, offset of the pixel data)`` of an ``.npy`` file (numpy caps the header size).

    Raises:
        DataError: Not an ``.npy`` file, or a header numpy refuses (too large, not a dict).
    """
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                array = np.load(path, mmap_mode="r", allow_pickle=False)  # maps, reads no pixels
                return tuple(array.shape), array.dtype, int(array.offset)
            return tuple(shape), np.dtype(dtype), handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        raise DataError(
            f"{path}: not a readable .npy file ({e}); expected a numpy array saved with np.save. "
            "The file is truncated or not an .npy: re-create it."
        ) from e


# -- NIfTI ----------------------------------------------------------------------------------------
def read_nifti_header(path: Path) -> Header:
    """The header of a single-file NIfTI-1 or NIfTI-2 (``.nii`` or ``.nii.gz``).

    A header whose magic says "pair" (``ni1``/``ni2``: pixels in a separate ``.img``) or that has no
    NIfTI magic at all (Analyze 7.5) is refused: both make the library open a second file.

    Raises:
        DataError: Unreadable, not single-file NIfTI, or nonsensical dimensions.
    """
    opener = gzip.open if suffix(path) == ".nii.gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read(540)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: the NIfTI header cannot be read ({e}); the file is truncated or corrupt. Re-export it.") from e
    if len(raw) < 348:
        raise _refuse(path, f"{len(raw)} bytes where a NIfTI header needs 348", "The file is truncated: fetch or re-export it.")
    for order in "<>":
        size = int(np.frombuffer(raw[:4], dtype=f"{order}i4")[0])
        if size == 348:
            return _nifti1(path, raw, order)
        if size == 540 and len(raw) == 540:
            return _nifti2(path, raw, order)
    raise _refuse(path, "no NIfTI header (sizeof_hdr is neither 348 nor 540)")


def _nifti_header(path: Path, dims: np.ndarray, bitpix: int, offset: float, single: bool) -> Header:
    if not single:
        raise _refuse(
            path,
            "the header is not a single-file NIfTI (its magic is not 'n+1'/'n+2': the pixels would be read "
            "from a separate .img file)",
            "Save the volume as one .nii or .nii.gz file.",
        )
    ndim = int(dims[0])
    if not 1 <= ndim <= 7:
        raise _refuse(path, f"the NIfTI header announces {ndim} dimensions; expected 1 to 7")
    if bitpix <= 0 or bitpix % 8:
        raise _refuse(path, f"the NIfTI header announces {bitpix} bits per voxel; expected a multiple of 8")
    if not np.isfinite(offset) or offset < 0:
        raise _refuse(path, f"the NIfTI header has a pixel-data offset of {offset}; expected a non-negative number")
    shape = tuple(int(d) for d in reversed(dims[1 : 1 + ndim]))  # numpy order
    return Header(shape, bitpix // 8, int(offset))


def _nifti1(path: Path, raw: bytes, order: str) -> Header:
    dims = np.frombuffer(raw[40:56], dtype=f"{order}i2").astype(np.int64)
    bitpix = int(np.frombuffer(raw[72:74], dtype=f"{order}i2")[0])
    offset = float(np.frombuffer(raw[108:112], dtype=f"{order}f4")[0])
    return _nifti_header(path, dims, bitpix, offset, raw[344:348] == b"n+1\0")


def _nifti2(path: Path, raw: bytes, order: str) -> Header:
    dims = np.frombuffer(raw[16:80], dtype=f"{order}i8")
    bitpix = int(np.frombuffer(raw[14:16], dtype=f"{order}i2")[0])
    offset = float(np.frombuffer(raw[168:176], dtype=f"{order}i8")[0])
    return _nifti_header(path, dims, bitpix, offset, raw[4:8] == b"n+2\0")


def gzip_length_at_least(path: Path, needed: int) -> int:
    """Decompress ``path`` until ``needed`` bytes came out (or the stream ends); return the count.

    Never decompresses more than ``needed`` plus one chunk, so a stream that inflates far beyond
    what its header announced costs no more than an honest one.

    Raises:
        DataError: The gzip stream is cut or corrupt.
    """
    count = 0
    try:
        with gzip.open(path, "rb") as handle:
            while count < needed and (chunk := handle.read(min(_GZIP_CHUNK, needed - count))):
                count += len(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: the gzip data cannot be read to its end ({e}); the file is truncated or corrupt. Fetch or re-export it.") from e
    return count


# -- one entry point ------------------------------------------------------------------------------
def check_header(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[int, int, int] | None:
    """Check a volume file's own header against ``limits`` before any library reads it.

    Refuses absurd sizes, 4D input, detached pixel data the limits do not allow, pair-file NIfTI,
    and deflated DICOM; checks that an uncompressed file holds the bytes its header announces.

    Returns:
        ``(D, H, W)`` when the format's header gives the shape here, else None (DICOM, images).

    Raises:
        DataError: Naming the file and what is wrong with it.
    """
    kind = suffix(path)
    if kind == ".npy":
        shape, dtype, offset = read_npy_header(path)
        if dtype.hasobject or dtype.kind not in "biuf":
            raise DataError(
                f"{path}: .npy of dtype {dtype}; expected a real numeric array (float32 in M3D). "
                "Save the pixel array itself, not a pickled object or complex data."
            )
        dims = check_shape(shape, path, limits.max_voxels)
        limits.check_bytes(path, shape, dtype.itemsize)
        _check_length(path, offset + math.prod(shape) * dtype.itemsize, os.path.getsize(path), f"shape {shape} {dtype}")
        return dims
    if kind in (".nii", ".nii.gz"):
        header = read_nifti_header(path)
        dims = check_shape(_squeeze(header.shape), path, limits.max_voxels)
        limits.check_bytes(path, header.shape, header.itemsize)
        expected = header.data_offset + header.payload_bytes
        actual = os.path.getsize(path) if kind == ".nii" else gzip_length_at_least(path, expected)
        _check_length(path, expected, actual, f"shape {header.shape}")
        return dims
    if kind in TEXT_HEADER_SUFFIXES:
        return check_shape(read_text_header(path, limits).shape, path, limits.max_voxels)
    if kind == ".dcm":
        check_dicom_slice(read_dicom_slice(path), limits)
    return None


def _squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Drop leading (slowest) size-1 axes beyond the third: NIfTI/NRRD pad with them."""
    dims = list(shape)
    while len(dims) > 4 and dims[0] == 1:
        dims.pop(0)
    return tuple(dims)


def _check_length(path: Path, expected: int, actual: int, announced: str) -> None:
    if actual < expected:
        raise DataError(
            f"{path}: truncated: the header announces {announced} ({expected:,} bytes with the header) but the "
            f"file holds {actual:,}. The copy or download was interrupted: fetch or re-create the file."
        )
