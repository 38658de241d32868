"""Slice selection (paper, "Slice selection", eq. 3–5).

Each slice's patch tokens are averaged into one descriptor f_i (eq. 3). Neighbouring slices are
compared by cosine similarity S_i = cos(f_i, f_{i+1}) (eq. 4); the last slice, which has no
successor, takes S_{D-1} (the paper leaves this open; see docs/method.md#slice-selection). The
D̂ = ⌊D·ρ⌋ slices with the *lowest* similarity — the least redundant ones — are kept (eq. 5), in
their original z order so the 3D paths downstream see a well-ordered stack. No parameters.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
import torch.nn.functional as F

from slicevlm.errors import ConfigError

SelectionMethod = Literal["cosine", "uniform"]


def kept_slice_count(depth: int, keep_ratio: float) -> int:
    """D̂ = ⌊D·ρ⌋, never below one slice."""
    return max(1, math.floor(depth * keep_ratio + 1e-9))


def neighbour_similarity(features: torch.Tensor) -> torch.Tensor:
    """Eq. 3–4: cosine similarity of each slice's mean token with the next slice's.

    Args:
        features: slice features, (B, D, N, C).

    Returns:
        S, (B, D); the last slice repeats S_{D-1}.
    """
    descriptors = features.float().mean(dim=2)  # (B, D, C)  eq. 3
    if descriptors.shape[1] == 1:
        return descriptors.new_zeros(descriptors.shape[:2])
    similarity = F.cosine_similarity(descriptors[:, :-1], descriptors[:, 1:], dim=-1)  # (B, D-1)
    return torch.cat([similarity, similarity[:, -1:]], dim=1)  # (B, D)


class SliceSelector(nn.Module):
    """Keep the ⌊D·ρ⌋ least redundant slices in z order (eq. 5), or evenly spaced ones (ablation).

    Args:
        keep_ratio: ρ, the fraction of slices kept (paper: 0.28, so 50 → 14).
        method: "cosine" (the paper) or "uniform" (Table 8 ablation: evenly spaced slices).
    """

    def __init__(self, keep_ratio: float = 0.28, method: SelectionMethod = "cosine") -> None:
        super().__init__()
        if not 0.0 < keep_ratio <= 1.0:
            raise ConfigError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
        if method not in ("cosine", "uniform"):
            raise ConfigError(f"selection method must be 'cosine' or 'uniform', got {method!r}")
        self.keep_ratio = keep_ratio
        self.method = method

    def kept_count(self, depth: int) -> int:
        """How many slices survive from a stack of `depth`."""
        return kept_slice_count(depth, self.keep_ratio)

    def select_indices(self, features: torch.Tensor) -> torch.Tensor:
        """Indices of the kept slices, ascending (z order), (B, D̂)."""
        batch, depth = features.shape[:2]
        keep = self.kept_count(depth)
        if self.method == "uniform":
            positions = torch.linspace(0, depth - 1, keep, device=features.device).round().long()
            return positions.unsqueeze(0).expand(batch, keep)
        similarity = neighbour_similarity(features)  # (B, D)
        # A stable ascending sort breaks ties (always S_{D-1} = S_D) towards the earlier slice, the
        # same on every device; topk leaves ties to the backend.
        lowest = torch.argsort(similarity, dim=1, stable=True)[:, :keep]
        return torch.sort(lowest, dim=1).values  # (B, D̂)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Select slices.

        Args:
            features: (B, D, N, C) slice features.

        Returns:
            The kept features (B, D̂, N, C) and their indices (B, D̂).
        """
        indices = self.select_indices(features)
        gather_index = indices[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return torch.gather(features, 1, gather_index), indices
