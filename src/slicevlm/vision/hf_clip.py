"""Vision towers stored as Hugging Face `transformers` CLIP checkpoints (e.g. PubMedCLIP, Table 8).

`SliceEncoder(backend="transformers")` uses these helpers; the tokens are the same kind as the
open_clip path's: last layer after the final norm (`post_layernorm`), class token dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from slicevlm.hub import ModelNotAvailableError, local_directory, local_files_only, missing_model_message

_ARCHITECTURES = Path(__file__).resolve().parent.parent / "assets" / "encoders"


def load_clip_vision_model(model_name: str, pretrained: bool) -> nn.Module:
    """A `CLIPVisionModel` from a hub id or folder; random weights from the known config if not pretrained."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    if not pretrained:
        known = _ARCHITECTURES / f"{model_name.replace('/', '--')}.json"
        if local_directory(model_name) is None and known.is_file():
            return CLIPVisionModel(CLIPVisionConfig(**json.loads(known.read_text(encoding="utf-8"))))
    try:
        if pretrained:
            return CLIPVisionModel.from_pretrained(model_name, local_files_only=local_files_only(model_name))
        return CLIPVisionModel(CLIPVisionConfig.from_pretrained(model_name, local_files_only=local_files_only(model_name)))
    except (OSError, ValueError) as error:
        raise ModelNotAvailableError(
            missing_model_message(model_name, "slice encoder", "model.vision.init_args.encoder.init_args.model_name", error)
        ) from error


def clip_geometry(model: nn.Module) -> tuple[tuple[int, int], tuple[int, int], int]:
    """(image size, patch grid, width) of a `CLIPVisionModel`."""
    config = model.config
    side = config.image_size // config.patch_size
    return (config.image_size, config.image_size), (side, side), config.hidden_size


def clip_patch_tokens(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(n, 3, H, W) -> (n, N, C): last layer after `post_layernorm`, class token dropped."""
    hidden = model(pixel_values=images).last_hidden_state  # (n, 1+N, C)
    tower = getattr(model, "vision_model", model)  # transformers 4 nests the tower; 5 does not
    return tower.post_layernorm(hidden)[:, 1:]
