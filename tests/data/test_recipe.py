"""The preprocessing recipe: windows by preset or value, crop, spacing-aware depth, the record it returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slicevlm.io.geometry import Geometry, read_geometry
from slicevlm.io.recipe import (
    WINDOW_PRESETS,
    PreprocessingRecipe,
    apply_recipe,
    checkpoint_recipe,
    oriented_spacing,
    overrides_from_fields,
    parse_window,
    recipe_from_data_config,
)
from slicevlm.errors import ConfigError


def hu_phantom(shape: tuple[int, int, int] = (20, 32, 32)) -> np.ndarray:
    """Air (-1000 HU) around a body of soft tissue (40 HU) with a bone rod (1000 HU)."""
    volume = np.full(shape, -1000.0, dtype=np.float32)
    volume[:, 6:26, 6:26] = 40.0
    volume[:, 14:18, 14:18] = 1000.0
    volume[:, 8:12, 8:12] = 80.0  # a lesion, brighter than the soft tissue by 40 HU
    return volume


def test_presets_explicit_and_none():
    assert WINDOW_PRESETS == {"abdomen": (40.0, 400.0), "lung": (-600.0, 1500.0), "bone": (400.0, 1800.0), "brain": (40.0, 80.0)}
    assert parse_window("Lung") == ((-600.0, 1500.0), "lung")
    assert parse_window("40,400") == ((40.0, 400.0), None) == parse_window(" 40/400 ")
    assert parse_window("none") == (None, None)
    with pytest.raises(ConfigError, match="Did you mean 'lung'"):
        parse_window("lungs")
    for bad in ("40,0", "40,-5", "nan,400", "1,2,3"):
        with pytest.raises(ConfigError):
            parse_window(bad)


def test_recipe_round_trip_and_checks():
    recipe = PreprocessingRecipe().override(window="bone", axis="coronal", crop="foreground", depth="spacing", slice_spacing_mm=5)
    assert PreprocessingRecipe.from_dict(recipe.to_dict()) == recipe
    assert recipe.to_dict()["window"] == {"center": 400.0, "width": 1800.0, "preset": "bone"}
    assert recipe.describe() == "window bone (400/1800), coronal, foreground crop, depth at 5 mm"
    assert recipe.override() == recipe  # None keeps every choice
    with pytest.raises(ConfigError, match="needs slice_spacing_mm"):
        PreprocessingRecipe(depth="spacing")
    with pytest.raises(ConfigError, match="ckpt/slicevlm.json 'preprocessing': .*axis='up'"):
        checkpoint_recipe({"preprocessing": {"axis": "up"}}, "ckpt/slicevlm.json")
    with pytest.raises(ConfigError, match="unknown field"):
        PreprocessingRecipe.from_dict({"windw": None})
    assert checkpoint_recipe({}) == PreprocessingRecipe()  # a folder recording no recipe: the defaults


def test_training_recipe_from_data_module_settings():
    recipe = recipe_from_data_config({"preprocessing": {"axis": "sagittal", "window": [40, 400]}, "volume_size": [8, 32, 32]})
    assert recipe == PreprocessingRecipe(window=(40.0, 400.0), window_preset="abdomen", axis="sagittal")
    assert recipe_from_data_config({"preprocessing": {"window": [50, 350]}}).window_preset is None
    assert recipe_from_data_config({"preprocessing": PreprocessingRecipe(axis="coronal")}).axis == "coronal"
    assert recipe_from_data_config({}) == PreprocessingRecipe()
    assert recipe_from_data_config({"preprocessing": {"window_preset": "abdomen"}}).window == (40.0, 400.0)
    with pytest.raises(ConfigError, match="unknown field"):
        recipe_from_data_config({"preprocessing": {"slicing_axis": "axial"}})
    with pytest.raises(ConfigError, match="data.preprocessing.axis"):  # never read as the default recipe
        recipe_from_data_config({"slicing_axis": "sagittal"})


def test_the_data_module_reads_with_its_recipe_and_refuses_what_training_cannot_do(tmp_path):
    from slicevlm.data.datamodule import M3DDataModule

    data = M3DDataModule(str(tmp_path), preprocessing=PreprocessingRecipe(axis="coronal", window=(40.0, 400.0)))
    assert data.loader.recipe.axis == "coronal" and data.loader.recipe.window == (40.0, 400.0)
    for recipe in (PreprocessingRecipe(crop="foreground"), PreprocessingRecipe(depth="spacing", slice_spacing_mm=5.0)):
        with pytest.raises(ConfigError, match="centre crop"):
            M3DDataModule(str(tmp_path), preprocessing=recipe)


def test_request_fields_are_checked_and_named():
    assert overrides_from_fields({"window": "abdomen", "axis": "Coronal", "slice_spacing": "2.5", "depth": "spacing", "crop": ""}) == {
        "window": "abdomen", "axis": "coronal", "depth": "spacing", "slice_spacing_mm": 2.5,
    }
    for fields, message in (({"window": "lungs"}, "lung"), ({"axis": "top"}, "axis"), ({"slice_spacing": "x"}, "slice_spacing"),
                            ({"depth": "deep"}, "depth"), ({"crop": ["a"]}, "crop")):
        with pytest.raises(ConfigError, match=message):
            overrides_from_fields(fields)


def test_window_changes_what_the_model_sees_and_unwindowed_hu_warns():
    volume = hu_phantom()
    raw = apply_recipe(volume, PreprocessingRecipe(), (20, 32, 32))
    windowed = apply_recipe(volume, PreprocessingRecipe().with_window("abdomen"), (20, 32, 32))
    assert raw.warnings and "raw HU" in raw.warnings[0] and "abdomen" in raw.warnings[0]
    assert windowed.warnings == []
    # min-max over -1000..1000: the 40 HU lesion contrast is 40/2000 = 0.02; inside the abdomen window it is 40/400 = 0.1
    lesion, tissue = (10, 9, 9), (10, 20, 22)
    assert float(raw.tensor[lesion] - raw.tensor[tissue]) == pytest.approx(0.02, abs=1e-4)
    assert float(windowed.tensor[lesion] - windowed.tensor[tissue]) == pytest.approx(0.1, abs=1e-4)
    assert windowed.applied["window"] == {"center": 40.0, "width": 400.0, "preset": "abdomen"}
    assert windowed.applied["intensity_range"] == [-1000.0, 1000.0]
    assert apply_recipe(np.clip(volume, 0, 1), PreprocessingRecipe(), (20, 32, 32)).warnings == []  # [0, 1] data: no warning


def test_foreground_crop_cuts_the_air_away():
    volume = hu_phantom((20, 40, 40))
    done = apply_recipe(volume, PreprocessingRecipe(window=(40.0, 400.0)), (20, 16, 16))
    cropped = apply_recipe(volume, PreprocessingRecipe(window=(40.0, 400.0), crop="foreground"), (20, 16, 16))
    assert cropped.applied["crop"] == {"mode": "foreground", "foreground_box": [[0, 20], [6, 26], [6, 26]]}
    assert float(done.tensor[:, 0, 0].max()) == 0.0 and float(cropped.tensor[:, 0, 0].min()) > 0.0  # corner: air, then body


def test_spacing_depth_takes_the_centre_slab_and_says_when_it_cannot():
    volume = np.random.default_rng(0).random((100, 16, 16)).astype(np.float32)
    recipe = PreprocessingRecipe(depth="spacing", slice_spacing_mm=2.0)
    slab = apply_recipe(volume, recipe, (10, 16, 16), spacing=(1.0, 0.8, 0.8))
    assert slab.depth_range == (40, 60) and slab.applied["depth"]["slices_used"] == [40, 60]
    assert "centre slab of 20 slices" in slab.applied["depth"]["note"]
    fixed = apply_recipe(volume, PreprocessingRecipe(), (10, 16, 16), spacing=(1.0, 0.8, 0.8))
    assert fixed.depth_range == (0, 100) and not np.allclose(fixed.tensor.numpy(), slab.tensor.numpy())
    thin = apply_recipe(volume[:12], recipe, (10, 16, 16), spacing=(1.0, 0.8, 0.8))
    assert thin.depth_range == (0, 12) and "stretched" in thin.applied["depth"]["note"]
    unknown = apply_recipe(volume, recipe, (10, 16, 16), spacing=None)
    assert unknown.depth_range == (0, 100) and any("no slice spacing" in w for w in unknown.warnings)
    assert slab.applied["resampled_size"] == [10, 16, 16] and slab.applied["read_shape"] == [100, 16, 16]


def test_reorient_none_reads_the_stored_voxel_order(tmp_path: Path):
    import nibabel as nib

    from slicevlm.io.readers import load_volume

    stored = np.random.default_rng(0).random((6, 7, 8)).astype(np.float32)  # (z, y, x) as the file stores it
    affine = np.diag([0.8, 0.9, 2.5, 1])  # RAS: LPS flips the x (R->L) and y (A->P) axes
    nib.save(nib.Nifti1Image(np.ascontiguousarray(stored.transpose(2, 1, 0)), affine), str(tmp_path / "ras.nii.gz"))
    np.testing.assert_array_equal(load_volume(tmp_path / "ras.nii.gz", normalize=False, reorient="none"), stored)
    np.testing.assert_array_equal(load_volume(tmp_path / "ras.nii.gz", normalize=False), stored[:, ::-1, ::-1])
    swapped = np.array([[0, 0.9, 0, 0], [0.8, 0, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]])  # file x (0.8 mm) runs along A, file y (0.9 mm) along R
    nib.save(nib.Nifti1Image(np.ascontiguousarray(stored.transpose(2, 1, 0)), swapped), str(tmp_path / "swapped.nii.gz"))
    assert read_geometry(tmp_path / "swapped.nii.gz", "none").spacing_zyx == pytest.approx((2.5, 0.9, 0.8))  # file (z, y, x)
    assert read_geometry(tmp_path / "swapped.nii.gz").spacing_zyx == pytest.approx((2.5, 0.8, 0.9))  # LPS: y is P, x is L
    geometry = read_geometry(tmp_path / "ras.nii.gz", "none")
    assert geometry.reorientation("none") == "none (asked): kept in the stored voxel order (RAS)"
    with pytest.raises(ConfigError, match="reorient"):
        load_volume(tmp_path / "ras.nii.gz", reorient="RAS")


def test_reorient_is_a_recorded_recipe_choice():
    recipe = PreprocessingRecipe()
    assert recipe.reorient == "LPS" and recipe.to_dict()["reorient"] == "LPS"
    stored = recipe.override(reorient="none")
    assert PreprocessingRecipe.from_dict(stored.to_dict()) == stored
    assert stored.describe().endswith(", stored voxel order") and not recipe.describe().endswith("order")
    old = {key: value for key, value in recipe.to_dict().items() if key != "reorient"}  # folders written before the choice
    assert PreprocessingRecipe.from_dict(old).reorient == "LPS"
    assert recipe.override(reorient="lps").reorient == "LPS"
    assert overrides_from_fields({"reorient": "None"}) == {"reorient": "none"}
    with pytest.raises(ConfigError, match="reorient"):
        overrides_from_fields({"reorient": "RAS"})
    with pytest.raises(ConfigError, match="reorient"):
        PreprocessingRecipe(reorient="RAS")
    volume = np.random.default_rng(1).random((4, 8, 8)).astype(np.float32)
    assert apply_recipe(volume, stored, (4, 8, 8)).applied["reorient"] == "none"


def test_geometry_of_a_nifti_and_spacing_per_axis(tmp_path: Path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((30, 20, 10), np.float32), np.diag([0.8, 0.9, 2.5, 1])), str(tmp_path / "ct.nii.gz"))
    geometry = read_geometry(tmp_path / "ct.nii.gz")
    assert geometry.orientation == "RAS" and geometry.reorientation() == "RAS -> LPS"
    assert geometry.spacing_zyx == pytest.approx((2.5, 0.9, 0.8))
    assert oriented_spacing(geometry.spacing_zyx, "coronal") == pytest.approx((0.9, 2.5, 0.8))
    assert oriented_spacing(geometry.spacing_zyx, "sagittal") == pytest.approx((0.8, 2.5, 0.9))
    np.save(tmp_path / "a.npy", np.zeros((3, 3, 3)))
    assert read_geometry(tmp_path / "a.npy") == Geometry() and "records no orientation" in Geometry().reorientation()
