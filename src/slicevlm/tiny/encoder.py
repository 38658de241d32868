"""The tiny stand-in for BiomedCLIP: an open_clip CLIP saved in the hub-folder layout
(`open_clip_config.json` + `open_clip_model.safetensors`), loaded through `local-dir:`."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def write_tiny_encoder(folder: Path, image_size: int = 64, patch_size: int = 8, width: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """An open_clip CLIP (ViT vision tower + small text tower) with random weights, saved in the hub-folder layout."""
    import open_clip
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": image_size, "patch_size": patch_size, "width": width, "layers": layers, "head_width": 32},
        "text_cfg": {"context_length": 32, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1},
    }
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**model_cfg)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD)}}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder
