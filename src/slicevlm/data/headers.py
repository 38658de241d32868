"""Volume headers read by hand, before any library opens the file: shape, voxel size, data files.

Used in front of the readers (and by the web server before it queues a request) so that

- a header announcing an absurd size is refused before anything is decompressed or allocated
  (``.npy``, NIfTI including ``.nii.gz``, MetaImage ``DimSize``, NRRD ``sizes``);
- a header naming a separate pixel-data file (MetaImage ``ElementDataFile``, NRRD ``data file``,
  a NIfTI header of a ``.hdr``/``.img`` pair) is refused or confined (:class:`ReadLimits`) before
  SimpleITK would open the named file;
- a DICOM file with a deflated data set (inflated whole just to read its header) is refused.

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

from slicevlm.data.errors import DataError, VolumeTooLarge
from slicevlm.data.limits import DEFAULT_LIMITS, ReadLimits
from slicevlm.data.reader_base import check_shape, suffix

#: MetaImage spellings of "the pixel data follows this header" (MetaIO accepts exactly these).
METAIMAGE_LOCAL: tuple[str, ...] = ("LOCAL", "Local", "local")
#: Bytes per voxel of MetaImage element types.
METAIMAGE_TYPES: dict[str, int] = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
    "MET_LONG": 8, "MET_ULONG": 8, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8,
}  # fmt: skip
#: Bytes per voxel of NRRD types (every spelling the format allows).
NRRD_TYPES: dict[str, int] = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8", "uint8_t"), 1),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16", "int16_t"), 2),
    **dict.fromkeys(("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"), 2),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32", "uint32_t", "float"), 4),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long", "signed long long int"), 8),
    **dict.fromkeys(("int64", "int64_t", "ulonglong", "unsigned long long", "unsigned long long int"), 8),
    **dict.fromkeys(("uint64", "uint64_t", "double"), 8),
}
#: DICOM transfer syntax whose whole data set is deflated.
DEFLATED_TRANSFER_SYNTAX: str = "1.2.840.10008.1.2.1.99"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_GZIP_CHUNK = 1 << 22


@dataclass(frozen=True)
class Header:
    """What a header announces.

    Attributes:
        shape: Array shape in numpy (slowest-first) order, before any squeezing.
        itemsize: Bytes per voxel.
        data_file: A separate pixel-data file as written in the header; None when the pixel data
            follows the header in the same file.
        data_offset: Where the pixel data starts in the (uncompressed) file, when known.
    """

    shape: tuple[int, ...]
    itemsize: int
    data_file: str | None = None
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
    return Header(shape, bitpix // 8, None, int(offset))


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


# -- MetaImage and NRRD (text headers) ------------------------------------------------------------
def _header_text(path: Path, limits: ReadLimits) -> tuple[list[str], bool]:
    """The first ``max_header_bytes`` of a text header as lines, and whether the file ended there."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limits.max_header_bytes + 1)
    except OSError as e:
        raise DataError(f"{path}: the header cannot be read ({e}).") from e
    complete = len(raw) <= limits.max_header_bytes
    text = raw[: limits.max_header_bytes].decode("latin-1")
    return [line.rstrip("\r") for line in text.split("\n")], complete


def _too_large(path: Path, limits: ReadLimits, ends: str) -> DataError:
    return VolumeTooLarge(
        f"{path}: no {ends} within the first {limits.max_header_bytes:,} bytes; expected a header smaller "
        "than that. The header is corrupt or padded: re-export the volume."
    )


def _dims(path: Path, text: str, field: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(part) for part in text.split())
    except ValueError as e:
        raise _refuse(path, f"{field} = {text.strip()!r} is not a list of integers") from e
    if not dims:
        raise _refuse(path, f"{field} is empty; expected one size per axis")
    return dims


