"""Spatial–frequency fusion against the plain reference of eq. 8–13 (`equation_reference.py`).

Grids are small and asymmetric — (D̂, H', W') = (4, 5, 6) or (3, 4, 7) — so an FFT over fewer axes
or a transposed axis changes the result; every parameter is redrawn so the two spectrum convolutions,
the gate halves and all biases differ.
"""

import pytest
import torch

import equation_reference as ref
from slicevlm.vision.fusion import FrequencyPath, SpatialFrequencyFusion

SIZES = [(2, 8, 4, 5, 6), (1, 12, 3, 4, 7)]  # (B, C, D̂, H', W')


def _grid(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", SIZES)
def test_spatial_path_is_a_3x3x3_convolution(shape):
    """Eq. 8 (the "spatial" ablation returns F_spa alone)."""
    module = ref.randomize_(SpatialFrequencyFusion(shape[1], mode="spatial"), seed=1)
    grid = _grid(shape, seed=2)
    expected = ref.conv3x3x3(ref.as64(grid), module.spatial.weight, module.spatial.bias)
    torch.testing.assert_close(module(grid).double(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", SIZES)
def test_frequency_path_filters_the_orthonormal_3d_spectrum(shape):
    """Eq. 9–11: 3D DFT over (D̂, H', W'), own conv per real/imaginary part, inverse DFT, real part."""
    path = ref.randomize_(FrequencyPath(shape[1]), seed=3)
    grid = _grid(shape, seed=4)
    expected = ref.frequency_path(ref.as64(grid), path.real_conv, path.imag_conv)
    torch.testing.assert_close(path(grid).double(), expected, rtol=1e-4, atol=1e-5)


def test_frequency_ablation_returns_the_frequency_path():
    module = ref.randomize_(SpatialFrequencyFusion(8, mode="frequency"), seed=5)
    grid = _grid((1, 8, 4, 5, 6), seed=6)
    expected = ref.frequency_path(ref.as64(grid), module.frequency.real_conv, module.frequency.imag_conv)
    torch.testing.assert_close(module(grid).double(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", SIZES)
def test_gated_fusion_matches_eq_8_to_13(shape):
    """F_SF = α·F_spa + (1 − α)·F_freq with α = σ(W_g [F_spa; F_freq]) — the default mode."""
    module = ref.randomize_(SpatialFrequencyFusion(shape[1]), seed=7)
    with torch.no_grad():
        module.gate.weight.mul_(4.0)  # α spread well away from ½, so a swapped gate shows
    grid = _grid(shape, seed=8)
    expected = ref.fusion(grid, module)
    torch.testing.assert_close(module(grid).double(), expected, rtol=1e-4, atol=1e-5)


def test_fft_runs_in_fp32_with_orthonormal_scaling(monkeypatch):
    """A bf16 grid is transformed in fp32 both ways, with norm="ortho", over the three grid axes."""
    calls = []

    def spy(name, original):
        def wrapped(x, *args, **kwargs):
            dims = tuple(d % x.ndim for d in kwargs.get("dim", ()))
            calls.append((name, x.dtype, kwargs.get("norm"), dims))
            return original(x, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(torch.fft, "fftn", spy("fftn", torch.fft.fftn))
    monkeypatch.setattr(torch.fft, "ifftn", spy("ifftn", torch.fft.ifftn))
    path = FrequencyPath(4).to(torch.bfloat16)
    out = path(_grid((1, 4, 3, 5, 6), seed=9).to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and out.shape == (1, 4, 3, 5, 6)
    assert calls == [
        ("fftn", torch.float32, "ortho", (2, 3, 4)),
        ("ifftn", torch.complex64, "ortho", (2, 3, 4)),
    ]


def test_bf16_frequency_path_stays_close_to_the_fp64_reference():
    """The bf16 module computes the same equation (to bf16 precision) as the reference."""
    path = ref.randomize_(FrequencyPath(8), seed=10).to(torch.bfloat16)
    grid = _grid((1, 8, 4, 5, 6), seed=11).to(torch.bfloat16)
    expected = ref.frequency_path(ref.as64(grid), path.real_conv, path.imag_conv)
    torch.testing.assert_close(path(grid).double(), expected, rtol=5e-2, atol=5e-2)
