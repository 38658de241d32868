"""load_volume over every format, and every refusal naming the file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from slicevlm.io.errors import DataError
from slicevlm.io.readers import MAX_VOXELS, load_volume


@pytest.fixture
def array() -> np.ndarray:
    return np.random.default_rng(0).random((6, 8, 10), dtype=np.float32)  # (z, y, x)


def _raises(path: Path, *fragments: str, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_volume(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha", ".mhd"])
def test_simpleitk_formats_round_trip(tmp_path: Path, array: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"volume{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    np.testing.assert_allclose(load_volume(path, normalize=False), array)
    loaded = load_volume(path)
    assert loaded.dtype == np.float32 and loaded.min() == 0.0 and loaded.max() == 1.0


def test_npy_m3d_and_plain(tmp_path: Path, array: np.ndarray) -> None:
    np.save(tmp_path / "m3d.npy", array[None])  # (1, D, H, W)
    np.save(tmp_path / "plain.npy", array.astype(np.float64))
    np.testing.assert_allclose(load_volume(tmp_path / "m3d.npy", normalize=False), array)
    np.testing.assert_allclose(load_volume(tmp_path / "plain.npy", normalize=False), array, rtol=1e-6)


def test_reorientation_to_lps(tmp_path: Path, array: np.ndarray) -> None:
    """The same anatomy stored with x flipped (RAS-like direction) reads as the same LPS array."""
    plain = sitk.GetImageFromArray(array)
    flipped = sitk.GetImageFromArray(array[:, :, ::-1].copy())
    flipped.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
    flipped.SetOrigin((array.shape[2] - 1.0, 0.0, 0.0))
    sitk.WriteImage(plain, str(tmp_path / "plain.nii.gz"))
    sitk.WriteImage(flipped, str(tmp_path / "flipped.nii.gz"))
    np.testing.assert_allclose(load_volume(tmp_path / "flipped.nii.gz"), load_volume(tmp_path / "plain.nii.gz"))


def test_slicing_axes(tmp_path: Path, array: np.ndarray) -> None:
    np.save(tmp_path / "v.npy", array)
    assert load_volume(tmp_path / "v.npy", axis="coronal").shape == (8, 6, 10)
    assert load_volume(tmp_path / "v.npy", axis="sagittal").shape == (10, 6, 8)
    with pytest.raises(ValueError, match="Did you mean 'coronal'"):
        load_volume(tmp_path / "v.npy", axis="coronl")


def test_dicom_series(tmp_path: Path) -> None:
    volume = (np.random.default_rng(1).random((5, 16, 16)) * 1000).astype(np.int16)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    folder = tmp_path / "series"
    folder.mkdir()
    for i in (3, 0, 4, 1, 2):  # written out of order: GDCM sorts by position
        image = sitk.GetImageFromArray(volume[i])
        for tag, value in {
            "0020|0032": f"0\\0\\{i * 2.0}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|000e": "1.2.826.0.1.3680043.2.1125.7",
            "0020|0013": str(i + 1),
            "0008|0060": "CT",
        }.items():
            image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice_{10 - i}.dcm"))
        writer.Execute(image)
    np.testing.assert_allclose(load_volume(folder, normalize=False), volume)


def test_slice_folder_integer_order_and_common_shape(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "Axial_C__portal_venous_phase"
    folder.mkdir()
    for k in range(1, 13):  # 1.png ... 12.png: lexical order would put 10 before 2
        Image.fromarray(np.full((6, 7), k * 20, np.uint8)).save(folder / f"{k}.png")
    Image.fromarray(np.full((9, 9, 3), 255, np.uint8)).save(folder / "13.jpg")  # odd shape, RGB
    with caplog.at_level(logging.WARNING):
        volume = load_volume(folder, normalize=False)
    assert volume.shape == (12, 6, 7)
    np.testing.assert_array_equal(volume[:, 0, 0], np.arange(1, 13) * 20)
    assert "kept 12 of 13" in caplog.text


def test_single_image_is_a_single_slice(tmp_path: Path) -> None:
    path = tmp_path / "one.png"
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8)).save(path)
    _raises(path, "single slice", "whole series")
    assert load_volume(path, min_slices=1).shape == (1, 6, 8)


def test_4d_nifti_refused(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.nii.gz"
    frames = np.random.default_rng(2).random((3, 4, 5, 6), dtype=np.float32)
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(f) for f in frames]), str(path))
    _raises(path, "4D input", "time point")


def test_4d_npy_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "multi.npy", np.zeros((2, 4, 5, 6), np.float32))
    _raises(tmp_path / "multi.npy", "4D input")


def test_nan_and_inf_refused(tmp_path: Path, array: np.ndarray) -> None:
    bad = array.copy()
    bad[0, 0, :3] = np.nan
    bad[1, 1, 1] = np.inf
    np.save(tmp_path / "nan.npy", bad)
    _raises(tmp_path / "nan.npy", "3 NaN", "1 infinite")


def test_constant_volume_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "blank.npy", np.full((4, 5, 6), 7.0, np.float32))
    _raises(tmp_path / "blank.npy", "constant volume")
    _raises(tmp_path / "blank.npy", "constant volume", normalize=False)


def test_constant_after_ct_window_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "air.npy", np.random.default_rng(3).uniform(-1000, -900, (4, 5, 6)))
    _raises(tmp_path / "air.npy", "constant volume", "CT window", window=(40, 400))


def test_truncated_npy_refused(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "cut.npy"
    np.save(path, array)
    path.write_bytes(path.read_bytes()[:-40])
    _raises(path, "truncated")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mha", ".nrrd"])
def test_truncated_simpleitk_files_refused(tmp_path: Path, array: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"cut{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path), True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 60])
    _raises(path, "truncated")


def test_absurd_npy_header_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    with open(path, "wb") as handle:  # a header promising 4 PB and no data at all
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (100_000,) * 3})
    message = _raises(path, "refusing to allocate", "max_voxels")
    assert f"{MAX_VOXELS:,}" in message


def test_absurd_metaimage_header_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.mha"
    path.write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 100000 100000 100000\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n",
        encoding="utf-8",
    )
    _raises(path, "refusing to allocate")


def test_vector_image_refused(tmp_path: Path) -> None:
    path = tmp_path / "rgb.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5, 3), np.uint8), isVector=True), str(path))
    _raises(path, "3 components")


def test_object_npy_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _raises(tmp_path / "objects.npy", "dtype object")


def test_unknown_format_names_the_readers_tried(tmp_path: Path) -> None:
    path = tmp_path / "volume.xyz"
    path.write_bytes(b"????")
    _raises(
        path,
        "no reader can read",
        "NumpyReader",
        "SimpleITKReader",
        "DicomSeriesReader",
        "SliceFolderReader",
        "convert",
    )
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    _raises(empty, "no reader can read this folder")


def test_missing_file(tmp_path: Path) -> None:
    _raises(tmp_path / "absent.npy", "no such file", "data_root")


def test_corrupt_slice_named(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    for k in (1, 2, 3):
        Image.fromarray(np.full((6, 7), k * 20, np.uint8)).save(folder / f"{k}.png")
    good = (folder / "2.png").read_bytes()
    (folder / "2.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="2.png"):
        load_volume(folder)
