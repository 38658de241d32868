"""M3D-LaMed's vision tower: 3D ViT → 3D spatial pooling (Bai et al., "M3D", 2024, section "M3D-LaMed").

    volume (B, 32, 256, 256) in [0, 1]
      │ 3D ViT-B, patches 4×16×16, class token         (vit3d.py)
      ▼ (B, 2048, 768) = (B, 8·16·16, C), the class token dropped
      │ reshape to (B, C, 8, 16, 16), 3D average pooling
      ▼ (B, C, 4, 8, 8) → tokens (B, 256, 768)
      │ MLP projector (Linear C→d, GELU, Linear d→d), built by SliceVLM
      ▼ (B, 256, d_llm)

M3D-LaMed pre-trains the ViT CLIP-style on image–report pairs; that pre-training is not run here, so
the ViT starts from random weights and is trained with the projector by default (`train_encoder`).
A checkpoint folder stores the whole ViT (`encoder.*` in `vision.safetensors`).
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from slicevlm.vision.baselines.vit3d import VisionTransformer3D
from slicevlm.vision.tower import VisionOutput, VisionTower


class M3DLaMedTower(VisionTower):
    """3D ViT + 3D spatial pooling; defaults are M3D-LaMed's (ViT-B, 32×256×256, 256 tokens).

    Args:
        pooled_grid: (D'', H'', W'') the patch grid is average-pooled to; M = D''·H''·W'' (M3D: 4×8×8 = 256).
        train_encoder: train the ViT with the projector (True: it has no pretrained weights here);
            False freezes it (as after CLIP pre-training; it is still stored in the checkpoint).
        **encoder_args: the 3D ViT's own arguments, passed on to :class:`VisionTransformer3D` and
            written beside these two in a config: `image_size` (the (D, H, W) volumes must come at,
            `data.volume_size`), `patch_size`, `width`, `depth`, `heads`, `mlp_ratio`, `qkv_bias`,
            `class_token`. Their defaults are M3D-LaMed's ViT-B as released: 4×16×16 patches on
            32×256×256, a class token through attention (dropped before pooling), no qkv bias.
    """

    def __init__(self, pooled_grid: Sequence[int] = (4, 8, 8), train_encoder: bool = True, **encoder_args: Any) -> None:
        super().__init__()
        self.encoder = VisionTransformer3D(**encoder_args)
        # The record holds every ViT argument with its value (defaults included), flat beside the tower's own.
        self._init_args = {**self.encoder._init_args, "pooled_grid": pooled_grid, "train_encoder": train_encoder}
        self.pooled_grid = tuple(int(g) for g in pooled_grid)
        if len(self.pooled_grid) != 3 or any(p > g for p, g in zip(self.pooled_grid, self.encoder.grid_size)):
            raise ValueError(
                f"pooled_grid {self.pooled_grid} must be three sizes no larger than the patch grid {self.encoder.grid_size}."
            )
        self.encoder.requires_grad_(train_encoder)

    @property
    def width(self) -> int:
        return self.encoder.width

    @property
    def input_size(self) -> tuple[int, int, int]:
        return self.encoder.image_size  # type: ignore[return-value]

    def token_count(self, depth: int) -> int:
        return math.prod(self.pooled_grid)

    def trainable_modules(self) -> dict[str, nn.Module]:
        """The ViT (the pooling has no parameters); the projector is SliceVLM's."""
        return {"encoder": self.encoder}

    def forward(self, volume: torch.Tensor, return_attention: bool = False) -> VisionOutput:
        """(B, D, H, W) in [0, 1] -> tokens (B, M, C)."""
        self.check_input_size(tuple(volume.shape[1:]))
        patches = self.encoder(volume)  # (B, P, C)
        batch, _, channels = patches.shape
        grid = patches.transpose(1, 2).reshape(batch, channels, *self.encoder.grid_size)  # (B, C, D', H', W')
        pooled = F.adaptive_avg_pool3d(grid, self.pooled_grid)  # (B, C, D'', H'', W'')
        return VisionOutput(tokens=pooled.flatten(2).transpose(1, 2))  # (B, M, C)
