"""A plain 3D Vision Transformer (Dosovitskiy et al., ViT, with cubic patches), M3D-LaMed's image encoder.

    volume (B, 1, D, H, W)
      │ Conv3d(1 → C, kernel = stride = patch)      patch embedding
      ▼ (B, C, D/pd, H/ph, W/pw) → (B, P, C) + learned position embedding (P, C)
      │ prepend the class token (1, C), which has no position embedding
      ▼ (B, 1 + P, C)
      │ L × [x + MHSA(LN(x)); x + MLP(LN(x))]       pre-norm blocks, qkv without bias, MLP C → r·C → C, GELU
      ▼ LN, class token dropped → patch tokens (B, P, C), row-major over the (D', H', W') grid

M3D-LaMed (Bai et al., "M3D: Advancing 3D medical image analysis with multi-modal large language
models", 2024): ViT-B (C = 768, L = 12, 12 heads) with 4×16×16 patches on 32×256×256 volumes →
8×16×16 = 2048 patch tokens. As its code releases it (MONAI's ViT with `classification=True`,
`qkv_bias=False`, read with `vision_select_feature: patch`): the class token takes part in every
attention and is dropped after the final norm; the qkv projection has no bias (the output projection has one).
"""

from __future__ import annotations

from collections.abc import Sequence
import math

import torch
from torch import nn
import torch.nn.functional as F

from slicevlm.config_record import record_init_args


class SelfAttention(nn.Module):
    """Multi-head self-attention: one qkv linear (bias optional), scaled dot product, output linear (with bias)."""

    def __init__(self, width: int, heads: int, qkv_bias: bool = False) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}; choose heads that divide it.")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=qkv_bias)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P, C) -> (B, P, C)."""
        batch, length, width = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)  # 3 × (B, h, P, C/h)
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, h, P, C/h)
        return self.out(attended.transpose(1, 2).reshape(batch, length, width))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + MHSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, qkv_bias: bool = False) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.norm1 = nn.LayerNorm(width)
        self.attention = SelfAttention(width, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer3D(nn.Module):
    """3D ViT over single-channel volumes.

    Args:
        image_size: (D, H, W) of the input volume.
        patch_size: (pd, ph, pw), dividing `image_size`.
        width: C, the token width (ViT-B: 768).
        depth: number of transformer blocks (ViT-B: 12).
        heads: attention heads (ViT-B: 12).
        mlp_ratio: MLP hidden width over C (ViT-B: 4).
        qkv_bias: a bias in the attention's qkv projection (M3D: none).
        class_token: prepend a learned class token that attends with the patches and is dropped from
            the output (M3D: yes).
    """

    def __init__(
        self,
        image_size: Sequence[int] = (32, 256, 256),
        patch_size: Sequence[int] = (4, 16, 16),
        width: int = 768,
        depth: int = 12,
        heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        class_token: bool = True,
    ) -> None:
        super().__init__()
        record_init_args(self, locals())
        if len(image_size) != 3 or len(patch_size) != 3 or any(s % p for s, p in zip(image_size, patch_size)):
            raise ValueError(f"patch_size {tuple(patch_size)} must divide image_size {tuple(image_size)} along (D, H, W).")
        self.image_size = tuple(int(s) for s in image_size)
        self.patch_size = tuple(int(p) for p in patch_size)
        self.grid_size = tuple(s // p for s, p in zip(self.image_size, self.patch_size))  # (D', H', W')
        self.width = width
        self.patch_embed = nn.Conv3d(1, width, kernel_size=self.patch_size, stride=self.patch_size)
        self.position = nn.Parameter(torch.zeros(1, math.prod(self.grid_size), width))
        # MONAI's ViT starts its class token at zero and gives it no position embedding.
        self.class_token = nn.Parameter(torch.zeros(1, 1, width)) if class_token else None
        self.blocks = nn.ModuleList(TransformerBlock(width, heads, mlp_ratio, qkv_bias) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        if self.position.device.type != "meta":
            nn.init.trunc_normal_(self.position, std=0.02)

    @property
    def num_patches(self) -> int:
        """P = D'·H'·W'."""
        return math.prod(self.grid_size)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) -> patch tokens (B, P, C)."""
        x = self.patch_embed(volume[:, None].to(self.patch_embed.weight.dtype))  # (B, C, D', H', W')
        x = x.flatten(2).transpose(1, 2) + self.position  # (B, P, C)
        if self.class_token is not None:
            x = torch.cat([self.class_token.expand(len(x), -1, -1), x], dim=1)  # (B, 1 + P, C)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return x if self.class_token is None else x[:, 1:]  # (B, P, C)
