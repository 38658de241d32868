"""DCFormer: a 3D encoder of decomposed convolutions (Ates et al., "DCFormer: Efficient 3D Vision-Language
Modeling with Decomposed Convolutions", 2025), Med3DVLM's image encoder.

A k×k×k convolution is replaced by three parallel 1D convolutions, k×1×1, 1×k×1 and 1×1×k, each
followed by BatchNorm, whose outputs are summed (3k weights per channel pair instead of k³). The
layout follows the encoder Med3DVLM released (its `decomp_small`):

    volume (B, 1, 128, 256, 256)
      │ stem: decomposed conv k=7, stride 4 (1 → C_stem), then three decomposed convs k=3 (C_stem → C_stem);
      │       BatchNorm in every branch, no activation (as released)                         ÷4
      ▼ stage i: max-pool 3, stride 2 + 1×1×1 conv (C_{i-1} → C_i, no bias), then depths[i] blocks
      │          x ← x + γ · MLP(DecomposedDepthwiseConv_k(x))      (MLP: C → 4C → C, GELU; γ starts at 1e-6)
      ▼ strides ÷8, ÷16, ÷32, ÷64; at 128×256×256 the last two stages are 4×8×8 = 256 positions
        × 384 channels and 2×4×4 = 32 positions × 768 channels (DCFormer-small).

DCFormer-small (Med3DVLM): stem 64 channels, depths [2, 3, 6, 2], channels [96, 192, 384, 768], kernels
13, 11, 9, 7. The released tiny is depths [2, 3, 3, 2] with the same channels; base is depths
[2, 6, 6, 2], channels [128, 256, 512, 1024]. Other sizes are other `depths` / `channels` in the config.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class DecomposedConv3d(nn.Module):
    """k×1×1 + 1×k×1 + 1×1×k convolutions, each with BatchNorm, summed: (B, C_in, D, H, W) -> (B, C_out, D', H', W').

    Args:
        in_channels, out_channels: channels in and out.
        kernel_size: the 1D kernel length k (odd: same-size padding).
        stride: the same stride on every axis for all three branches.
        depthwise: one filter per channel (groups = channels; then in_channels must equal out_channels).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, depthwise: bool = False) -> None:
        super().__init__()
        pad = kernel_size // 2
        groups = in_channels if depthwise else 1

        def branch(kernel: tuple[int, int, int], padding: tuple[int, int, int]) -> nn.Conv3d:
            return nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=padding, groups=groups)

        self.depth = branch((kernel_size, 1, 1), (pad, 0, 0))
        self.height = branch((1, kernel_size, 1), (0, pad, 0))
        self.width = branch((1, 1, kernel_size), (0, 0, pad))
        self.depth_norm = nn.BatchNorm3d(out_channels)
        self.height_norm = nn.BatchNorm3d(out_channels)
        self.width_norm = nn.BatchNorm3d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.depth_norm(self.depth(x)) + self.height_norm(self.height(x)) + self.width_norm(self.width(x))


class DCBlock(nn.Module):
    """One DCFormer block: x + γ · MLP(depthwise decomposed conv(x)), the MLP over channels."""

    def __init__(self, channels: int, kernel_size: int, mlp_ratio: int = 4, layer_scale: float = 1e-6) -> None:
        super().__init__()
        self.mixer = DecomposedConv3d(channels, channels, kernel_size, depthwise=True)
        hidden = mlp_ratio * channels
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))
        self.gamma = nn.Parameter(torch.full((channels,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = self.mixer(x).permute(0, 2, 3, 4, 1)  # (B, D, H, W, C)
        return x + (self.gamma * self.mlp(mixed)).permute(0, 4, 1, 2, 3)


def downsample(in_channels: int, out_channels: int) -> nn.Sequential:
    """The start of a stage: max-pool 3, stride 2, padding 1 (÷2), then a 1×1×1 conv without bias."""
    return nn.Sequential(nn.MaxPool3d(3, stride=2, padding=1), nn.Conv3d(in_channels, out_channels, 1, bias=False))


class DCFormer3D(nn.Module):
    """The hierarchical encoder; `forward` returns every stage's feature map (the stem's is not returned).

    Args:
        depths: blocks per stage (small: 2, 3, 6, 2).
        channels: width per stage (small: 96, 192, 384, 768).
        kernel_sizes: the decomposed kernel length per stage (13, 11, 9, 7); odd.
        mlp_ratio: MLP hidden width over the stage width.
        stem_channels: width of the stem (64 in every released size).
    """

    #: Total stride of the stem (÷4) and of each stage's downsampling (÷2).
    STEM_STRIDE = 4

    def __init__(
        self,
        depths: Sequence[int] = (2, 3, 6, 2),
        channels: Sequence[int] = (96, 192, 384, 768),
        kernel_sizes: Sequence[int] = (13, 11, 9, 7),
        mlp_ratio: int = 4,
        stem_channels: int = 64,
    ) -> None:
        super().__init__()
        if not len(depths) == len(channels) == len(kernel_sizes) >= 2:
            raise ValueError(
                f"depths {tuple(depths)}, channels {tuple(channels)} and kernel_sizes {tuple(kernel_sizes)} must have one "
                "entry per stage, at least two stages."
            )
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes {tuple(kernel_sizes)} must be odd (same-size padding).")
        self.channels = tuple(int(c) for c in channels)
        self.stem = nn.Sequential(
            DecomposedConv3d(1, stem_channels, 7, stride=self.STEM_STRIDE),
            *(DecomposedConv3d(stem_channels, stem_channels, 3) for _ in range(3)),
        )
        stages = []
        previous = stem_channels
        for depth, width, kernel in zip(depths, self.channels, kernel_sizes):
            stages.append(nn.Sequential(downsample(previous, width), *(DCBlock(width, kernel, mlp_ratio) for _ in range(depth))))
            previous = width
        self.stages = nn.ModuleList(stages)

    def stride(self, stage: int) -> int:
        """Total downsampling of stage `stage` (0-based): 8, 16, 32, 64 for four stages."""
        return self.STEM_STRIDE * 2 ** (stage + 1)

    def forward(self, volume: torch.Tensor) -> list[torch.Tensor]:
        """(B, D, H, W) -> one map per stage, (B, C_i, D/s_i, H/s_i, W/s_i)."""
        x = self.stem(volume[:, None].to(self.stem[0].depth.weight.dtype))  # (B, C_stem, D/4, H/4, W/4)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
