"""Med3DVLM's dual-stream MLP-Mixer projector (Xin et al., "Med3DVLM", arXiv 2503.20047, eq. 7), laid
out as its code releases it (`MixerLowHighHybridMLP`, `mm_projector_type: mixer`).

Two streams read two stages of the encoder. Each is a stack of N Mixer layers (N = 2 as released);
a layer normalises, mixes across positions (token MLP), normalises again and mixes across channels
(channel MLP). There is no residual: every layer changes both the token count and the width. The
width doubles up to the LLM's d over the layers (d/2^(N-1), ..., d/2, d); the token counts are given
per layer. The low-level (penultimate-stage) stream comes first in the output:

    penultimate stage (B, 256, 384) ─Mixer─▶ (B, 192, d/2) ─Mixer─▶ (B, 128, d) ┐
    last stage        (B, 32, 768)  ─Mixer─▶ (B, 64, d/2)  ─Mixer─▶ (B, 128, d) ┴─ concat ─▶ (B, 256, d)

    Mixer layer (N_in, C_in) → (N_out, C_out):
        x ← LN(x);  x ← MLP_token(xᵀ)ᵀ      MLP_token: Linear N_in→N_out, GELU, Linear N_out→N_out
        x ← LN(x);  x ← MLP_channel(x)      MLP_channel: Linear C_in→C_out, GELU, Linear C_out→C_out
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _mlp(in_features: int, out_features: int) -> nn.Sequential:
    """Linear in→out, GELU, Linear out→out (the release's two-layer MLP)."""
    return nn.Sequential(nn.Linear(in_features, out_features), nn.GELU(), nn.Linear(out_features, out_features))


class MixerLayer(nn.Module):
    """One Mixer layer: LayerNorm → token MLP → LayerNorm → channel MLP, (B, N_in, C_in) -> (B, N_out, C_out).

    Args:
        in_tokens, out_tokens: positions in and out (the token MLP's sizes).
        in_channels, out_channels: width in and out (the channel MLP's sizes).
    """

    def __init__(self, in_tokens: int, out_tokens: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.token_norm = nn.LayerNorm(in_channels)
        self.token_mlp = _mlp(in_tokens, out_tokens)
        self.channel_norm = nn.LayerNorm(in_channels)
        self.channel_mlp = _mlp(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N_in, C_in) -> (B, N_out, C_out)."""
        x = self.token_mlp(self.token_norm(x).transpose(1, 2)).transpose(1, 2)  # (B, N_out, C_in)
        return self.channel_mlp(self.channel_norm(x))  # (B, N_out, C_out)


class MixerStream(nn.Module):
    """N Mixer layers over one stage: tokens N_0 → tokens[0] → ... → tokens[-1], width C → d/2^(N-1) → ... → d.

    Args:
        in_tokens: N_0, positions of the stage read.
        in_channels: C, channels of the stage.
        tokens: token count after each layer (low stream: 192, 128; high stream: 64, 128).
        hidden_size: d, the LLM width; divisible by 2^(N-1).
    """

    def __init__(self, in_tokens: int, in_channels: int, tokens: Sequence[int], hidden_size: int) -> None:
        super().__init__()
        depth = len(tokens)
        if depth < 1 or hidden_size % 2 ** (depth - 1):
            raise ValueError(
                f"a Mixer stream of {depth} layers doubles its width up to hidden_size {hidden_size}, which must be "
                f"divisible by 2^{max(depth - 1, 0)}; give at least one token count per layer."
            )
        sizes = [(int(in_tokens), int(in_channels))] + [(int(n), hidden_size // 2 ** (depth - 1 - i)) for i, n in enumerate(tokens)]
        self.layers = nn.ModuleList(MixerLayer(n_in, n_out, c_in, c_out) for (n_in, c_in), (n_out, c_out) in zip(sizes, sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N_0, C) -> (B, tokens[-1], d)."""
        for layer in self.layers:
            x = layer(x)
        return x


class DualStreamMixerProjector(nn.Module):
    """Both streams, concatenated along the tokens: low-level (penultimate stage) first, then high-level.

    Args:
        last: (N, C) of the last stage (the high-level stream reads it).
        penultimate: (N, C) of the stage before it (the low-level stream).
        high_tokens: token count after each layer of the high-level stream (Med3DVLM: 64, 128).
        low_tokens: the same for the low-level stream (Med3DVLM: 192, 128); as many layers as high_tokens.
        hidden_size: d, the LLM width.
    """

    def __init__(
        self,
        last: tuple[int, int],
        penultimate: tuple[int, int],
        high_tokens: Sequence[int],
        low_tokens: Sequence[int],
        hidden_size: int,
    ) -> None:
        super().__init__()
        if len(high_tokens) != len(low_tokens):
            raise ValueError(
                f"high_tokens {tuple(high_tokens)} and low_tokens {tuple(low_tokens)} give the token count after each "
                "Mixer layer of their stream; both streams have the same number of layers, so give lists of one length."
            )
        self.low = MixerStream(*penultimate, low_tokens, hidden_size)
        self.high = MixerStream(*last, high_tokens, hidden_size)

    def forward(self, last: torch.Tensor, penultimate: torch.Tensor) -> torch.Tensor:
        """(B, N_last, C_last), (B, N_pen, C_pen) -> (B, low_tokens[-1] + high_tokens[-1], d), low stream first."""
        return torch.cat([self.low(penultimate), self.high(last)], dim=1)