def read_metaimage_header(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> Header:
    """The header of a MetaImage (``.mha``/``.mhd``): fields up to ``ElementDataFile``, which ends it.

    Field names are matched case-insensitively and ``=`` or ``:`` separates name and value, so that
    no spelling MetaIO understands is missed.

    Raises:
        DataError: No ``ElementDataFile`` within the header cap, no or bad ``DimSize``.
    """
    lines, complete = _header_text(path, limits)
    fields: dict[str, str] = {}
    data_file: str | None = None
    for line in lines:
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            continue
        key, value = line[:cut].strip().lower(), line[cut + 1 :].strip()
        if key == "elementdatafile":
            data_file = value
            break
        fields.setdefault(key, value)
    if data_file is None:
        if not complete:
            raise _too_large(path, limits, "'ElementDataFile' line")
        raise _refuse(path, "no 'ElementDataFile' line; expected a MetaImage header ending with ElementDataFile = LOCAL")
    if "dimsize" not in fields:
        raise _refuse(path, "no 'DimSize' in the MetaImage header")
    dims = _dims(path, fields["dimsize"], "DimSize")
    channels = _dims(path, fields.get("elementnumberofchannels", "1"), "ElementNumberOfChannels")[0]
    itemsize = METAIMAGE_TYPES.get(fields.get("elementtype", "").upper(), 8) * max(channels, 1)
    return Header(tuple(reversed(dims)), itemsize, None if data_file in METAIMAGE_LOCAL else data_file)


def read_nrrd_header(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> Header:
    """The header of a NRRD (``.nrrd``/``.nhdr``): ``field: value`` lines up to a blank line.

    Raises:
        DataError: No ``NRRD`` magic, a header larger than the cap, no or bad ``sizes``.
    """
    lines, complete = _header_text(path, limits)
    if not lines or not lines[0].startswith("NRRD"):
        raise _refuse(path, "no 'NRRD000x' magic on the first line")
    fields: dict[str, str] = {}
    ended = False
    for line in lines[1:]:
        if not line.strip():
            ended = True
            break
        key, _, value = line.partition(":")
        if line.startswith("#") or value.startswith("="):
            continue  # a comment, or a "key:=value" pair (free text, never a field)
        fields.setdefault("".join(key.lower().split()), value.strip())
    if not ended and not complete:
        raise _too_large(path, limits, "blank line ending the NRRD header")
    if "sizes" not in fields:
        raise _refuse(path, "no 'sizes' field in the NRRD header")
    dims = _dims(path, fields["sizes"], "sizes")
    itemsize = NRRD_TYPES.get(" ".join(fields.get("type", "").lower().split()), 8)
    return Header(tuple(reversed(dims)), itemsize, fields.get("datafile"))


# -- DICOM ----------------------------------------------------------------------------------------
def dicom_transfer_syntax(path: Path) -> str | None:
    """The Transfer Syntax UID in a DICOM file's meta header, or None without a ``DICM`` preamble.

    Raises:
        DataError: A meta header that is cut off.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(128 + 4 + 64 * 1024)
    except OSError as e:
        raise DataError(f"{path}: the DICOM header cannot be read ({e}).") from e
    if head[128:132] != b"DICM":
        return None
    position = 132
    while position + 8 <= len(head):
        group, element = int.from_bytes(head[position : position + 2], "little"), int.from_bytes(head[position + 2 : position + 4], "little")
        if group != 0x0002:
            return None
        vr = head[position + 4 : position + 6]
        if vr in _LONG_VRS:
            length, start = int.from_bytes(head[position + 8 : position + 12], "little"), position + 12
        else:
            length, start = int.from_bytes(head[position + 6 : position + 8], "little"), position + 8
        if element == 0x0010:
            return head[start : start + length].decode("ascii", errors="replace").strip("\0 ")
        position = start + length
    raise _refuse(path, "the DICOM meta header is cut off", "The file is truncated: fetch or re-export it.")


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
        _check_length(path, offset + math.prod(shape) * dtype.itemsize, os.path.getsize(path), f"shape {shape} {dtype}")
        return dims
    if kind in (".nii", ".nii.gz"):
        header = read_nifti_header(path)
        dims = check_shape(_squeeze(header.shape), path, limits.max_voxels)
        expected = header.data_offset + header.payload_bytes
        actual = os.path.getsize(path) if kind == ".nii" else gzip_length_at_least(path, expected)
        _check_length(path, expected, actual, f"shape {header.shape}")
        return dims
    if kind in (".mha", ".mhd", ".nrrd", ".nhdr"):
        metaimage = kind in (".mha", ".mhd")
        header = read_metaimage_header(path, limits) if metaimage else read_nrrd_header(path, limits)
        if header.data_file is not None:
            _check_data_file(path, header.data_file, "ElementDataFile" if metaimage else "data file", limits)
        return check_shape(_squeeze(header.shape), path, limits.max_voxels)
    if kind == ".dcm":
        check_dicom(path)
    return None


def check_dicom(path: Path) -> None:
    """Refuse a DICOM file whose whole data set is deflated (it must be inflated to read its header).

    Raises:
        DataError: Deflated transfer syntax, or a cut-off meta header.
    """
    if dicom_transfer_syntax(path) == DEFLATED_TRANSFER_SYNTAX:
        raise _refuse(
            path,
            "the DICOM data set is deflated (transfer syntax 1.2.840.10008.1.2.1.99), which must be inflated "
            "whole before its size is known",
            "Re-export it uncompressed or with a pixel-data compression (JPEG, JPEG 2000, RLE).",
        )


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


def _check_data_file(path: Path, name: str, field: str, limits: ReadLimits) -> None:
    if name.split()[:1] == ["LIST"] or len(name.split()) > 1:
        raise DataError(
            f"{path}: {field} = {name!r} names a list or a pattern of data files; expected the pixel data in the "
            "file itself or in one data file beside it. Re-save the volume as one file."
        )
    limits.detached_file(path, name, field)
