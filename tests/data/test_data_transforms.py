"""The model-size transform, orientation and intensity (docs/method.md#input-and-preprocessing)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from slicevlm.io.errors import DataError
from slicevlm.io.transforms import (
    crop_foreground,
    normalize_intensity,
    reorient_to_axis,
    resize_exact,
    resize_to_model,
)


def test_m3d_volume_to_model_size() -> None:
    volume = np.random.default_rng(0).random((32, 256, 256), dtype=np.float32)
    out = resize_to_model(volume, (50, 224, 224))
    assert out.shape == (50, 224, 224) and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_resize_is_fast() -> None:
    """(32, 256, 256) -> (50, 224, 224) well under 100 ms on CPU (median of 5)."""
    volume = np.random.default_rng(0).random((32, 256, 256), dtype=np.float32)
    resize_to_model(volume)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        resize_to_model(volume)
        times.append(time.perf_counter() - start)
    assert sorted(times)[2] < 0.1, times


def test_depth_is_resampled_linearly_in_order() -> None:
    """Slice order survives (selection depends on z order); a linear ramp stays linear inside."""
    volume = np.broadcast_to(np.arange(8, dtype=np.float32)[:, None, None], (8, 4, 4))
    out = resize_to_model(volume, (15, 4, 4))[:, 0, 0].numpy()
    assert np.all(np.diff(out) >= 0)
    assert out[0] == pytest.approx(0.0) and out[-1] == pytest.approx(7.0)
    inner = out[2:-2]
    np.testing.assert_allclose(np.diff(inner), np.diff(inner).mean(), atol=1e-5)


def test_shorter_side_then_centre_crop() -> None:
    """A 20x40 slice goes to 10x20 (shorter side 10), and the centre 10 columns are kept."""
    columns = np.broadcast_to(np.arange(40, dtype=np.float32), (4, 20, 40))
    out = resize_to_model(columns, (4, 10, 10))
    assert out.shape == (4, 10, 10)
    centre = out[0, 0].numpy()  # the original columns 10..29 at half resolution
    assert 10 <= centre[0] < centre[-1] <= 30
    assert centre.mean() == pytest.approx(19.5, abs=0.5)


def test_upsampling_in_plane() -> None:
    assert resize_to_model(np.ones((3, 5, 9), np.float32), (6, 8, 8)).shape == (6, 8, 8)


def test_resize_exact_keeps_no_aspect() -> None:
    assert resize_exact(np.zeros((10, 30, 60), np.float32), (32, 16, 16)).shape == (32, 16, 16)


def test_reorient_axes() -> None:
    volume = np.zeros((4, 5, 6), np.float32)  # (z, y, x); z grows superior
    volume[-1] = 1.0  # most superior axial slice
    coronal = reorient_to_axis(volume, "coronal")
    sagittal = reorient_to_axis(volume, "sagittal")
    assert coronal.shape == (5, 4, 6) and sagittal.shape == (6, 4, 5)
    assert coronal[:, 0].min() == 1.0 and sagittal[:, 0].min() == 1.0  # superior at the top row
    assert reorient_to_axis(volume, "axial").shape == (4, 5, 6)


def test_ct_window() -> None:
    hu = np.linspace(-1000, 1000, 60, dtype=np.float32).reshape(3, 4, 5)
    out = normalize_intensity(hu, window=(40, 400))
    assert out.min() == 0.0 and out.max() == 1.0
    assert (out == 0.0).sum() > 1 and (out == 1.0).sum() > 1  # clipped both sides
    with pytest.raises(ValueError, match="width"):
        normalize_intensity(hu, window=(40, 0))


def test_constant_names_the_source() -> None:
    with pytest.raises(DataError, match="scan.npy: constant volume"):
        normalize_intensity(np.ones((2, 2, 2)), source="scan.npy")


def test_crop_foreground() -> None:
    volume = np.zeros((6, 8, 8), np.float32)
    volume[2:4, 1:5, 3:7] = 1.0
    assert crop_foreground(volume).shape == (2, 4, 4)
    assert crop_foreground(np.zeros((2, 3, 4))).shape == (2, 3, 4)
