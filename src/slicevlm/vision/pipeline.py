"""The vision side end to end: encoder → selection → fusion → injection (paper Fig. 1).

    volume (B, D, H, W)
      │ slice encoder (frozen)           eq. 1–2
      ▼ F (B, D, N, C)
      │ SliceSelector                    eq. 3–5
      ▼ (B, D̂, N, C), D̂ = ⌊D·ρ⌋
      │ reshape to a grid
      ▼ (B, C, D̂, H', W')
      │ SpatialFrequencyFusion           eq. 6–13
      ▼ F_SF (B, C, D̂, H', W')
      │ FeatureInjection                 eq. 15–18
      ▼ tokens (B, M', C), M' = ⌊D̂/s⌋·⌊H'/s⌋·⌊W'/s⌋  (343 for the paper's settings)

The projector into the LLM is built by `SliceVLM` (it needs the LLM's width): the paper's MLP, eq. 19–21.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from slicevlm.config_record import record_init_args
from slicevlm.vision.encoders.base import SliceEncoderBase
from slicevlm.vision.fusion import FusionMode, SpatialFrequencyFusion
from slicevlm.vision.injection import FeatureInjection, InjectionRegion
from slicevlm.vision.maps import VisionMaps, vision_maps
from slicevlm.vision.selection import SelectionMethod, SliceSelector
from slicevlm.vision.tower import VisionOutput, VisionTower

__all__ = ["VisionOutput", "VisionPipeline"]


class VisionPipeline(VisionTower):
    """Frozen 2D encoder plus the three small modules that restore and compress 3D context.

    The paper's vision tower (:class:`~slicevlm.vision.tower.VisionTower`): any depth is accepted
    (`input_size` is None; the encoder resamples slices in-plane), M' follows the depth.

    Args:
        encoder: the slice encoder (any `SliceEncoderBase`); C and N are read from it, so every downstream
            width follows.
        keep_ratio: ρ, fraction of slices kept by selection (paper 0.28).
        selection: "cosine" (paper) or "uniform" (Table 8 ablation).
        fusion: "both" (paper), "spatial" or "frequency" (Table 8 ablations).
        injection: "global" (the literal reading of eq. 17), "local" (each query sees its s³ children) or "none" (ablation).
        downsample_factor: s (paper 2).
        injection_heads: attention heads in the injection module (paper 1).
    """

    def __init__(
        self,
        encoder: SliceEncoderBase,
        keep_ratio: float = 0.28,
        selection: SelectionMethod = "cosine",
        fusion: FusionMode = "both",
        injection: InjectionRegion = "global",
        downsample_factor: int = 2,
        injection_heads: int = 1,
    ) -> None:
        super().__init__()
        record_init_args(self, locals())
        self.encoder = encoder
        self.selector = SliceSelector(keep_ratio, selection)
        self.fusion = SpatialFrequencyFusion(encoder.width, fusion)
        self.injection = FeatureInjection(encoder.width, downsample_factor, injection, injection_heads)

    @property
    def width(self) -> int:
        """C, the width of the tokens this pipeline returns."""
        return self.encoder.width

    def token_count(self, depth: int) -> int:
        """M', the number of visual tokens for a volume of `depth` slices (343 for 50 slices, ViT-B/16)."""
        grid = (self.selector.kept_count(depth), *self.encoder.grid_size)
        return math.prod(self.injection.output_size(grid))

    def trainable_modules(self) -> dict[str, nn.Module]:
        """The modules trained in both stages, by name (the encoder is frozen)."""
        return {"fusion": self.fusion, "injection": self.injection}

    def frozen_modules(self) -> dict[str, nn.Module]:
        """The pretrained slice encoder: named by the config, never copied into a checkpoint."""
        return {"encoder": self.encoder}

    def maps(self, volume: torch.Tensor) -> VisionMaps:
        """Kept slices, fusion gate and injection attention for one (D, H, W) volume (:mod:`slicevlm.vision.maps`)."""
        return vision_maps(self, volume)

    def encode_slices(self, volume: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) -> F (B, D, N, C), frozen and without gradients."""
        return self.encoder(volume)

    def forward(self, volume: torch.Tensor, return_attention: bool = False) -> VisionOutput:
        """Turn a batch of volumes into visual tokens.

        Args:
            volume: (B, D, H, W) in [0, 1].
            return_attention: keep the injection attention (for explanations).
        """
        features = self.encode_slices(volume)  # (B, D, N, C)
        kept, indices = self.selector(features)  # (B, D̂, N, C)
        batch, depth, _, channels = kept.shape
        height, width = self.encoder.grid_size
        grid = kept.view(batch, depth, height, width, channels).permute(0, 4, 1, 2, 3)  # (B, C, D̂, H', W')
        grid = grid.to(self.fusion_dtype)
        fused = self.fusion(grid)  # (B, C, D̂, H', W')
        tokens, attention = self.injection(fused, return_attention)  # (B, M', C)
        return VisionOutput(tokens=tokens, kept_slices=indices, attention=attention)

    @property
    def fusion_dtype(self) -> torch.dtype:
        """The dtype the trainable modules hold (the frozen encoder may run in another)."""
        return next(self.fusion.parameters()).dtype
