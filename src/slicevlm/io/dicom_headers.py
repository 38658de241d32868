"""DICOM slice headers read by the project, and a series checked, before GDCM decodes a pixel.

GDCM is a C++ parser that decodes whatever a file claims; left to itself it inflates a deflated
data set whole, allocates the pixel buffer a header announces and zero-fills what is missing, and
its series scan skips a slice it cannot read. So every file of a DICOM volume is first walked
here, element by element up to the pixel data (values we do not need are skipped, never read):

- a deflated data set, a cut-off element, more than :data:`MAX_ELEMENTS` elements or nesting
  deeper than :data:`MAX_DEPTH` are refused;
- ``Rows × Columns × frames × samples`` is checked against the voxel and byte caps, and native
  (uncompressed) pixel data must hold every byte those announce (no zero-filled slices);
- a series must be one ``SeriesInstanceUID`` of slices of one size, with distinct positions
  evenly spaced along the slice normal and distinct, gap-free instance numbers: a missing,
  duplicated or unevenly spaced slice is refused, naming the files.

The slices are then given to GDCM in the order computed here (by position along the normal).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from slicevlm.io.errors import DataError
from slicevlm.io.limits import ReadLimits
from slicevlm.io.reader_base import check_shape

#: Transfer syntaxes: implicit VR little endian, explicit VR big endian (retired), deflated.
IMPLICIT_LITTLE, EXPLICIT_BIG, DEFLATED = "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"
#: Native pixel data: everything else is encapsulated (compressed) and checked by its decoder.
NATIVE_SYNTAXES = frozenset((IMPLICIT_LITTLE, "1.2.840.10008.1.2.1", EXPLICIT_BIG))
#: Most data elements walked in one file (a CT slice has a few hundred).
MAX_ELEMENTS = 50_000
#: Deepest sequence nesting walked.
MAX_DEPTH = 16
#: Relative tolerance of slice steps around their median before a series counts as unevenly spaced.
SPACING_TOLERANCE = 0.1

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
_WANTED = {
    (0x0002, 0x0010): "transfer_syntax",
    (0x0020, 0x000E): "series_uid",
    (0x0020, 0x0013): "instance_number",
    (0x0020, 0x0032): "position",
    (0x0020, 0x0037): "orientation",
    (0x0028, 0x0002): "samples",
    (0x0028, 0x0008): "frames",
    (0x0028, 0x0010): "rows",
    (0x0028, 0x0011): "columns",
    (0x0028, 0x0100): "bits_allocated",
}
_PIXEL_DATA = (0x7FE0, 0x0010)


@dataclass(frozen=True)
class DicomSlice:
    """What one DICOM file announces (top-level data set, up to its pixel data).

    Attributes:
        path: The file.
        transfer_syntax: Transfer Syntax UID of the data set.
        series_uid: SeriesInstanceUID, or "" when absent.
        instance_number: InstanceNumber, or None.
        position: ImagePositionPatient (mm), or None.
        orientation: ImageOrientationPatient (row and column cosines), or None.
        rows, columns, frames, samples, bits_allocated: The pixel grid.
        pixel_length: Declared length of the pixel data element (None: encapsulated, undefined).
    """

    path: Path
    transfer_syntax: str
    series_uid: str
    instance_number: int | None
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    pixel_length: int | None

    @property
    def voxels(self) -> int:
        return self.rows * self.columns * self.frames

    @property
    def pixel_bytes(self) -> int:
        """Bytes of native pixel data the header announces."""
        return math.ceil(self.voxels * self.samples * self.bits_allocated / 8)


def _refuse(path: Path, what: str, fix: str = "The file is truncated or corrupt: fetch or re-export it.") -> DataError:
    return DataError(f"{path}: {what}. {fix}")


class _Walker:
    """Walks one file's elements; remembers the values in :data:`_WANTED` (top level only)."""

    def __init__(self, path: Path, handle, size: int) -> None:
        self.path, self.handle, self.size = path, handle, size
        self.values: dict[str, bytes] = {}
        self.elements = 0
        self.pixel_length: int | None = -1  # -1: no pixel data seen

    def _read(self, count: int) -> bytes:
        data = self.handle.read(count)
        if len(data) != count:
            raise _refuse(self.path, "a DICOM element is cut off")
        return data

    def _tag(self, little: bool) -> tuple[int, int]:
        raw = self._read(4)
        order = "little" if little else "big"
        return int.from_bytes(raw[:2], order), int.from_bytes(raw[2:], order)

    def element(self, explicit: bool, little: bool, depth: int, top: bool) -> tuple[int, int] | None:
        """Walk one element; return its tag, or None at the end of the file."""
        if self.handle.tell() >= self.size:
            return None
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise _refuse(self.path, f"more than {MAX_ELEMENTS:,} data elements", "Re-export the slice without private data.")
        tag = self._tag(little)
        order = "little" if little else "big"
        if tag[0] == 0xFFFE:  # item and delimiters: 4-byte length, no VR
            length = int.from_bytes(self._read(4), order)
            return self._value(tag, length, explicit, little, depth, top, sequence=tag == _ITEM)
        if explicit:
            vr = self._read(2)
            if vr in _LONG_VRS:
                self._read(2)
                length = int.from_bytes(self._read(4), order)
            else:
                length = int.from_bytes(self._read(2), order)
            sequence = vr == b"SQ" or length == _UNDEFINED
        else:
            length = int.from_bytes(self._read(4), order)
            sequence = length == _UNDEFINED  # a sequence, or encapsulated pixel data: items either way
        return self._value(tag, length, explicit, little, depth, top, sequence)

    def _value(self, tag, length: int, explicit: bool, little: bool, depth: int, top: bool, sequence: bool) -> tuple[int, int]:
        if top and tag == _PIXEL_DATA:
            self.pixel_length = None if length == _UNDEFINED else length
            if length != _UNDEFINED and self.handle.tell() + length > self.size:
                self.pixel_length = self.size - self.handle.tell()  # what the file really holds
            return tag
        if tag in (_ITEM_END, _SEQUENCE_END):
            return tag
        if length == _UNDEFINED:
            if not sequence and tag != _ITEM:
                raise _refuse(self.path, f"element ({tag[0]:04X},{tag[1]:04X}) has an undefined length")
            if depth >= MAX_DEPTH:
                raise _refuse(self.path, f"sequences nested deeper than {MAX_DEPTH}")
            end = _SEQUENCE_END if tag != _ITEM else _ITEM_END
            while (inner := self.element(explicit, little, depth + 1, top=False)) != end:
                if inner is None:
                    raise _refuse(self.path, "a DICOM sequence is cut off")
            return tag
        if self.handle.tell() + length > self.size:
            raise _refuse(self.path, f"element ({tag[0]:04X},{tag[1]:04X}) announces {length:,} bytes past the end of the file")
        if top and tag in _WANTED and length <= 1024:
            self.values[_WANTED[tag]] = self._read(length)
        else:
            self.handle.seek(length, os.SEEK_CUR)
        return tag


