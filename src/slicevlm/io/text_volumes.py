"""NRRD and MetaImage volumes read by the project itself: no library ever sees their headers.

A text header can name another file for its pixels (NRRD ``data file``, MetaImage
``ElementDataFile``). Whether a library obeys such a line depends on how *it* splits lines, folds
case and spells field names, and any difference from our own check is a way to make it open a file
we never approved (a bare carriage return once did exactly that). So these two formats are parsed
here, once, and the pixel bytes are read here too, from the one file this parser named and
:class:`~slicevlm.io.limits.ReadLimits` approved. SimpleITK never opens a ``.nrrd``, ``.nhdr``,
``.mha`` or ``.mhd`` file.

The grammar accepted is deliberately narrower than the formats allow:

- lines end with ``\\n`` (one ``\\r`` before it is dropped); any other ``\\r`` or a NUL byte in the
  header is refused, as is a field given twice;
- NRRD: the fields of NRRD0001–0005 (names case- and space-insensitive, ``datafile`` = ``data file``),
  encodings raw, gzip, bzip2, ascii and hex; no ``LIST`` or pattern data files, no ``line skip``,
  no ``block`` type; unknown fields are refused, as the format's own library does;
- MetaImage: ``Key = Value`` (``:`` accepted too), ``ElementDataFile`` last; binary data, raw or
  zlib-compressed (``CompressedData``); unknown fields are ignored, as MetaIO does.

Every size is checked before any byte is decompressed: the announced voxels against the voxel
cap, voxels × bytes per voxel against the byte cap, and decompression stops at the announced size.
Geometry (spacing, origin, direction) is returned in ITK's LPS convention so that the volume is
reoriented exactly as the SimpleITK-read formats are.
"""

from __future__ import annotations

import bz2
import gzip
import math
import os
import re
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from slicevlm.io.errors import DataError, VolumeTooLarge
from slicevlm.io.limits import DEFAULT_LIMITS, ReadLimits
from slicevlm.io.reader_base import check_shape, suffix

#: NRRD type spellings → numpy dtype (byte order applied later from ``endian``).
NRRD_DTYPES: dict[str, str] = {
    **dict.fromkeys(("signed char", "int8", "int8_t"), "i1"),
    **dict.fromkeys(("uchar", "unsigned char", "uint8", "uint8_t"), "u1"),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16", "int16_t"), "i2"),
    **dict.fromkeys(("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"), "u2"),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t"), "i4"),
    **dict.fromkeys(("uint", "unsigned int", "uint32", "uint32_t"), "u4"),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long", "signed long long int", "int64", "int64_t"), "i8"),
    **dict.fromkeys(("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"), "u8"),
    "float": "f4",
    "double": "f8",
}
#: MetaImage element types → numpy dtype.
METAIMAGE_DTYPES: dict[str, str] = {
    "MET_CHAR": "i1", "MET_UCHAR": "u1", "MET_SHORT": "i2", "MET_USHORT": "u2", "MET_INT": "i4", "MET_UINT": "u4",
    "MET_LONG": "i4", "MET_ULONG": "u4", "MET_LONG_LONG": "i8", "MET_ULONG_LONG": "u8", "MET_FLOAT": "f4", "MET_DOUBLE": "f8",
}  # fmt: skip
#: NRRD fields (normalised: lower case, no spaces) this reader knows; the values of the ones not
#: used below describe the data without changing how its bytes are laid out.
NRRD_FIELDS: frozenset[str] = frozenset(
    (
        "dimension type sizes encoding endian datafile content space spacedimension spacedirections spaceorigin "
        "spaceunits spacings thicknesses axismins axismaxs axismin axismax centerings centers labels units kinds "
        "min max oldmin oldmax byteskip lineskip sampleunits measurementframe number blocksize"
    ).split()
)
#: NRRD ``space`` values → the sign that turns each world axis into LPS (ITK's convention).
NRRD_SPACES: dict[str, tuple[float, float, float]] = {
    **dict.fromkeys(("right-anterior-superior", "ras"), (-1.0, -1.0, 1.0)),
    **dict.fromkeys(("left-anterior-superior", "las"), (1.0, -1.0, 1.0)),
    **dict.fromkeys(("left-posterior-superior", "lps"), (1.0, 1.0, 1.0)),
    **dict.fromkeys(("scanner-xyz", "3d-right-handed", "3d-left-handed"), (1.0, 1.0, 1.0)),
}
#: MetaImage spellings of "the pixel data follows this header".
METAIMAGE_LOCAL: frozenset[str] = frozenset(("LOCAL", "Local", "local"))
_METAIMAGE_ALIASES = {"position": "offset", "origin": "offset", "rotation": "transformmatrix", "orientation": "transformmatrix"}
_VECTOR = re.compile(r"\(([^()]*)\)")
_READ_CHUNK = 1 << 22


