"""DCFormer: a 3D encoder of decomposed convolutions (Ates et al., "DCFormer: Efficient 3D Vision-Language
Modeling with Decomposed Convolutions", 2025), Med3DVLM's image encoder.

A k×k×k depthwise convolution is replaced by three parallel depthwise 1D convolutions, k×1×1, 1×k×1
and 1×1×k, whose outputs are summed (3k weights per channel instead of k³). Blocks are MetaFormer-style:

    x ← x + DecomposedConv(Norm(x));  x ← x + MLP(Norm(x))      (MLP: 1×1×1 convs C → 4C → C, GELU)

    volume (B, 1, 128, 256, 256)
      │ stem: two 3×3×3 convs, stride 2 each           ÷4
      ▼ stage i = downsample (2×2×2 conv, stride 2) + depths[i] blocks with kernel k_i
      ▼ strides ÷8, ÷16, ÷32, ÷64; at 128×256×256 the last two stages are 4×8×8 = 256 positions
        × 384 channels and 2×4×4 = 32 positions × 768 channels (DCFormer-small).

DCFormer-small (Med3DVLM): depths [2, 3, 6, 2], channels [96, 192, 384, 768], kernels 13, 11, 9, 7.
Other sizes are other `depths` / `channels` in the config.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ChannelNorm3d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, D, H, W) map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


class DecomposedConv3d(nn.Module):
    """Depthwise k×1×1 + 1×k×1 + 1×1×k convolutions, summed: (B, C, D, H, W) -> same shape."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.depth = nn.Conv3d(channels, channels, (kernel_size, 1, 1), padding=(pad, 0, 0), groups=channels)
        self.height = nn.Conv3d(channels, channels, (1, kernel_size, 1), padding=(0, pad, 0), groups=channels)
        self.width = nn.Conv3d(channels, channels, (1, 1, kernel_size), padding=(0, 0, pad), groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.depth(x) + self.height(x) + self.width(x)


class DCBlock(nn.Module):
    """One DCFormer block: decomposed-convolution token mixer, then a channel MLP, each residual."""

    def __init__(self, channels: int, kernel_size: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.norm1 = ChannelNorm3d(channels)
        self.mixer = DecomposedConv3d(channels, kernel_size)
        self.norm2 = ChannelNorm3d(channels)
        hidden = mlp_ratio * channels
        self.mlp = nn.Sequential(nn.Conv3d(channels, hidden, 1), nn.GELU(), nn.Conv3d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DCFormer3D(nn.Module):
    """The hierarchical encoder; `forward` returns every stage's feature map.

    Args:
        depths: blocks per stage (small: 2, 3, 6, 2).
        channels: width per stage (small: 96, 192, 384, 768).
        kernel_sizes: the decomposed kernel length per stage (13, 11, 9, 7); odd.
        mlp_ratio: MLP hidden width over the stage width.
    """

    #: Total stride of the stem (÷4) and of each stage's downsampling (÷2).
    STEM_STRIDE = 4

    def __init__(
        self,
        depths: Sequence[int] = (2, 3, 6, 2),
        channels: Sequence[int] = (96, 192, 384, 768),
        kernel_sizes: Sequence[int] = (13, 11, 9, 7),
        mlp_ratio: int = 4,
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
        first = self.channels[0]
        self.stem = nn.Sequential(
            nn.Conv3d(1, first // 2, 3, stride=2, padding=1), nn.GELU(), nn.Conv3d(first // 2, first, 3, stride=2, padding=1)
        )
        stages = []
        previous = first
        for depth, width, kernel in zip(depths, self.channels, kernel_sizes):
            downsample = nn.Sequential(ChannelNorm3d(previous), nn.Conv3d(previous, width, 2, stride=2))
            stages.append(nn.Sequential(downsample, *(DCBlock(width, kernel, mlp_ratio) for _ in range(depth))))
            previous = width
        self.stages = nn.ModuleList(stages)

    def stride(self, stage: int) -> int:
        """Total downsampling of stage `stage` (0-based): 8, 16, 32, 64 for four stages."""
        return self.STEM_STRIDE * 2 ** (stage + 1)

    def forward(self, volume: torch.Tensor) -> list[torch.Tensor]:
        """(B, D, H, W) -> one map per stage, (B, C_i, D/s_i, H/s_i, W/s_i)."""
        x = self.stem(volume[:, None].to(self.stem[0].weight.dtype))  # (B, C_0, D/4, H/4, W/4)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
