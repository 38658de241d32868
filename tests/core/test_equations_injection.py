"""Feature injection and the projector against the plain reference of eqs. 15–21 (`equation_reference.py`).

High-resolution grids are asymmetric, (D̂, H', W') = (4, 6, 8) → 2×3×4 = 24 queries, so that keys
from the wrong grid, a transposed token order or a lost scale all change the numbers.
"""

import pytest
import torch

import equation_reference as ref
from slicevlm.vision.injection import FeatureInjection
from slicevlm.vision.projector import VisualProjector


def _grid(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 1.5


def _check(module: FeatureInjection, grid: torch.Tensor) -> None:
    """Both forward paths (fused kernel; explicit weights) match the reference tokens and weights."""
    expected_tokens, expected_weights = ref.injection(grid, module)
    tokens, _ = module(grid)
    torch.testing.assert_close(tokens.double(), expected_tokens, rtol=1e-4, atol=1e-5)
    tokens, weights = module(grid, return_attention=True)
    torch.testing.assert_close(tokens.double(), expected_tokens, rtol=1e-4, atol=1e-5)
    if expected_weights is None:
        assert weights is None
    else:
        torch.testing.assert_close(weights.double(), expected_weights, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 8, 4, 6, 8), (1, 12, 6, 4, 2)])
def test_global_injection_matches_eq_14_to_19(shape):
    """Default: s = 2, one head, every query sees every high-res position, scale 1/√C, no residual."""
    module = ref.randomize_(FeatureInjection(shape[1]), seed=1)
    _check(module, _grid(shape, seed=2))


def test_global_injection_on_odd_sides_downsamples_trilinearly():
    """⌊n/s⌋ per axis with trilinear weights (not a block mean) when a side is odd: 5×7×3 → 2×3×1."""
    module = ref.randomize_(FeatureInjection(8), seed=3)
    _check(module, _grid((1, 8, 5, 7, 3), seed=4))


def test_multi_head_injection_splits_channels_into_contiguous_heads():
    """heads = 4: head j reads channels [j·C/4, (j+1)·C/4) with the scale 1/√(C/4)."""
    module = ref.randomize_(FeatureInjection(16, heads=4), seed=5)
    _check(module, _grid((2, 16, 4, 6, 8), seed=6))


@pytest.mark.parametrize("heads", [1, 2])
def test_local_injection_attends_to_each_querys_own_children(heads):
    """region="local": the query at (z, y, x) sees only (2z+a, 2y+b, 2x+c), a, b, c ∈ {0, 1}."""
    module = ref.randomize_(FeatureInjection(8, region="local", heads=heads), seed=7)
    _check(module, _grid((2, 8, 4, 6, 8), seed=8))


def test_no_injection_returns_the_trilinear_low_grid():
    """Table 8 ablation: the projector reads F_low (eq. 15) in raster order."""
    _check(FeatureInjection(8, region="none"), _grid((2, 8, 4, 6, 8), seed=9))


def test_paper_grid_gives_343_tokens_matching_the_reference():
    """14³ positions → 7³ = 343 tokens (small C keeps the reference cheap)."""
    module = ref.randomize_(FeatureInjection(8), seed=10)
    grid = _grid((1, 8, 14, 14, 14), seed=11)
    tokens, _ = module(grid)
    assert tokens.shape == (1, 343, 8)
    expected, _ = ref.injection(grid, module)
    torch.testing.assert_close(tokens.double(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("channels, width", [(8, 12), (16, 24)])
def test_projector_is_linear_gelu_linear(channels, width):
    """Eq. 19–21 per token, exact (erf) GELU."""
    projector = ref.randomize_(VisualProjector(channels, width), seed=12)
    tokens = _grid((2, 24, channels), seed=13)
    expected = ref.projector(tokens, projector.layers[0], projector.layers[2])
    torch.testing.assert_close(projector(tokens).double(), expected, rtol=1e-4, atol=1e-5)