@dataclass(frozen=True)
class TextVolumeHeader:
    """What a NRRD or MetaImage header announces, checked.

    Attributes:
        path: The header file.
        shape: Array shape in numpy (slowest-first) order.
        dtype: Voxel type with its byte order.
        encoding: ``raw``, ``gzip``, ``bzip2``, ``ascii``, ``hex`` or ``zlib``.
        data_file: The file the pixel bytes are read from (the header itself when attached);
            ``None`` until :func:`locate_data` approved it.
        data_name: The data file as the header writes it (``None`` when attached).
        data_offset: Where the (encoded) pixels start in ``data_file``; ``-1``: at its end (raw only).
        spacing: Voxel size per axis in file order (x, y, z), mm.
        origin: World position of the first voxel (LPS, mm).
        direction: Row-major 3×3 direction cosines (LPS), columns = file axes, or ``None`` (identity).
    """

    path: Path
    shape: tuple[int, ...]
    dtype: np.dtype
    encoding: str
    data_name: str | None
    data_offset: int
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...] | None
    data_file: Path | None = None

    @property
    def payload_bytes(self) -> int:
        """Bytes of pixel data once decoded."""
        return math.prod(self.shape) * self.dtype.itemsize


def _refuse(path: Path, what: str, fix: str = "The file is corrupt or not what its name says: re-export it.") -> DataError:
    return DataError(f"{path}: {what}. {fix}")