def read_dicom_slice(path: Path) -> DicomSlice:
    """Walk a DICOM file's header up to its pixel data (see the module docstring).

    Raises:
        DataError: Not DICOM (no ``DICM`` preamble), deflated, cut off, or no pixel data.
    """
    try:
        handle = open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: the DICOM file cannot be read ({e.strerror or e}).") from e
    with handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(132)
        if len(head) < 132 or head[128:132] != b"DICM":
            raise _refuse(path, "no DICM preamble (bytes 128-131); expected a DICOM Part 10 file", "Re-export the slice as DICOM.")
        walker = _Walker(path, handle, size)
        while True:  # the file meta group: explicit VR little endian
            position = handle.tell()
            group = walker._read(2)
            handle.seek(position)
            if int.from_bytes(group, "little") != 0x0002:
                break
            walker.element(explicit=True, little=True, depth=0, top=True)
        syntax = walker.values.get("transfer_syntax", b"").decode("ascii", "replace").strip("\0 ")
        if syntax == DEFLATED:
            raise _refuse(
                path,
                "the DICOM data set is deflated (transfer syntax 1.2.840.10008.1.2.1.99), which must be inflated "
                "whole before its size is known",
                "Re-export it uncompressed or with a pixel-data compression (JPEG, JPEG 2000, RLE).",
            )
        explicit, little = syntax != IMPLICIT_LITTLE, syntax != EXPLICIT_BIG
        while walker.pixel_length == -1:
            if walker.element(explicit, little, depth=0, top=True) is None:
                raise _refuse(path, "no pixel data; expected an image slice", "Keep only the image files of the series in the folder.")
    return _slice(path, syntax, walker.values, walker.pixel_length, little)


