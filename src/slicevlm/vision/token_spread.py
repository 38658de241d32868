"""How much the visual tokens differ, across volumes and across positions: a collapse check.

If the injection's attention gives every query the same weights, all M' tokens of a volume are the
same vector, and if that vector is mostly shared by every volume, the LLM sees the volume only in a
small remainder. With the tiny CPU twin and the global injection (the literal reading of eq. 17) after stage 1, the
tokens are ~1.6% apart across volumes and ~0.3% across positions, relative to their norm, and the
twin answers Phase at chance; with `injection: local` it reads Phase (docs/evaluation.md, "Why the CPU twin
injects locally"). Printed by `scripts/probe_grounding.py` for any checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TokenSpread:
    """Spread of a batch of token sets, each as a share of the mean token norm.

    Attributes:
        norm: mean L2 norm of a token.
        across_volumes: mean distance of a token from the same position's mean over the batch, / norm.
        across_positions: mean distance of a token from its own volume's mean token, / norm.
    """

    norm: float
    across_volumes: float
    across_positions: float


def token_spread(tokens: torch.Tensor) -> TokenSpread:
    """Spread of ``tokens`` (B, M, C), B ≥ 2 volumes of M tokens each."""
    if tokens.ndim != 3 or tokens.shape[0] < 2:
        raise ValueError(f"token_spread needs (B ≥ 2, M, C) tokens, got shape {tuple(tokens.shape)}")
    tokens = tokens.float()
    norm = tokens.norm(dim=-1).mean()  # ()
    per_position_mean = tokens.mean(0, keepdim=True)  # (1, M, C)
    per_volume_mean = tokens.mean(1, keepdim=True)  # (B, 1, C)
    across_volumes = (tokens - per_position_mean).norm(dim=-1).mean() / norm
    across_positions = (tokens - per_volume_mean).norm(dim=-1).mean() / norm
    return TokenSpread(float(norm), float(across_volumes), float(across_positions))
