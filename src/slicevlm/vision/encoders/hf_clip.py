"""Slice encoders stored as Hugging Face `transformers` CLIP checkpoints (e.g. PubMedCLIP, paper Table 8).

The tokens are the same kind as the open_clip encoder's: last layer after the final norm
(`post_layernorm`), class token dropped.
"""

from __future__ import annotations

import torch
from torch import nn

from slicevlm.architectures import shipped_architecture
from slicevlm.config_record import record_init_args
from slicevlm.hub import ModelNotAvailableError, local_files_only, missing_model_message
from slicevlm.vision.encoders.base import OPENAI_MEAN, OPENAI_STD, SliceEncoderBase

PUBMEDCLIP = "flaviagiammarino/pubmed-clip-vit-base-patch32"


def load_clip_vision_model(model_name: str, pretrained: bool) -> nn.Module:
    """A `CLIPVisionModel` from a hub id or folder; random weights from the shipped config if not pretrained."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    if not pretrained:
        shipped = shipped_architecture("encoders", model_name)
        if shipped is not None:
            return CLIPVisionModel(CLIPVisionConfig(**shipped))
    try:
        if pretrained:
            return CLIPVisionModel.from_pretrained(model_name, local_files_only=local_files_only(model_name))
        return CLIPVisionModel(CLIPVisionConfig.from_pretrained(model_name, local_files_only=local_files_only(model_name)))
    except (OSError, ValueError) as error:
        raise ModelNotAvailableError(
            missing_model_message(model_name, "slice encoder", "model.vision.init_args.encoder.init_args.model_name", error)
        ) from error


class HFClipSliceEncoder(SliceEncoderBase):
    """Frozen `transformers` CLIP vision model applied to every slice of a volume.

    Args:
        model_name: a hub id (`org/repo`) or a folder holding a CLIP (vision) checkpoint. Default: PubMedCLIP.
        pretrained: load weights. False builds the same architecture with random weights.
        chunk_size: slices encoded per forward call; bounds activation memory.
        dtype: `float32` or `bfloat16`; the weights are cast and slices encoded in this precision.
    """

    def __init__(self, model_name: str = PUBMEDCLIP, pretrained: bool = True, chunk_size: int = 64, dtype: str = "float32") -> None:
        super().__init__(chunk_size, OPENAI_MEAN, OPENAI_STD)
        record_init_args(self, locals())
        self.model_name = model_name
        self.visual = load_clip_vision_model(model_name, pretrained)
        self.freeze(dtype)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) the encoder expects."""
        side = self.visual.config.image_size
        return (side, side)

    @property
    def grid_size(self) -> tuple[int, int]:
        """(H', W'): the patch grid, N = H'·W'."""
        config = self.visual.config
        side = config.image_size // config.patch_size
        return (side, side)

    @property
    def width(self) -> int:
        """C, the token width."""
        return self.visual.config.hidden_size

    def _patch_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(n, 3, H, W) -> (n, N, C): last layer after `post_layernorm`, class token dropped."""
        hidden = self.visual(pixel_values=images).last_hidden_state  # (n, 1+N, C)
        tower = getattr(self.visual, "vision_model", self.visual)  # transformers 4 nests the tower; 5 does not
        return tower.post_layernorm(hidden)[:, 1:]
