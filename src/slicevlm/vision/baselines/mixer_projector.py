"""Med3DVLM's dual-stream MLP-Mixer projector (Xin et al., "Med3DVLM", arXiv 2503.20047).

Two streams read two stages of the encoder; each is one MLP-Mixer step that maps its tokens to a fixed
count (token mixing, across positions) and its channels to the LLM width (channel mixing):

    last stage         (B, 32, 768)  ─MixerStream─▶ (B, 128, d)  ┐
    penultimate stage  (B, 256, 384) ─MixerStream─▶ (B, 128, d)  ┴─ concat ─▶ (B, 256, d)

The high-level stream brings the last stage's semantics, the low-level stream the penultimate
stage's finer detail.
"""

from __future__ import annotations

import torch
from torch import nn


class MixerStream(nn.Module):
    """LayerNorm, token-mixing MLP (N_in → N_out → N_out over positions), channel MLP (C → d → d).

    Args:
        in_tokens: N_in, positions of the stage read.
        out_tokens: N_out, tokens this stream gives the LLM.
        in_channels: C of the stage.
        out_channels: d, the LLM width.
    """

    def __init__(self, in_tokens: int, out_tokens: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_channels)
        self.token_mlp = nn.Sequential(nn.Linear(in_tokens, out_tokens), nn.GELU(), nn.Linear(out_tokens, out_tokens))
        self.channel_mlp = nn.Sequential(nn.Linear(in_channels, out_channels), nn.GELU(), nn.Linear(out_channels, out_channels))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N_in, C) -> (B, N_out, d)."""
        mixed = self.token_mlp(self.norm(tokens).transpose(1, 2)).transpose(1, 2)  # (B, N_out, C)
        return self.channel_mlp(mixed)  # (B, N_out, d)


class DualStreamMixerProjector(nn.Module):
    """Both streams, concatenated along the tokens: high-level (last stage) first, then low-level.

    Args:
        last: (N, C) of the last stage.
        penultimate: (N, C) of the stage before it.
        tokens_per_stream: N_out of each stream (Med3DVLM: 128).
        hidden_size: d, the LLM width.
    """

    def __init__(self, last: tuple[int, int], penultimate: tuple[int, int], tokens_per_stream: int, hidden_size: int) -> None:
        super().__init__()
        self.high = MixerStream(last[0], tokens_per_stream, last[1], hidden_size)
        self.low = MixerStream(penultimate[0], tokens_per_stream, penultimate[1], hidden_size)

    def forward(self, last: torch.Tensor, penultimate: torch.Tensor) -> torch.Tensor:
        """(B, N_last, C_last), (B, N_pen, C_pen) -> (B, 2·tokens_per_stream, d)."""
        return torch.cat([self.high(last), self.low(penultimate)], dim=1)
