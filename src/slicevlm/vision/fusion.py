"""Spatial–frequency fusion (paper, "Spatial–frequency fusion", eq. 6–13).

The kept slices form a 3D grid (C, D̂, H', W'). Two paths restore 3D context:

* spatial (eq. 8): a 3×3×3 convolution, C → C;
* frequency (eq. 9–11): a 3D FFT over (D̂, H', W') with orthonormal scaling, the real and the
  imaginary parts each through their own 1×1×1 convolution, recombined and transformed back; the
  real part is kept. The FFT runs in fp32 (cuFFT has no bf16 for sizes that are not powers of two).

A per-voxel, per-channel gate α = σ(Conv1×1×1([F_spa; F_freq])) mixes them (eq. 12–13):
F_SF = α·F_spa + (1 − α)·F_freq. Ablations keep one path only.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from slicevlm.errors import ConfigError

FusionMode = Literal["both", "spatial", "frequency"]


class FrequencyPath(nn.Module):
    """Eq. 9–11: learnable 1×1×1 filtering of the real and imaginary spectrum."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.real_conv = nn.Conv3d(channels, channels, kernel_size=1)
        self.imag_conv = nn.Conv3d(channels, channels, kernel_size=1)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) -> (B, C, D, H, W), same dtype as the input."""
        spectrum = torch.fft.fftn(grid.float(), dim=(-3, -2, -1), norm="ortho")  # eq. 9
        with torch.autocast(device_type=grid.device.type, enabled=False):
            real = self.real_conv(spectrum.real.to(self.real_conv.weight.dtype))  # eq. 10
            imag = self.imag_conv(spectrum.imag.to(self.imag_conv.weight.dtype))
        filtered = torch.complex(real.float(), imag.float())
        restored = torch.fft.ifftn(filtered, dim=(-3, -2, -1), norm="ortho").real  # eq. 11
        return restored.to(grid.dtype)


class SpatialFrequencyFusion(nn.Module):
    """Gated fusion of a 3D conv path and a 3D FFT path (eq. 6–13).

    Args:
        channels: C, the encoder's token width (768 for ViT-B/16).
        mode: "both" (the paper), or "spatial" / "frequency" for the Table 8 ablations.
    """

    def __init__(self, channels: int, mode: FusionMode = "both") -> None:
        super().__init__()
        if mode not in ("both", "spatial", "frequency"):
            raise ConfigError(f"fusion mode must be 'both', 'spatial' or 'frequency', got {mode!r}")
        self.mode = mode
        self.spatial = nn.Conv3d(channels, channels, kernel_size=3, padding=1) if mode != "frequency" else None
        self.frequency = FrequencyPath(channels) if mode != "spatial" else None
        self.gate = nn.Conv3d(2 * channels, channels, kernel_size=1) if mode == "both" else None

    def gate_weights(self, spatial: torch.Tensor, frequency: torch.Tensor) -> torch.Tensor:
        """Eq. 12: α = σ(W_g [F_spa; F_freq]), (B, C, D, H, W), strictly inside (0, 1)."""
        return torch.sigmoid(self.gate(torch.cat([spatial, frequency], dim=1)))

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """Fuse a grid of slice tokens.

        Args:
            grid: (B, C, D̂, H', W').

        Returns:
            F_SF, (B, C, D̂, H', W').
        """
        if self.mode == "spatial":
            return self.spatial(grid)
        if self.mode == "frequency":
            return self.frequency(grid)
        spatial = self.spatial(grid)  # eq. 8
        frequency = self.frequency(grid)  # eq. 9–11
        alpha = self.gate_weights(spatial, frequency)
        return alpha * spatial + (1 - alpha) * frequency  # eq. 13
