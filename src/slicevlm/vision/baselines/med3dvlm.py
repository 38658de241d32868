"""Med3DVLM's vision tower: DCFormer → last and penultimate stages → dual-stream MLP-Mixer projector
(Xin, Ates, Gong & Shao, "Med3DVLM", arXiv 2503.20047).

    volume (B, 128, 256, 256) in [0, 1]
      │ DCFormer-small                                  (dcformer.py)
      ▼ penultimate (B, 384, 4, 8, 8), last (B, 768, 2, 4, 4)
      │ flatten
      ▼ tokens = last (B, 32, 768); streams = (penultimate (B, 256, 384),)
      │ DualStreamMixerProjector (mixer_projector.py), built by this tower: two Mixer layers per
      │ stream, penultimate 256 → 192 → 128 tokens, last 32 → 64 → 128, width → d/2 → d
      ▼ (B, 128 + 128, d_llm), the penultimate stage's tokens first

Med3DVLM pre-trains DCFormer with a SigLIP contrastive loss against ClinicalBERT
(`training/contrastive.py`, configs/baselines/med3dvlm_clip.yaml); `encoder_weights` starts the tower
from that export. Without it DCFormer starts from random weights and trains with the projector
(`train_encoder`). A checkpoint folder stores the whole encoder (`encoder.*`).
"""

from __future__ import annotations

from collections.abc import Sequence
import math

import torch
from torch import nn

from slicevlm.config_record import record_init_args
from slicevlm.vision.baselines.dcformer import DCFormer3D
from slicevlm.vision.baselines.mixer_projector import DualStreamMixerProjector
from slicevlm.vision.tower import VisionOutput, VisionTower


class Med3DVLMTower(VisionTower):
    """DCFormer + Med3DVLM's projector; defaults are Med3DVLM's (DCFormer-small, 128×256×256, 128 + 128 tokens).

    Args:
        image_size: (D, H, W) the tower reads (`data.volume_size`); each divisible by 64.
        depths: DCFormer blocks per stage (small: 2, 3, 6, 2).
        channels: DCFormer width per stage (small: 96, 192, 384, 768).
        kernel_sizes: decomposed kernel length per stage (13, 11, 9, 7).
        stem_channels: DCFormer's stem width (64).
        low_tokens: token count after each Mixer layer of the low-level stream, which reads the
            penultimate stage (released: 192, 128).
        high_tokens: the same for the high-level stream, which reads the last stage (released: 64, 128);
            as many layers as `low_tokens`. M = low_tokens[-1] + high_tokens[-1].
        train_encoder: train DCFormer with the projector (True without pre-trained weights); False
            freezes it (as after contrastive pre-training; it is still stored in the checkpoint).
        encoder_weights: DCFormer weights to start from: the `image_encoder.safetensors` the
            contrastive pre-training (`configs/baselines/med3dvlm_clip.yaml`) writes. A checkpoint
            folder stores the encoder itself, so its `model.yaml` records None here.
    """

    def __init__(
        self,
        image_size: Sequence[int] = (128, 256, 256),
        depths: Sequence[int] = (2, 3, 6, 2),
        channels: Sequence[int] = (96, 192, 384, 768),
        kernel_sizes: Sequence[int] = (13, 11, 9, 7),
        stem_channels: int = 64,
        low_tokens: Sequence[int] = (192, 128),
        high_tokens: Sequence[int] = (64, 128),
        train_encoder: bool = True,
        encoder_weights: str | None = None,
    ) -> None:
        super().__init__()
        record_init_args(self, locals())
        self.encoder = DCFormer3D(depths, channels, kernel_sizes, stem_channels=stem_channels)
        self._image_size = tuple(int(s) for s in image_size)
        stride = self.encoder.stride(len(self.encoder.stages) - 1)
        if len(self._image_size) != 3 or any(s % stride for s in self._image_size):
            raise ValueError(f"image_size {self._image_size} must be three sizes divisible by {stride} (the last stage's stride).")
        self.low_tokens = tuple(int(n) for n in low_tokens)
        self.high_tokens = tuple(int(n) for n in high_tokens)
        if not self.low_tokens or len(self.low_tokens) != len(self.high_tokens):
            raise ValueError(
                f"low_tokens {self.low_tokens} and high_tokens {self.high_tokens} give the token count after each Mixer "
                "layer of their stream; give both with the same number of layers (released: [192, 128] and [64, 128])."
            )
        if encoder_weights is not None:
            self._load_encoder(encoder_weights)
            self._init_args["encoder_weights"] = None  # stored in the checkpoint folder from now on
        self.encoder.requires_grad_(train_encoder)

    def _load_encoder(self, path: str) -> None:
        from safetensors.torch import load_file

        from slicevlm.errors import MissingFileError

        try:
            state = load_file(path)
        except FileNotFoundError as error:
            raise MissingFileError(
                f"model.vision.init_args.encoder_weights: {path} does not exist; point it at the image_encoder.safetensors "
                "the contrastive pre-training wrote (its model.export_dir), or set it to null."
            ) from error
        try:
            self.encoder.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(
                f"{path} does not fit this DCFormer (depths, channels, kernel_sizes must match the pre-trained one): {error}"
            ) from error

    def stage_tokens(self, stage: int) -> tuple[int, int]:
        """(N, C) of a stage at `input_size`: positions and channels (-1: last, -2: penultimate)."""
        index = stage % len(self.encoder.stages)
        stride = self.encoder.stride(index)
        return math.prod(s // stride for s in self._image_size), self.encoder.channels[index]

    @property
    def width(self) -> int:
        return self.encoder.channels[-1]

    @property
    def input_size(self) -> tuple[int, int, int]:
        return self._image_size  # type: ignore[return-value]

    def token_count(self, depth: int) -> int:
        return self.low_tokens[-1] + self.high_tokens[-1]

    def trainable_modules(self) -> dict[str, nn.Module]:
        """DCFormer; the projector is stored by SliceVLM."""
        return {"encoder": self.encoder}

    def build_projector(self, hidden_size: int) -> nn.Module:
        """The dual-stream MLP-Mixer over the last and penultimate stages."""
        return DualStreamMixerProjector(self.stage_tokens(-1), self.stage_tokens(-2), self.high_tokens, self.low_tokens, hidden_size)

    def forward(self, volume: torch.Tensor, return_attention: bool = False) -> VisionOutput:
        """(B, D, H, W) in [0, 1] -> last-stage tokens (B, N_last, C_last), penultimate stage as a stream."""
        self.check_input_size(tuple(volume.shape[1:]))
        *_, penultimate, last = self.encoder(volume)
        return VisionOutput(
            tokens=last.flatten(2).transpose(1, 2),  # (B, N_last, C_last)
            streams=(penultimate.flatten(2).transpose(1, 2),),  # (B, N_pen, C_pen)
        )
