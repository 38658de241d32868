"""The vision pipeline end to end against the composed references of eq. 3–19 (`equation_reference.py`).

The encoder is replaced by fixed slice features so that the test controls F exactly; the patch grid
is not square (H' ≠ W'), so a reshape that swaps rows and columns changes the result.
"""

import pytest
import torch
from torch import nn

import equation_reference as ref
from slicevlm.vision.pipeline import VisionPipeline


class FixedFeatures(nn.Module):
    """Stands in for the frozen slice encoder: returns the given F (B, D, N, C) for any volume."""

    def __init__(self, features: torch.Tensor, grid_size: tuple[int, int]) -> None:
        super().__init__()
        assert features.shape[2] == grid_size[0] * grid_size[1]
        self.register_buffer("features", features)
        self.grid_size = grid_size
        self.width = features.shape[-1]

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        return self.features


def _pipeline(batch: int, depth: int, grid_size: tuple[int, int], channels: int, seed: int, **options) -> VisionPipeline:
    generator = torch.Generator().manual_seed(seed)
    tokens = grid_size[0] * grid_size[1]
    features = torch.randn(batch, depth, 1, channels, generator=generator).cumsum(dim=1) * 0.3
    features = features + torch.randn(batch, depth, tokens, channels, generator=generator)  # (B, D, N, C)
    pipeline = VisionPipeline(FixedFeatures(features, grid_size), **options)
    ref.randomize_(pipeline.fusion, seed=seed + 1)
    ref.randomize_(pipeline.injection, seed=seed + 2)
    return pipeline


def _run(pipeline: VisionPipeline) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens, kept indices and the grid the fusion module received."""
    seen = []
    hook = pipeline.fusion.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        out = pipeline(torch.zeros(pipeline.encoder.features.shape[:2]))
    finally:
        hook.remove()
    return out.tokens, out.kept_slices, seen[0]


@pytest.mark.parametrize("grid_size", [(3, 5), (5, 3), (4, 6)])
def test_kept_slices_are_reshaped_row_major_into_the_grid(grid_size):
    """Grid (B, C, D̂, H', W') with grid[b, c, z, y, x] = kept[b, z, y·W' + x, c]."""
    pipeline = _pipeline(2, 12, grid_size, 8, seed=1)
    _, indices, grid = _run(pipeline)
    features = pipeline.encoder.features
    for b in range(2):
        keep = ref.kept_slices(features[b], 3)  # ⌊12·0.28⌋ = 3
        assert indices[b].tolist() == keep
        expected = ref.slice_grid(features[b, keep][None], *grid_size)  # (1, C, 3, H', W')
        torch.testing.assert_close(grid[b : b + 1].double(), expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"injection": "local", "injection_heads": 2},
        {"selection": "uniform", "injection": "none"},
    ],
    ids=["defaults", "local-2-heads", "uniform-no-injection"],
)
def test_tokens_follow_the_composed_equations(options):
    """Selection → reshape → fusion → injection, each by its reference; D = 15 keeps 4, grid 4×4×6 → 2·2·3 tokens."""
    pipeline = _pipeline(2, 15, (4, 6), 8, seed=4, **options)
    tokens, _, _ = _run(pipeline)
    features = pipeline.encoder.features
    expected = []
    for b in range(2):
        if options.get("selection") == "uniform":
            keep = ref.uniform_slices(15, 4)
        else:
            keep = ref.kept_slices(features[b], 4)
        grid = ref.slice_grid(features[b, keep][None], 4, 6)
        expected.append(ref.injection(ref.fusion(grid, pipeline.fusion), pipeline.injection)[0])
    assert tokens.shape == (2, 2 * 2 * 3, 8)
    torch.testing.assert_close(tokens.double(), torch.cat(expected), rtol=1e-4, atol=1e-5)


def test_paper_shapes_give_343_tokens():
    """50 slices of 14×14 patches: ρ = 0.28 keeps 14, s = 2 leaves 7³ = 343 tokens (small C)."""
    pipeline = _pipeline(1, 50, (14, 14), 8, seed=3)
    assert pipeline.token_count(50) == 343
    tokens, indices, grid = _run(pipeline)
    assert tokens.shape == (1, 343, 8)
    assert grid.shape == (1, 8, 14, 14, 14)
    features = pipeline.encoder.features
    keep = ref.kept_slices(features[0], 14)
    assert indices[0].tolist() == keep
    fused = ref.fusion(ref.slice_grid(features[0, keep][None], 14, 14), pipeline.fusion)
    expected, _ = ref.injection(fused, pipeline.injection)
    torch.testing.assert_close(tokens.double(), expected, rtol=1e-4, atol=1e-5)