def _header_lines(path: Path, limits: ReadLimits, blank_ends: bool) -> tuple[list[str], int]:
    """``(lines, offset of the first byte after the header)`` of a text header.

    The header ends at a blank line (``blank_ends``, NRRD) or is cut by the caller (MetaImage ends at
    ``ElementDataFile``); ``offset`` is then that of every line end, so the caller can find it.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limits.max_header_bytes + 1)
    except OSError as e:
        raise DataError(f"{path}: the header cannot be read ({e.strerror or e}).") from e
    lines: list[str] = []
    position = 0
    while True:
        end = raw.find(b"\n", position)
        if end < 0 or end >= limits.max_header_bytes:
            if len(raw) <= limits.max_header_bytes and end < 0:  # the file ends inside the header
                tail = raw[position:]
                if tail.strip():
                    lines.append(_line(path, tail, len(lines)))
                return lines, len(raw)
            raise VolumeTooLarge(
                f"{path}: no end of the header within the first {limits.max_header_bytes:,} bytes; expected a header "
                "smaller than that. The header is corrupt or padded: re-export the volume."
            )
        line = _line(path, raw[position:end], len(lines))
        position = end + 1
        if blank_ends and not line.strip():
            return lines, position
        lines.append(line)
        if not blank_ends and line.split("=", 1)[0].split(":", 1)[0].strip().lower() == "elementdatafile":
            return lines, position


def _line(path: Path, raw: bytes, number: int) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if b"\r" in raw or b"\0" in raw:
        what = "carriage return" if b"\r" in raw else "NUL byte"
        raise _refuse(
            path,
            f"header line {number + 1} holds a {what} inside it; "
            "expected lines ending with a line feed (\\n or \\r\\n)",
            "Re-save the header with plain line ends.",
        )
    return raw.decode("latin-1")


def _integers(path: Path, field: str, text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split())
    except ValueError as e:
        raise _refuse(path, f"{field} = {text.strip()[:80]!r} is not a list of integers") from e
    if not values:
        raise _refuse(path, f"{field} is empty; expected one size per axis")
    return values


def _floats(path: Path, field: str, text: str, count: int) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.replace(",", " ").split())
    except ValueError as e:
        raise _refuse(path, f"{field} = {text.strip()[:80]!r} is not a list of numbers") from e
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise _refuse(path, f"{field} = {text.strip()[:80]!r}; expected {count} finite numbers")
    return values


def _positive(path: Path, field: str, values: tuple[float, ...]) -> tuple[float, ...]:
    if any(v <= 0 for v in values):
        raise _refuse(
            path,
            f"{field} = {' '.join(f'{v:g}' for v in values)}; expected a positive voxel size along every axis",
            "Fix the header's spacing (a negative spacing is written as a flipped direction instead).",
        )
    return values


def _spatial(shape_xyz: tuple[int, ...], path: Path, limits: ReadLimits) -> None:
    check_shape(tuple(reversed(shape_xyz)), path, limits.max_voxels)


# -- NRRD -------------------------------------------------------------------------------------------
def read_nrrd_text_header(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> TextVolumeHeader:
    """Parse and check a NRRD header (``.nrrd`` attached or ``.nhdr`` detached).

    Raises:
        DataError: Anything outside the grammar in the module docstring, or sizes over the caps.
    """
    lines, end = _header_lines(path, limits, blank_ends=True)
    if not lines or not re.fullmatch(r"NRRD000[1-5]", lines[0].strip()):
        raise _refuse(path, "no 'NRRD000x' magic (NRRD0001 to NRRD0005) on the first line")
    fields: dict[str, str] = {}
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith("#"):
            continue
        key, separator, value = line.partition(":")
        if not separator:
            raise _refuse(path, f"header line {number} ({line[:60]!r}) is not 'field: value'")
        if value.startswith("="):
            continue  # "key:=value": free text, never a field
        name = "".join(key.lower().split())
        if name not in NRRD_FIELDS:
            raise _refuse(path, f"header line {number}: unknown NRRD field {key.strip()[:40]!r}")
        if name in fields:
            raise _refuse(path, f"the NRRD field {key.strip()!r} is given twice; expected it once")
        fields[name] = value.strip()
        if name == "datafile":
            _one_data_file(path, "data file", fields[name])  # a LIST ends the fields: refuse before reading on
    for required in ("dimension", "type", "sizes", "encoding"):
        if required not in fields:
            raise _refuse(path, f"no '{required}' field in the NRRD header")
    dimension = _integers(path, "dimension", fields["dimension"])[0]
    sizes = _integers(path, "sizes", fields["sizes"])
    if len(sizes) != dimension:
        raise _refuse(path, f"'sizes' lists {len(sizes)} sizes for dimension {dimension}")
    type_name = " ".join(fields["type"].lower().split())
    if type_name not in NRRD_DTYPES:
        raise _refuse(path, f"type {fields['type']!r} is not a numeric NRRD type (block data is not read)")
    dtype = np.dtype(NRRD_DTYPES[type_name])
    encoding = {"raw": "raw", "gz": "gzip", "gzip": "gzip", "bz2": "bzip2", "bzip2": "bzip2", "txt": "ascii", "text": "ascii", "ascii": "ascii", "hex": "hex"}.get(
        fields["encoding"].lower()
    )
    if encoding is None:
        raise _refuse(path, f"encoding {fields['encoding']!r}; expected raw, gzip, bzip2, ascii or hex")
    if dtype.itemsize > 1 and encoding not in ("ascii",):
        endian = fields.get("endian", "").lower()
        if endian not in ("little", "big"):
            raise _refuse(path, f"endian = {fields.get('endian')!r}; expected little or big for {dtype.itemsize}-byte voxels")
        dtype = dtype.newbyteorder("<" if endian == "little" else ">")
    if int(fields.get("lineskip", "0") or 0) != 0:
        raise _refuse(path, "'line skip' is not supported", "Re-save the volume without skipped lines.")
    byte_skip = _integers(path, "byte skip", fields.get("byteskip", "0"))[0]
    if byte_skip < -1 or (byte_skip != 0 and encoding != "raw"):
        raise _refuse(path, f"byte skip = {byte_skip} with {encoding} encoding; expected 0, or 1 or more (or -1) with raw encoding")
    shape_xyz = _nrrd_spatial_shape(path, sizes, fields, limits)
    spacing, origin, direction = _nrrd_geometry(path, fields, len(shape_xyz), len(sizes))
    data_name = fields.get("datafile")
    offset = end if data_name is None else 0
    offset = -1 if byte_skip == -1 else offset + byte_skip
    header = TextVolumeHeader(path, tuple(reversed(shape_xyz)), dtype, encoding, data_name, offset, spacing, origin, direction)
    limits.check_bytes(header.path, header.shape, header.dtype.itemsize)
    return header


def _nrrd_spatial_shape(path: Path, sizes: tuple[int, ...], fields: dict[str, str], limits: ReadLimits) -> tuple[int, ...]:
    """The sizes of the spatial axes (a non-spatial axis of size 1 is dropped; a larger one refused)."""
    kinds = fields.get("kinds", "").split()
    spatial = list(range(len(sizes)))
    if kinds:
        if len(kinds) != len(sizes):
            raise _refuse(path, f"'kinds' lists {len(kinds)} kinds for {len(sizes)} axes")
        domain = {"domain", "space", "time", "???", "none"}
        spatial = [i for i, kind in enumerate(kinds) if kind.lower() in domain]
        for i, kind in enumerate(kinds):
            if i not in spatial and sizes[i] != 1:
                raise DataError(
                    f"{path}: axis {i} is of kind {kind!r} with {sizes[i]} values per voxel (colour or vector image); "
                    "expected one grey value per voxel. Convert it to a scalar image first."
                )
    if spatial != list(range(len(spatial))) and any(sizes[i] != 1 for i in range(len(sizes)) if i not in spatial):
        raise _refuse(path, "non-spatial axes before spatial ones")
    shape_xyz = tuple(sizes[i] for i in spatial) if kinds else sizes
    _spatial(shape_xyz, path, limits)
    return shape_xyz


def _nrrd_geometry(path: Path, fields: dict[str, str], spatial: int, axes: int):
    """``(spacing, origin, direction)`` in LPS from ``space directions``/``space origin`` or ``spacings``."""
    if "spacedirections" in fields:
        space = fields.get("space", "").lower()
        if space and space not in NRRD_SPACES:
            raise _refuse(path, f"space = {fields['space']!r}; expected a 3D anatomical space (e.g. left-posterior-superior)")
        signs = NRRD_SPACES.get(space, (1.0, 1.0, 1.0))
        vectors = []
        for entry in fields["spacedirections"].split():
            if entry.lower() == "none":
                continue
            match = _VECTOR.fullmatch(entry)
            if match is None:
                raise _refuse(path, f"space directions entry {entry[:40]!r} is not '(x,y,z)' or 'none'")
            vectors.append(_floats(path, "space directions", match.group(1), 3))
        if len(vectors) != spatial or spatial != 3:
            raise _refuse(path, f"space directions gives {len(vectors)} vectors for {spatial} spatial axes; expected 3")
        lengths = tuple(math.sqrt(sum(c * c for c in v)) for v in vectors)
        _positive(path, "the length of a space direction", lengths)
        columns = [[signs[r] * v[r] / n for r in range(3)] for v, n in zip(vectors, lengths)]
        direction = tuple(columns[c][r] for r in range(3) for c in range(3))  # row-major, columns = axes
        origin_text = fields.get("spaceorigin")
        origin = (0.0, 0.0, 0.0)
        if origin_text is not None:
            match = _VECTOR.fullmatch(origin_text.strip())
            if match is None:
                raise _refuse(path, f"space origin {origin_text[:40]!r} is not '(x,y,z)'")
            origin = tuple(s * o for s, o in zip(signs, _floats(path, "space origin", match.group(1), 3)))
        return lengths, origin, direction
    if "spacings" in fields:
        values = [v for v in fields["spacings"].split()]
        numbers = tuple(1.0 if v.lower() == "nan" else v for v in values)
        try:
            spacing = tuple(float(v) for v in numbers)
        except ValueError as e:
            raise _refuse(path, f"spacings = {fields['spacings'][:80]!r} is not a list of numbers") from e
        if len(spacing) != axes or not all(math.isfinite(v) for v in spacing):
            raise _refuse(path, f"spacings = {fields['spacings'][:80]!r}; expected {axes} finite numbers")
        spacing = _positive(path, "spacings", spacing)
        return spacing[-spatial:] if spatial < axes else spacing, (0.0,) * spatial, None
    return (1.0,) * spatial, (0.0,) * spatial, None


# -- MetaImage --------------------------------------------------------------------------------------
def read_metaimage_text_header(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> TextVolumeHeader:
    """Parse and check a MetaImage header (``.mha`` attached or ``.mhd`` detached).

    Raises:
        DataError: No ``ElementDataFile`` line, missing or bad fields, sizes over the caps.
    """
    lines, end = _header_lines(path, limits, blank_ends=False)
    fields: dict[str, str] = {}
    for line in lines:
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            if line.strip():
                raise _refuse(path, f"header line {line[:60]!r} is not 'Key = Value'")
            continue
        key = line[:cut].strip().lower()
        key = _METAIMAGE_ALIASES.get(key, key)
        if key in fields:
            raise _refuse(path, f"the MetaImage field {line[:cut].strip()!r} is given twice; expected it once")
        fields[key] = line[cut + 1 :].strip()
    if "elementdatafile" not in fields:
        raise _refuse(path, "no 'ElementDataFile' line; expected a MetaImage header ending with ElementDataFile = LOCAL")
    if "dimsize" not in fields:
        raise _refuse(path, "no 'DimSize' in the MetaImage header")
    shape_xyz = _integers(path, "DimSize", fields["dimsize"])
    ndims = _integers(path, "NDims", fields.get("ndims", str(len(shape_xyz))))[0]
    if ndims != len(shape_xyz):
        raise _refuse(path, f"NDims = {ndims} but DimSize lists {len(shape_xyz)} sizes")
    channels = _integers(path, "ElementNumberOfChannels", fields.get("elementnumberofchannels", "1"))[0]
    if channels != 1:
        raise DataError(
            f"{path}: {channels} components per voxel (colour or vector image); expected one grey value per voxel. "
            "Convert it to a scalar image first."
        )
    _spatial(shape_xyz, path, limits)
    element = fields.get("elementtype", "").upper()
    if element not in METAIMAGE_DTYPES:
        raise _refuse(path, f"ElementType = {fields.get('elementtype')!r}; expected one of {', '.join(METAIMAGE_DTYPES)}")
    msb = fields.get("binarydatabyteordermsb", fields.get("elementbyteordermsb", "False")).lower() == "true"
    dtype = np.dtype(METAIMAGE_DTYPES[element]).newbyteorder(">" if msb else "<")
    if fields.get("binarydata", "True").lower() != "true":
        raise _refuse(path, "BinaryData = False (text pixels) is not read", "Re-save the volume with binary data.")
    compressed = fields.get("compresseddata", "False").lower() == "true"
    data_name = fields["elementdatafile"]
    if data_name in METAIMAGE_LOCAL:
        data_name = None
    else:
        _one_data_file(path, "ElementDataFile", data_name)
    header_size = _integers(path, "HeaderSize", fields.get("headersize", "0"))[0]
    if header_size < -1 or (header_size == -1 and compressed):
        raise _refuse(path, f"HeaderSize = {header_size}; expected 0 or more (-1 only for uncompressed data)")
    offset = -1 if header_size == -1 else (end if data_name is None else 0) + header_size
    spatial = len(shape_xyz)
    spacing = fields.get("elementspacing") or fields.get("elementsize")
    spacing_values = _positive(path, "ElementSpacing", _floats(path, "ElementSpacing", spacing, spatial)) if spacing else (1.0,) * spatial
    origin = _floats(path, "Offset", fields["offset"], spatial) if "offset" in fields else (0.0,) * spatial
    direction = _floats(path, "TransformMatrix", fields["transformmatrix"], spatial * spatial) if "transformmatrix" in fields else None
    if direction is not None and spatial == 3:
        direction = tuple(direction[c * 3 + r] for r in range(3) for c in range(3))  # MetaIO writes it column by column
    header = TextVolumeHeader(
        path, tuple(reversed(shape_xyz)), dtype, "zlib" if compressed else "raw", data_name, offset, spacing_values, origin,
        direction if spatial == 3 else None,
    )  # fmt: skip
    limits.check_bytes(header.path, header.shape, header.dtype.itemsize)
    return header


# -- both -------------------------------------------------------------------------------------------
def _one_data_file(path: Path, field: str, name: str) -> None:
    """Refuse a data-file value that is a ``LIST`` or a pattern (several files)."""
    words = name.split()
    if not words or words[0] == "LIST" or len(words) > 1:
        raise DataError(
            f"{path}: {field} = {name[:80]!r} names a list or a pattern of data files; expected the pixel data in the "
            "file itself or in one data file beside it. Re-save the volume as one file."
        )


def read_text_header(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> TextVolumeHeader:
    """The checked header of a NRRD or MetaImage file, its data file located and approved by ``limits``."""
    metaimage = suffix(path) in (".mha", ".mhd")
    header = read_metaimage_text_header(path, limits) if metaimage else read_nrrd_text_header(path, limits)
    if header.data_name is None:
        return replace(header, data_file=path)
    return replace(header, data_file=limits.detached_file(path, header.data_name, "ElementDataFile" if metaimage else "data file"))


def read_text_volume(header: TextVolumeHeader) -> np.ndarray:
    """The pixel array (numpy order, native byte order) of a checked header, decoded here.

    Never decodes more than the header announces; a file that ends early is refused.

    Raises:
        DataError: Truncated or corrupt pixel data.
    """
    assert header.data_file is not None, "read_text_header locates the data file"
    needed = header.payload_bytes
    source = header.data_file
    try:
        with open(source, "rb") as handle:
            if header.data_offset == -1:
                handle.seek(max(os.fstat(handle.fileno()).st_size - needed, 0))
            else:
                handle.seek(header.data_offset)
            raw = _decode(handle, header.encoding, needed, header)
    except OSError as e:
        raise DataError(f"{source}: the pixel data cannot be read ({e.strerror or e}).") from e
    if len(raw) < needed:
        raise DataError(
            f"{source}: truncated: the header {header.path.name} announces {needed:,} bytes of pixel data "
            f"(shape {header.shape}, {header.dtype.name}) but {len(raw):,} were found. The copy or download was "
            "interrupted: fetch or re-create the file."
        )
    array = np.frombuffer(raw, dtype=header.dtype, count=math.prod(header.shape)).reshape(header.shape)
    return array if header.dtype.isnative else array.astype(header.dtype.newbyteorder("="))


def _decode(handle, encoding: str, needed: int, header: TextVolumeHeader) -> bytearray:
    """At most ``needed`` decoded bytes from ``handle``."""
    if encoding == "raw":
        buffer = bytearray(needed)  # writable, and filled in place: no second copy
        count = handle.readinto(buffer)
        return buffer if count == needed else buffer[:count]
    if encoding in ("ascii", "hex"):
        return _decode_text(handle, encoding, needed, header)
    if encoding == "gzip":
        stream = gzip.GzipFile(fileobj=handle)
        errors: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)
    elif encoding == "bzip2":
        stream = bz2.BZ2File(handle)
        errors = (OSError, EOFError)
    else:  # zlib (MetaImage CompressedData)
        return _inflate_zlib(handle, needed, header)
    out, filled = bytearray(needed), 0  # allocated once at the announced size: no growth, no copy
    try:
        while filled < needed and (count := stream.readinto(memoryview(out)[filled : filled + _READ_CHUNK])):
            filled += count
    except errors as e:
        raise DataError(f"{header.data_file}: the {encoding} pixel data is corrupt ({e}); re-export the volume.") from e
    return out if filled == needed else out[:filled]


def _inflate_zlib(handle, needed: int, header: TextVolumeHeader) -> bytearray:
    inflater = zlib.decompressobj()
    out, filled = bytearray(needed), 0  # allocated once at the announced size
    try:
        while filled < needed:
            chunk = inflater.unconsumed_tail or handle.read(_READ_CHUNK)
            if not chunk:
                break
            piece = inflater.decompress(chunk, min(needed - filled, _READ_CHUNK))
            out[filled : filled + len(piece)] = piece
            filled += len(piece)
            if inflater.eof:
                break
    except zlib.error as e:
        raise DataError(f"{header.data_file}: the compressed pixel data is corrupt ({e}); re-export the volume.") from e
    return out if filled == needed else out[:filled]


def _decode_text(handle, encoding: str, needed: int, header: TextVolumeHeader) -> bytearray:
    """ascii (one number per voxel) or hex (two digits per byte), read no further than the data needs."""
    voxels = needed // header.dtype.itemsize
    budget = needed * 2 + 1 if encoding == "hex" else voxels * 64 + 1  # generous text per voxel, still bounded
    text = handle.read(budget).decode("latin-1")
    if encoding == "hex":
        digits = "".join(text.split())
        try:
            return bytearray.fromhex(digits[: needed * 2])
        except ValueError as e:
            raise DataError(f"{header.data_file}: the hex pixel data is corrupt ({e}); re-export the volume.") from e
    words = text.split()[:voxels]
    try:
        values = np.array([float(w) for w in words], dtype=np.float64)
    except ValueError as e:
        raise DataError(f"{header.data_file}: the ascii pixel data holds a word that is not a number ({e}).") from e
    return bytearray(values.astype(header.dtype.newbyteorder("=")).tobytes())


#: Suffixes read by this module.
TEXT_HEADER_SUFFIXES: tuple[str, ...] = (".nrrd", ".nhdr", ".mha", ".mhd")
