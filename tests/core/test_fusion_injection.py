"""Spatial–frequency fusion (eq. 6–13) and fine-grained feature injection (eqs. 15–19)."""

import pytest
import torch

from slicevlm.vision.fusion import FrequencyPath, SpatialFrequencyFusion
from slicevlm.vision.injection import FeatureInjection, downsample
from slicevlm.vision.projector import VisualProjector


def _identity_conv_(conv: torch.nn.Conv3d) -> None:
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :, 0, 0, 0] = torch.eye(conv.weight.shape[0])
        conv.bias.zero_()


def test_frequency_path_with_identity_convs_returns_its_input():
    path = FrequencyPath(6)
    _identity_conv_(path.real_conv)
    _identity_conv_(path.imag_conv)
    grid = torch.randn(2, 6, 5, 4, 3)
    assert torch.allclose(path(grid), grid, atol=1e-5)


def test_frequency_path_runs_fft_in_fp32_for_bf16_input():
    path = FrequencyPath(4).to(torch.bfloat16)
    out = path(torch.randn(1, 4, 14, 14, 14, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16 and out.shape == (1, 4, 14, 14, 14)


def test_gate_is_strictly_between_zero_and_one_and_mixes_the_paths():
    torch.manual_seed(0)
    fusion = SpatialFrequencyFusion(8)
    grid = torch.randn(2, 8, 4, 4, 4) * 10
    spatial, frequency = fusion.spatial(grid), fusion.frequency(grid)
    alpha = fusion.gate_weights(spatial, frequency)
    assert torch.all(alpha > 0) and torch.all(alpha < 1)
    assert torch.allclose(fusion(grid), alpha * spatial + (1 - alpha) * frequency, atol=1e-5)


@pytest.mark.parametrize("mode", ["spatial", "frequency"])
def test_single_path_ablations(mode):
    fusion = SpatialFrequencyFusion(8, mode)
    grid = torch.randn(1, 8, 4, 4, 4)
    expected = fusion.spatial(grid) if mode == "spatial" else fusion.frequency(grid)
    assert torch.allclose(fusion(grid), expected)
    assert fusion.gate is None


def test_local_injection_never_attends_outside_a_querys_children():
    torch.manual_seed(0)
    injection = FeatureInjection(8, downsample_factor=2, region="local")
    grid = torch.randn(1, 8, 4, 4, 4)
    before, _ = injection(grid)
    # Perturb one high-resolution voxel: child of low-res query (0,0,0) only.
    perturbed = grid.clone()
    perturbed[0, :, 1, 0, 1] += 5.0
    after, _ = injection(perturbed)
    changed = (after - before).abs().sum(dim=-1)[0]  # (M',)
    assert changed[0] > 1e-4
    # The key/value side of every other query is untouched. Their queries come from the trilinear
    # downsample, which for s=2 averages exactly the same 2×2×2 block, so nothing else may move.
    assert torch.all(changed[1:] < 1e-6)


def test_global_injection_sees_every_position():
    torch.manual_seed(0)
    injection = FeatureInjection(8, region="global")
    grid = torch.randn(1, 8, 4, 4, 4)
    before, _ = injection(grid)
    perturbed = grid.clone()
    perturbed[0, :, 3, 3, 3] += 5.0
    after, _ = injection(perturbed)
    assert torch.all((after - before).abs().sum(dim=-1) > 1e-6)


def test_attention_weights_match_the_fused_kernel_and_sum_to_one():
    injection = FeatureInjection(16, region="global", heads=4)
    grid = torch.randn(2, 16, 4, 6, 6)
    fused_tokens, _ = injection(grid)
    tokens, attention = injection(grid, return_attention=True)
    assert torch.allclose(tokens, fused_tokens, atol=1e-5)
    assert attention.shape == (2, 4, 2 * 3 * 3, 4 * 6 * 6)
    assert torch.allclose(attention.sum(-1), torch.ones(2, 4, 18), atol=1e-5)


def test_trilinear_downsample_by_two_is_block_average():
    grid = torch.randn(1, 3, 4, 4, 4)
    blocks = grid.view(1, 3, 2, 2, 2, 2, 2, 2).mean(dim=(3, 5, 7))
    assert torch.allclose(downsample(grid, 2), blocks, atol=1e-6)


def test_no_injection_returns_the_downsampled_grid():
    injection = FeatureInjection(8, region="none")
    grid = torch.randn(1, 8, 4, 4, 4)
    tokens, _ = injection(grid)
    assert torch.allclose(tokens, downsample(grid, 2).flatten(2).transpose(1, 2))


def test_local_region_refuses_sides_not_divisible_by_s():
    with pytest.raises(ValueError, match="divisible by s=2"):
        FeatureInjection(8, region="local")(torch.randn(1, 8, 7, 4, 4))


@pytest.mark.parametrize("tokens, channels, expected", [(196, 768, 343), (256, 1024, 7 * 8 * 8), (49, 768, 7 * 3 * 3)])
def test_paper_shapes_for_other_encoders(tokens, channels, expected):
    """The modules follow N and C: ViT-B/16 (196×768), ViT-L/14 (256×1024), ViT-B/32 (49×768)."""
    side = int(tokens**0.5)
    grid = torch.randn(1, channels, 14, side, side)
    fused = SpatialFrequencyFusion(channels)(grid)
    out, _ = FeatureInjection(channels)(fused)
    assert out.shape == (1, expected, channels)
    assert VisualProjector(channels, 32)(out).shape == (1, expected, 32)
