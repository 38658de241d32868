"""Fine-grained feature injection (paper, "Fine-grained feature injection", eqs. 15–19).

The fused grid F_high = F_SF (C, D̂, H', W') is downsampled trilinearly by s to F_low
(C, D̂/s, H'/s, W'/s) (eq. 15). Each low-resolution position queries the high-resolution grid:
Q = W_Q F_low, K = W_K F_high, V = W_V F_high (eq. 16), with Q of M' = D̂H'W'/s³ rows and K, V of
all D̂H'W' positions (eq. 17), A = softmax(QKᵀ/√C)·V (eq. 18). A is the compressed token set; eq. 19's
MLP is the projector's (`projector.py`, one MLP, not two), with no residual. With the paper's
settings 14³ positions become 7³ = 343 tokens.

`region="global"` lets every query see every high-resolution position, the literal reading of
eq. 17 (our default). `region="local"` restricts a query to its own s³ children (the paper's prose
also speaks of "local contexts" and "Point-to-Region attention"). `region="none"` is the Table 8
ablation: the projector reads F_low directly.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
import torch.nn.functional as F

from slicevlm.errors import ConfigError

InjectionRegion = Literal["global", "local", "none"]


def downsampled_size(size: tuple[int, int, int], factor: int) -> tuple[int, int, int]:
    """Grid size after downsampling by s (at least one position per axis)."""
    return tuple(max(1, n // factor) for n in size)  # type: ignore[return-value]


def downsample(grid: torch.Tensor, factor: int) -> torch.Tensor:
    """Eq. 15: trilinear downsampling, (B, C, D, H, W) -> (B, C, D/s, H/s, W/s)."""
    return F.interpolate(grid, size=downsampled_size(tuple(grid.shape[-3:]), factor), mode="trilinear", align_corners=False)


def group_children(grid: torch.Tensor, factor: int) -> torch.Tensor:
    """Gather each low-resolution position's s³ children.

    (B, C, D, H, W) -> (B, D/s·H/s·W/s, s³, C), low positions in the same raster order as
    `grid_to_tokens(downsample(grid))`.
    """
    b, c, d, h, w = grid.shape
    s = factor
    blocks = grid.view(b, c, d // s, s, h // s, s, w // s, s)
    blocks = blocks.permute(0, 2, 4, 6, 3, 5, 7, 1)  # (B, D/s, H/s, W/s, s, s, s, C)
    return blocks.reshape(b, (d // s) * (h // s) * (w // s), s**3, c)


def grid_to_tokens(grid: torch.Tensor) -> torch.Tensor:
    """(B, C, D, H, W) -> (B, D·H·W, C), raster order (z slowest)."""
    return grid.flatten(2).transpose(1, 2)


class FeatureInjection(nn.Module):
    """Attention from the downsampled grid into the full grid (eqs. 15–18).

    Args:
        channels: C, the token width.
        downsample_factor: s (paper: 2).
        region: "global" (the literal reading of eq. 17), "local" (each query sees its s³ children) or
            "none" (ablation: no attention, F_low is returned).
        heads: attention heads (paper: 1). C must be divisible by it.
    """

    def __init__(self, channels: int, downsample_factor: int = 2, region: InjectionRegion = "global", heads: int = 1) -> None:
        super().__init__()
        if region not in ("global", "local", "none"):
            raise ConfigError(f"injection region must be 'global', 'local' or 'none', got {region!r}")
        if channels % heads:
            raise ConfigError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.factor = downsample_factor
        self.region = region
        self.heads = heads
        if region != "none":
            self.query = nn.Linear(channels, channels)
            self.key = nn.Linear(channels, channels)
            self.value = nn.Linear(channels, channels)

    def output_size(self, size: tuple[int, int, int]) -> tuple[int, int, int]:
        """Low-resolution grid size for an input grid size; its product is the token count M'."""
        return downsampled_size(size, self.factor)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(..., L, C) -> (..., heads, L, C/heads)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(-3, -2)

    def forward(self, grid: torch.Tensor, return_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Compress a fused grid into visual tokens.

        Args:
            grid: F_SF = F_high, (B, C, D̂, H', W').
            return_attention: also return the attention weights (for `--explain`).

        Returns:
            Tokens (B, M', C) and, if asked, attention (B, heads, M', keys) where keys is D̂·H'·W'
            (global) or s³ (local); None otherwise.
        """
        low = downsample(grid, self.factor)  # (B, C, D̂/s, H'/s, W'/s)  eq. 15
        low_tokens = grid_to_tokens(low)  # (B, M', C)
        if self.region == "none":
            return low_tokens, None
        if self.region == "local":
            bad = [n for n in grid.shape[-3:] if n % self.factor]
            if bad:
                raise ValueError(
                    f"region='local' needs every grid side divisible by s={self.factor}; got grid {tuple(grid.shape[-3:])}. "
                    "Change keep_ratio / the input size, or use region='global'."
                )
            keys_in = group_children(grid, self.factor)  # (B, M', s³, C): each query's own children
            queries_in = low_tokens.unsqueeze(2)  # (B, M', 1, C)
        else:
            keys_in = grid_to_tokens(grid)  # (B, P, C): every high-resolution position, as eq. 17 sizes K and V
            queries_in = low_tokens  # (B, M', C)
        q = self._split_heads(self.query(queries_in))  # (..., heads, Lq, C/h)  eq. 16
        k = self._split_heads(self.key(keys_in))  # (..., heads, Lk, C/h)  eq. 16
        v = self._split_heads(self.value(keys_in))  # eq. 16
        if return_attention:
            attention = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)  # eq. 18
            attended = attention @ v  # eq. 18
        else:
            attention = None
            attended = F.scaled_dot_product_attention(q, k, v)  # eq. 18, fused kernel
        tokens = attended.transpose(-3, -2).flatten(-2)  # (..., Lq, C)
        if self.region == "local":
            tokens = tokens.squeeze(2)  # (B, M', 1, C) -> (B, M', C)
            if attention is not None:
                attention = attention.squeeze(3).transpose(1, 2)  # (B, M', h, 1, s³) -> (B, h, M', s³)
        return tokens, attention
