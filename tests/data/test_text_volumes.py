"""NRRD and MetaImage are parsed and decoded by the project: same arrays and geometry as SimpleITK.

SimpleITK writes the files here (every byte order, compression, detached and attached layout, 48
axis orientations and oblique ones); the project's reader must return exactly what SimpleITK's own
reader + ``DICOMOrient`` return, without SimpleITK ever opening the file in the product code.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from slicevlm.io.errors import DataError, VolumeTooLarge
from slicevlm.io.geometry import read_geometry
from slicevlm.io.limits import ReadLimits
from slicevlm.io.readers import load_volume
from slicevlm.io.sitk_readers import SimpleITKReader, orientation_steps
from slicevlm.io.text_volumes import read_text_header

sitk = pytest.importorskip("SimpleITK")

SIGNED_PERMUTATIONS = [
    tuple(
        float(signs[c] if perm[c] == r else 0.0)
        for r in range(3)
        for c in range(3)
    )
    for perm in itertools.permutations(range(3))
    for signs in itertools.product((1.0, -1.0), repeat=3)
]


def _oblique(seed: int) -> tuple[float, ...]:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return tuple(float(v) for v in q.reshape(-1))


def _itk_reference(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    image = sitk.DICOMOrient(sitk.ReadImage(str(path)), "LPS")
    x, y, z = image.GetSpacing()
    return sitk.GetArrayFromImage(image), (z, y, x)


def _write(tmp_path: Path, name: str, array: np.ndarray, direction, spacing=(0.7, 0.8, 2.5), compress=False) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin((-12.5, 3.0, 40.0))
    image.SetDirection(direction)
    path = tmp_path / name
    sitk.WriteImage(image, str(path), compress)
    return path


@pytest.mark.parametrize("direction_index", range(len(SIGNED_PERMUTATIONS)))
def test_every_axis_orientation_matches_dicom_orient(direction_index: int) -> None:
    direction = SIGNED_PERMUTATIONS[direction_index]
    volume = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    order, flips = orientation_steps(direction)
    image = sitk.GetImageFromArray(volume)
    image.SetDirection(direction)
    expected = sitk.GetArrayFromImage(sitk.DICOMOrient(image, "LPS"))
    turned = volume.transpose(order)[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    np.testing.assert_array_equal(turned, expected)


@pytest.mark.parametrize(
    ("name", "dtype", "compress", "direction"),
    [
        ("a.nrrd", np.int16, False, SIGNED_PERMUTATIONS[0]),
        ("b.nrrd", np.float32, True, SIGNED_PERMUTATIONS[13]),
        ("c.nhdr", np.uint8, False, SIGNED_PERMUTATIONS[29]),
        ("d.nhdr", np.float64, True, _oblique(1)),
        ("e.mha", np.int16, False, SIGNED_PERMUTATIONS[7]),
        ("f.mha", np.uint16, True, _oblique(2)),
        ("g.mhd", np.float32, False, SIGNED_PERMUTATIONS[40]),
        ("h.mhd", np.int32, True, SIGNED_PERMUTATIONS[45]),
        ("i.nrrd", np.int8, True, _oblique(3)),
    ],
)
def test_files_simpleitk_writes_read_as_simpleitk_reads_them(tmp_path: Path, name: str, dtype, compress: bool, direction) -> None:
    volume = (np.random.default_rng(0).random((6, 9, 11)) * 100).astype(dtype)
    path = _write(tmp_path, name, volume, direction, compress=compress)
    expected, spacing = _itk_reference(path)
    got = SimpleITKReader().read(path)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert got.flags.writeable
    np.testing.assert_allclose(read_geometry(path).spacing_zyx, spacing, rtol=1e-6)
    kept = SimpleITKReader(reorient="none").read(path)
    np.testing.assert_array_equal(kept, volume)


def test_big_endian_and_text_encodings(tmp_path: Path) -> None:
    volume = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4) - 7
    base = "NRRD0004\ntype: short\ndimension: 3\nsizes: 4 3 2\n"
    (tmp_path / "be.nrrd").write_bytes((base + "endian: big\nencoding: raw\n\n").encode() + volume.astype(">i2").tobytes())
    (tmp_path / "ascii.nrrd").write_bytes((base + "encoding: ascii\n\n").encode() + " ".join(map(str, volume.ravel())).encode())
    (tmp_path / "hex.nrrd").write_bytes((base + "endian: little\nencoding: hex\n\n").encode() + volume.astype("<i2").tobytes().hex().encode())
    for name in ("be.nrrd", "ascii.nrrd", "hex.nrrd"):
        np.testing.assert_array_equal(SimpleITKReader(reorient="none").read(tmp_path / name), volume, err_msg=name)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ("spacings: -1 -1 -1\n", "expected a positive voxel size"),
        ("spacings: 1 0 1\n", "expected a positive voxel size"),
        ("spacings: 1 inf 1\n", "finite numbers"),
        ("space: left-posterior-superior\nspace directions: (1,0,0) (0,0,0) (0,0,1)\n", "positive voxel size"),
        ("space directions: (1,0,0) (0,1,0)\n", "expected 3"),
        ("sizes: 4 4 4\n", "given twice"),
        ("colour: red\n", "unknown NRRD field"),
        ("line skip: 2\n", "'line skip' is not supported"),
    ],
)
def test_bad_nrrd_fields_refused_with_a_reason(tmp_path: Path, fields: str, fragment: str) -> None:
    path = tmp_path / "bad.nrrd"
    path.write_bytes(f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n{fields}\n".encode() + bytes(64))
    with pytest.raises(DataError, match="bad.nrrd") as info:
        load_volume(path)
    assert fragment in str(info.value)


def test_truncated_pixels_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.nrrd"
    path.write_bytes(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\n" + bytes(63))
    with pytest.raises(DataError, match="truncated"):
        load_volume(path)


def test_byte_cap_is_checked_on_the_header(tmp_path: Path) -> None:
    path = tmp_path / "big.nrrd"
    path.write_bytes(b"NRRD0004\ntype: double\ndimension: 3\nsizes: 64 64 64\nendian: little\nencoding: gzip\n\n")
    with pytest.raises(VolumeTooLarge, match="2,097,152 bytes"):
        read_text_header(path, ReadLimits(max_bytes=2**20))


def test_a_gzip_stream_longer_than_announced_is_decoded_only_as_far_as_announced(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "bomb.nrrd"
    body = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)  # 64 MiB of zeros in ~64 KB
    path.write_bytes(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 8 8 8\nencoding: gzip\n\n" + body)
    assert SimpleITKReader().read(path).shape == (8, 8, 8)
