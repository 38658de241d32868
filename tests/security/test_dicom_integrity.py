"""A damaged DICOM series is refused by name, never read with a slice dropped or zero-filled.

GDCM, left alone, drops a slice it cannot read from a series scan and zero-fills pixel data that
ends early; both gave a 200 with a wrong volume. Each case here damages one series written by
SimpleITK and asserts the refusal names what is wrong; the intact series still reads.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from slicevlm.io.errors import DataError, VolumeTooLarge
from slicevlm.io.limits import ReadLimits
from slicevlm.io.readers import load_volume

sitk = pytest.importorskip("SimpleITK")

SLICES = 8


def _series(folder: Path, positions: list[float] | None = None, numbers: list[int] | None = None) -> Path:
    """Eight 16×16 int16 slices 2 mm apart, written out of order."""
    positions = positions or [2.0 * i for i in range(SLICES)]
    numbers = numbers or list(range(1, SLICES + 1))
    volume = (np.random.default_rng(1).random((len(positions), 16, 16)) * 1000).astype(np.int16)
    folder.mkdir(parents=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for i in reversed(range(len(positions))):
        image = sitk.GetImageFromArray(volume[i])
        for tag, value in {
            "0020|0032": f"0\\0\\{positions[i]}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|000e": "1.2.826.0.1.3680043.2.1125.7",
            "0020|0013": str(numbers[i]),
            "0008|0060": "CT",
        }.items():
            image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"s{i:02d}.dcm"))
        writer.Execute(image)
    return folder


def test_the_intact_series_reads(tmp_path: Path) -> None:
    assert load_volume(_series(tmp_path / "ct"), normalize=False).shape == (SLICES, 16, 16)


def test_a_cut_off_slice_is_refused_not_dropped(tmp_path: Path) -> None:
    folder = _series(tmp_path / "ct")
    victim = folder / "s03.dcm"
    victim.write_bytes(victim.read_bytes()[:-300])
    with pytest.raises(DataError, match=r"s03\.dcm.*truncated pixel data"):
        load_volume(folder)


def test_a_slice_with_half_its_pixels_is_refused_not_zero_filled(tmp_path: Path) -> None:
    folder = _series(tmp_path / "ct")
    victim = folder / "s05.dcm"
    victim.write_bytes(victim.read_bytes()[: -16 * 16])  # half of 16×16×2 bytes
    with pytest.raises(DataError, match=r"s05\.dcm.*need 512 bytes, the file holds 256"):
        load_volume(folder)


def test_a_missing_slice_is_refused(tmp_path: Path) -> None:
    folder = _series(tmp_path / "ct")
    (folder / "s04.dcm").unlink()
    with pytest.raises(DataError, match=r"about 1 slice\(s\) missing between s03\.dcm and s05\.dcm"):
        load_volume(folder)


def test_a_duplicated_slice_is_refused(tmp_path: Path) -> None:
    folder = _series(tmp_path / "ct")
    shutil.copy(folder / "s02.dcm", folder / "copy.dcm")
    with pytest.raises(DataError, match="lie at the same position"):
        load_volume(folder)


def test_uneven_spacing_is_refused(tmp_path: Path) -> None:
    folder = _series(tmp_path / "ct", positions=[0, 2, 4, 6, 7.3, 9.3, 11.3, 13.3])
    with pytest.raises(DataError, match="unevenly spaced"):
        load_volume(folder)


def test_a_duplicated_instance_number_is_refused(tmp_path: Path) -> None:
    folder = _series(tmp_path / "ct", numbers=[1, 2, 3, 4, 4, 6, 7, 8])
    with pytest.raises(DataError, match="instance number 4 appears twice"):
        load_volume(folder)


def test_a_gap_in_instance_numbers_is_refused(tmp_path: Path) -> None:
    folder = _series(tmp_path / "ct", numbers=[1, 2, 3, 4, 6, 7, 8, 9])
    with pytest.raises(DataError, match="lack 5"):
        load_volume(folder)


def test_a_file_that_is_not_dicom_is_named(tmp_path: Path) -> None:
    folder = _series(tmp_path / "ct")
    (folder / "notes.dcm").write_text("not a slice")
    with pytest.raises(DataError, match=r"notes\.dcm: no DICM preamble"):
        load_volume(folder)


def _hand_made(path: Path, syntax: str, rows: int, columns: int, pixel_bytes: int) -> Path:
    """A minimal DICOM file: meta group, rows/columns/bits, then pixel data of ``pixel_bytes``."""

    def explicit(group: int, element: int, vr: bytes, value: bytes) -> bytes:
        if len(value) % 2:
            value += b"\0"
        return struct.pack("<HH", group, element) + vr + struct.pack("<H", len(value)) + value

    meta = explicit(0x0002, 0x0010, b"UI", syntax.encode())
    body = (
        explicit(0x0028, 0x0002, b"US", struct.pack("<H", 1))
        + explicit(0x0028, 0x0010, b"US", struct.pack("<H", rows))
        + explicit(0x0028, 0x0011, b"US", struct.pack("<H", columns))
        + explicit(0x0028, 0x0100, b"US", struct.pack("<H", 16))
        + struct.pack("<HH", 0x7FE0, 0x0010) + b"OW\0\0" + struct.pack("<I", rows * columns * 2)
        + bytes(pixel_bytes)
    )  # fmt: skip
    path.write_bytes(bytes(128) + b"DICM" + meta + body)
    return path


def test_a_tiny_file_claiming_a_huge_slice_is_refused_before_decoding(tmp_path: Path) -> None:
    path = _hand_made(tmp_path / "claim.dcm", "1.2.840.10008.1.2.1", 11585, 11585, 300)
    assert path.stat().st_size < 700
    with pytest.raises(DataError, match="truncated pixel data"):
        load_volume(path)


def test_a_slice_over_the_byte_cap_is_refused_on_its_header(tmp_path: Path) -> None:
    path = _hand_made(tmp_path / "big.dcm", "1.2.840.10008.1.2.1", 2048, 2048, 0)
    with pytest.raises(VolumeTooLarge, match="refusing to decode"):
        load_volume(path, limits=ReadLimits(max_bytes=2**20))


def test_a_deflated_slice_in_a_series_is_refused_before_any_scan(tmp_path: Path) -> None:
    folder = _series(tmp_path / "ct")
    _hand_made(folder / "zz.dcm", "1.2.840.10008.1.2.1.99", 16, 16, 512)
    with pytest.raises(DataError, match=r"zz\.dcm.*deflated"):
        load_volume(folder)