def _slice(path: Path, syntax: str, values: dict[str, bytes], pixel_length: int | None, little: bool) -> DicomSlice:
    def text(name: str) -> str:
        return values.get(name, b"").decode("latin-1").strip("\0 ")

    def unsigned(name: str, default: int | None = None) -> int:
        raw = values.get(name)
        if raw is None or len(raw) != 2:
            if default is None:
                raise _refuse(path, f"no valid {name.replace('_', ' ')} in the header", "Re-export the slice.")
            return default
        return int.from_bytes(raw, "little" if little else "big")

    def numbers(name: str, count: int) -> tuple[float, ...] | None:
        if not text(name):
            return None
        try:
            parsed = tuple(float(part) for part in text(name).split("\\"))
        except ValueError as e:
            raise _refuse(path, f"{name.replace('_', ' ')} {text(name)[:60]!r} is not a list of numbers") from e
        if len(parsed) != count or not all(math.isfinite(v) for v in parsed):
            raise _refuse(path, f"{name.replace('_', ' ')} {text(name)[:60]!r}; expected {count} finite numbers")
        return parsed

    try:
        frames = int(text("frames") or 1)
        instance = int(text("instance_number")) if text("instance_number") else None
    except ValueError as e:
        raise _refuse(path, f"a number of frames or instance number that is not an integer ({e})") from e
    rows, columns = unsigned("rows"), unsigned("columns")
    bits, samples = unsigned("bits_allocated"), unsigned("samples", 1)
    if min(rows, columns, frames, samples) < 1 or bits not in (1, 8, 16, 32, 64):
        raise _refuse(path, f"an image of {rows}×{columns}×{frames} with {samples} samples of {bits} bits")
    position = numbers("position", 3)
    return DicomSlice(
        path, syntax, text("series_uid"), instance, position, numbers("orientation", 6), rows, columns, frames, samples, bits, pixel_length  # type: ignore[arg-type]
    )


