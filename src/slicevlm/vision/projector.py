"""Visual projector (paper eq. 19–21): Linear C→d, GELU, Linear d→d, applied per token."""

from __future__ import annotations

import torch
from torch import nn


class VisualProjector(nn.Module):
    """Map visual tokens of width C into the LLM's embedding space of width d.

    Args:
        in_channels: C, the vision token width.
        out_channels: d_llm, the LLM hidden size (4096 for LLaMA-2-7B).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_channels, out_channels),
            nn.GELU(),
            nn.Linear(out_channels, out_channels),
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, M, C) -> (B, M, d_llm)."""
        return self.layers(tokens)
