"""Slice encoders stored as open_clip models (BiomedCLIP, CLIP ViT-L/14, the tiny demo encoder).

The model comes from its `open_clip_config.json` and checkpoint: an `hf-hub:org/repo`, a
`local-dir:/path` (or plain folder) in the hub layout, or — with `pretrained: false` — a shipped
architecture (:mod:`slicevlm.architectures`) or an open_clip built-in name. Only the vision tower is
built: BiomedCLIP's text tower is a BERT whose config lives in another hub repository, and we never
need it. Two tower kinds are handled: timm trunks (BiomedCLIP: `visual.trunk` = timm
`vit_base_patch16_224`) and open_clip's own VisionTransformer (CLIP ViT-L/14, the tiny encoder).
Tokens: the last block after the final norm, class token dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from slicevlm.architectures import shipped_architecture
from slicevlm.config_record import record_init_args
from slicevlm.hub import ModelNotAvailableError, hub_file, local_directory
from slicevlm.vision.encoders.base import OPENAI_MEAN, OPENAI_STD, SliceEncoderBase

BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
#: Weight files of an open_clip model folder, most preferred first (the names open_clip's hub uploads use).
CHECKPOINT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin")
_CONFIG_KEY = "model.vision.init_args.encoder.init_args.model_name"


def _folder_checkpoint(folder: Path) -> str:
    """The weights file of an open_clip model folder: a known name first, else the only *.safetensors / *.bin."""
    for name in CHECKPOINT_NAMES:
        if (folder / name).is_file():
            return str(folder / name)
    candidates = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise ModelNotAvailableError(
            f"Encoder folder {folder}: cannot tell which file holds the weights (found: {found}). "
            f"Name it {CHECKPOINT_NAMES[0]}, or set pretrained: false for random weights."
        )
    return str(candidates[0])


def read_open_clip_config(model_name: str, pretrained: bool) -> tuple[dict[str, Any], str | None]:
    """(open_clip config dict, checkpoint path or None) for a model name; see the module docstring."""
    folder = local_directory(model_name)
    if folder is not None:
        config_path = folder / "open_clip_config.json"
        if not config_path.is_file():
            raise ModelNotAvailableError(
                f"Encoder folder {folder} has no open_clip_config.json; expected the layout of an open_clip "
                "hub repository (open_clip_config.json + open_clip_model.safetensors)."
            )
        checkpoint = _folder_checkpoint(folder) if pretrained else None
        return json.loads(config_path.read_text(encoding="utf-8")), checkpoint
    if not pretrained:
        shipped = shipped_architecture("encoders", model_name)
        if shipped is not None:
            return shipped, None
        from open_clip import get_model_config

        builtin = get_model_config(model_name)
        if builtin is not None:
            return {"model_cfg": builtin, "preprocess_cfg": {}}, None
    if not model_name.startswith("hf-hub:"):
        raise ModelNotAvailableError(
            f"Encoder name {model_name!r} is neither `hf-hub:org/repo`, `local-dir:/path`, an existing folder, "
            "nor (with pretrained: false) a known architecture."
        )
    repo = model_name.removeprefix("hf-hub:")
    where = (model_name, "slice encoder", _CONFIG_KEY)
    config = json.loads(Path(hub_file(repo, ("open_clip_config.json",), *where)).read_text(encoding="utf-8"))
    checkpoint = hub_file(repo, ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"), *where) if pretrained else None
    return config, checkpoint


def build_vision_tower(config: dict[str, Any]) -> nn.Module:
    """The vision tower an open_clip config describes, with random weights.

    open_clip's public builders (`create_model`, `CLIP(...)`) always build the text tower too; for
    BiomedCLIP that is a BERT whose config must come from a second hub repository, which an offline
    machine cannot reach and which we never use. The vision-only builder open_clip uses internally
    is the one private function we call; it is isolated here.
    """
    from open_clip.model import _build_vision_tower

    model_cfg = config["model_cfg"]
    return _build_vision_tower(model_cfg["embed_dim"], model_cfg["vision_cfg"], model_cfg.get("quick_gelu", False))


def load_visual_weights(visual: nn.Module, checkpoint: str) -> None:
    """Load the `visual.*` part of an open_clip checkpoint into `visual` (the projection head may be absent)."""
    from open_clip.factory import load_state_dict

    state = load_state_dict(checkpoint, weights_only=True)  # a .bin is a pickle: tensors only, never code
    visual_state = {k.removeprefix("visual."): v for k, v in state.items() if k.startswith("visual.")}
    if not visual_state:
        raise ValueError(f"Checkpoint {checkpoint} has no `visual.*` weights; is it an open_clip checkpoint?")
    missing, unexpected = visual.load_state_dict(visual_state, strict=False)
    # The projection head maps pooled features to the CLIP space; we never use it.
    missing = [k for k in missing if not k.startswith(("head", "proj", "trunk.head"))]
    if missing or unexpected:
        raise ValueError(f"Checkpoint {checkpoint} does not fit the vision tower: missing {missing}, unexpected {unexpected}")


class OpenClipSliceEncoder(SliceEncoderBase):
    """Frozen open_clip vision tower applied to every slice of a volume (the paper's BiomedCLIP by default).

    Args:
        model_name: `hf-hub:org/repo`, `local-dir:/path`, or a folder holding `open_clip_config.json` and
            weights. Default: BiomedCLIP ViT-B/16.
        pretrained: load weights. False builds the same architecture with random weights (for speed and
            memory runs without the checkpoint).
        chunk_size: slices encoded per forward call; bounds activation memory.
        dtype: `float32` or `bfloat16`; the weights are cast and slices encoded in this precision.
    """

    def __init__(self, model_name: str = BIOMEDCLIP, pretrained: bool = True, chunk_size: int = 64, dtype: str = "float32") -> None:
        config, checkpoint = read_open_clip_config(model_name, pretrained)
        preprocess = config.get("preprocess_cfg", {})
        super().__init__(chunk_size, preprocess.get("mean", OPENAI_MEAN), preprocess.get("std", OPENAI_STD))
        record_init_args(self, locals())
        self.model_name = model_name
        self.visual = build_vision_tower(config)
        if checkpoint is not None:
            load_visual_weights(self.visual, checkpoint)
        if self._trunk is None:
            self.visual.output_tokens = True  # open_clip's ViT then returns (pooled, tokens after ln_post)
        self.freeze(dtype)

    @property
    def _trunk(self) -> nn.Module | None:
        return getattr(self.visual, "trunk", None)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) the encoder expects."""
        trunk = self._trunk
        size = trunk.patch_embed.img_size if trunk is not None else self.visual.image_size
        return tuple(size) if isinstance(size, (tuple, list)) else (size, size)

    @property
    def grid_size(self) -> tuple[int, int]:
        """(H', W'): the patch grid, N = H'·W'."""
        trunk = self._trunk
        return tuple(trunk.patch_embed.grid_size) if trunk is not None else tuple(self.visual.grid_size)

    @property
    def width(self) -> int:
        """C, the token width."""
        trunk = self._trunk
        return trunk.embed_dim if trunk is not None else self.visual.transformer.width

    def _patch_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(n, 3, H, W) -> (n, N, C): last block after the final norm, prefix tokens dropped."""
        trunk = self._trunk
        if trunk is not None:
            tokens = trunk.forward_features(images)  # timm ViT: final norm applied
            return tokens[:, trunk.num_prefix_tokens :]
        _, tokens = self.visual(images)  # (n, N, C), class token dropped by open_clip
        return tokens