def check_dicom_slice(item: DicomSlice, limits: ReadLimits) -> None:
    """Refuse a slice over the caps, or whose native pixel data is shorter than announced."""
    check_shape((item.frames, item.rows, item.columns), item.path, limits.max_voxels)
    limits.check_bytes(item.path, (item.frames, item.rows, item.columns), max(item.bits_allocated // 8, 1) * item.samples)
    if item.transfer_syntax in NATIVE_SYNTAXES and (item.pixel_length is None or item.pixel_length < item.pixel_bytes):
        raise _refuse(
            item.path,
            f"truncated pixel data: {item.rows}×{item.columns}×{item.frames} pixels of {item.bits_allocated} bits need "
            f"{item.pixel_bytes:,} bytes, the file holds {item.pixel_length or 0:,}",
            "The copy or export was interrupted: fetch or re-export the slice.",
        )


def order_series(slices: list[DicomSlice], folder: Path, limits: ReadLimits) -> list[DicomSlice]:
    """The slices of one series in position order, after the series checks of the module docstring.

    Raises:
        DataError: Naming the folder and the files: mixed sizes, multi-frame files, duplicated,
            missing or unevenly spaced slices, duplicated or missing instance numbers.
    """
    first = slices[0]
    for item in slices:
        check_dicom_slice(item, limits)
        if (item.rows, item.columns, item.samples) != (first.rows, first.columns, first.samples):
            raise DataError(
                f"{folder}: slices differ in size ({first.path.name}: {first.rows}×{first.columns}, {item.path.name}: "
                f"{item.rows}×{item.columns}); expected one series of equal slices. Put each series in its own folder."
            )
    if len(slices) > 1 and any(item.frames > 1 for item in slices):
        raise DataError(f"{folder}: a multi-frame file among several slices; expected one multi-frame file or single-frame slices.")
    check_shape((sum(item.frames for item in slices), first.rows, first.columns), folder, limits.max_voxels)
    limits.check_bytes(folder, (len(slices), first.frames, first.rows, first.columns), max(first.bits_allocated // 8, 1) * first.samples)
    ordered = _by_position(slices, folder) if all(s.position and s.orientation for s in slices) else _by_number(slices, folder)
    _check_numbers(ordered, folder)
    return ordered


def _by_position(slices: list[DicomSlice], folder: Path) -> list[DicomSlice]:
    row, column = slices[0].orientation[:3], slices[0].orientation[3:]  # type: ignore[index]
    normal = (row[1] * column[2] - row[2] * column[1], row[2] * column[0] - row[0] * column[2], row[0] * column[1] - row[1] * column[0])
    depth = {id(s): sum(n * p for n, p in zip(normal, s.position)) for s in slices}  # type: ignore[arg-type]
    ordered = sorted(slices, key=lambda s: depth[id(s)])
    if len(ordered) < 2:
        return ordered
    steps = [depth[id(b)] - depth[id(a)] for a, b in zip(ordered, ordered[1:])]
    median = sorted(steps)[len(steps) // 2]
    for (a, b), step in zip(zip(ordered, ordered[1:]), steps):
        if step <= max(1e-4, 1e-3 * abs(median)):
            raise DataError(
                f"{folder}: {a.path.name} and {b.path.name} lie at the same position; expected each slice once. "
                "Remove the duplicate (or put a second series in its own folder)."
            )
        if step > (1 + SPACING_TOLERANCE) * median:
            missing = round(step / median) - 1
            what = f"about {missing} slice(s) missing" if missing >= 1 else "unevenly spaced slices"
            raise DataError(
                f"{folder}: {what} between {a.path.name} and {b.path.name} ({step:.3g} mm apart where the series "
                f"steps {median:.3g} mm); expected evenly spaced slices. Export the complete series."
            )
        if step < (1 - SPACING_TOLERANCE) * median:
            raise DataError(
                f"{folder}: unevenly spaced slices: {a.path.name} and {b.path.name} are {step:.3g} mm apart where the "
                f"series steps {median:.3g} mm; expected one slice spacing. Export the series with even spacing."
            )
    return ordered


def _by_number(slices: list[DicomSlice], folder: Path) -> list[DicomSlice]:
    if len(slices) > 1 and any(s.instance_number is None for s in slices):
        raise DataError(
            f"{folder}: slices without a position (ImagePositionPatient/ImageOrientationPatient) and without an "
            "instance number cannot be ordered; re-export the series with its geometry."
        )
    return sorted(slices, key=lambda s: s.instance_number or 0)


def _check_numbers(ordered: list[DicomSlice], folder: Path) -> None:
    numbers = sorted(s.instance_number for s in ordered if s.instance_number is not None)
    if len(numbers) != len(ordered):
        return  # not every slice is numbered: positions decided the order
    for a, b in zip(numbers, numbers[1:]):
        if a == b:
            names = [s.path.name for s in ordered if s.instance_number == a]
            raise DataError(f"{folder}: instance number {a} appears twice ({', '.join(names[:2])}); expected each slice once.")
    if numbers and numbers[-1] - numbers[0] + 1 != len(numbers):
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        raise DataError(
            f"{folder}: instance numbers {numbers[0]}..{numbers[-1]} lack {', '.join(map(str, missing[:10]))}"
            f"{' ...' if len(missing) > 10 else ''}; expected a complete series. Export every slice of the series."
        )
