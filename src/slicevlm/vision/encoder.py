"""Frozen 2D slice encoder (paper, "Biomedical CLIP vision encoder", eq. 1–2).

Every slice of a volume is repeated to three channels, normalised with the encoder's own mean and
std, and passed through the vision trunk; we keep the patch tokens of the last block after the final
norm with the class token dropped: F_i ∈ R^{N×C} (N = 196, C = 768 for BiomedCLIP ViT-B/16).

The encoder is an open_clip vision tower, built from the model's `open_clip_config.json` and loaded
from its checkpoint. Only the vision tower is built: BiomedCLIP's text tower is a BERT whose
config lives in another hub repository, and we never need it. Two tower kinds are handled: timm
trunks (BiomedCLIP: `visual.trunk` = timm `vit_base_patch16_224`) and open_clip's own
VisionTransformer (CLIP ViT-L/14, the tiny demo encoder). `backend="transformers"` reads a Hugging
Face CLIP checkpoint instead (PubMedCLIP, Table 8; see `hf_clip.py`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
import torch.nn.functional as F

from slicevlm.config_record import record_init_args
from slicevlm.errors import ConfigError
from slicevlm.hub import ModelNotAvailableError, hub_file, local_directory
from slicevlm.vision.hf_clip import clip_geometry, clip_patch_tokens, load_clip_vision_model

BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
_ARCHITECTURES = Path(__file__).resolve().parent.parent / "assets" / "encoders"
_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _read_open_clip_config(model_name: str, pretrained: bool) -> tuple[dict[str, Any], str | None]:
    """Return (open_clip config dict, checkpoint path or None) for a model name."""
    folder = local_directory(model_name)
    if folder is not None:
        config_path = folder / "open_clip_config.json"
        if not config_path.is_file():
            raise ModelNotAvailableError(
                f"Encoder folder {folder} has no open_clip_config.json; expected the layout of an open_clip "
                "hub repository (open_clip_config.json + open_clip_model.safetensors)."
            )
        from open_clip.factory import _find_checkpoint_in_dir

        checkpoint = _find_checkpoint_in_dir(folder) if pretrained else None
        if pretrained and checkpoint is None:
            raise ModelNotAvailableError(f"Encoder folder {folder} holds no weights (*.safetensors / *.bin).")
        return json.loads(config_path.read_text(encoding="utf-8")), checkpoint
    if not pretrained:
        known = _ARCHITECTURES / f"{model_name.removeprefix('hf-hub:').replace('/', '--')}.json"
        if known.is_file():
            return json.loads(known.read_text(encoding="utf-8")), None
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
    where = (model_name, "slice encoder", "model.vision.encoder.model_name")
    config_path = hub_file(repo, ("open_clip_config.json",), *where)
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    checkpoint = hub_file(repo, ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"), *where) if pretrained else None
    return config, checkpoint


def _build_vision_tower(config: dict[str, Any]) -> nn.Module:
    from open_clip.model import _build_vision_tower

    model_cfg = config["model_cfg"]
    return _build_vision_tower(model_cfg["embed_dim"], model_cfg["vision_cfg"], model_cfg.get("quick_gelu", False))


def _load_visual_weights(visual: nn.Module, checkpoint: str) -> None:
    from open_clip.factory import load_state_dict

    state = load_state_dict(checkpoint)
    visual_state = {k.removeprefix("visual."): v for k, v in state.items() if k.startswith("visual.")}
    if not visual_state:
        raise ValueError(f"Checkpoint {checkpoint} has no `visual.*` weights; is it an open_clip checkpoint?")
    missing, unexpected = visual.load_state_dict(visual_state, strict=False)
    # The projection head maps pooled features to the CLIP space; we never use it.
    missing = [k for k in missing if not k.startswith(("head", "proj", "trunk.head"))]
    if missing or unexpected:
        raise ValueError(f"Checkpoint {checkpoint} does not fit the vision tower: missing {missing}, unexpected {unexpected}")


class SliceEncoder(nn.Module):
    """Frozen open_clip vision tower applied to every slice of a volume.

    Args:
        model_name: `hf-hub:org/repo`, `local-dir:/path`, or a folder holding `open_clip_config.json` and
            weights. Default: BiomedCLIP ViT-B/16.
        pretrained: load weights. False builds the same architecture with random weights (for speed and
            memory runs without the checkpoint).
        chunk_size: slices encoded per forward call; bounds activation memory.
        dtype: `float32` or `bfloat16`; the weights are cast and slices encoded in this precision.
        backend: "open_clip" (open_clip folder / `hf-hub:` repo) or "transformers" (a Hugging Face
            CLIP checkpoint such as PubMedCLIP).
    """

    def __init__(
        self,
        model_name: str = BIOMEDCLIP,
        pretrained: bool = True,
        chunk_size: int = 64,
        dtype: str = "float32",
        backend: Literal["open_clip", "transformers"] = "open_clip",
    ) -> None:
        super().__init__()
        record_init_args(self, locals())
        if backend not in ("open_clip", "transformers"):
            raise ConfigError(f"encoder backend must be 'open_clip' or 'transformers', got {backend!r}")
        self.model_name = model_name
        self.chunk_size = chunk_size
        self.backend = backend
        if backend == "transformers":
            self.visual = load_clip_vision_model(model_name, pretrained)
            preprocess: dict[str, Any] = {}
        else:
            config, checkpoint = _read_open_clip_config(model_name, pretrained)
            self.visual = _build_vision_tower(config)
            if checkpoint is not None:
                _load_visual_weights(self.visual, checkpoint)
            preprocess = config.get("preprocess_cfg", {})
        self.register_buffer("mean", torch.tensor(preprocess.get("mean", _OPENAI_MEAN)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(preprocess.get("std", _OPENAI_STD)).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()
        self.to(getattr(torch, dtype))

    # -- geometry ---------------------------------------------------------------------------------
    @property
    def _trunk(self) -> nn.Module | None:
        return getattr(self.visual, "trunk", None)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) the encoder expects."""
        if self.backend == "transformers":
            return clip_geometry(self.visual)[0]
        trunk = self._trunk
        size = trunk.patch_embed.img_size if trunk is not None else self.visual.image_size
        return tuple(size) if isinstance(size, (tuple, list)) else (size, size)

    @property
    def grid_size(self) -> tuple[int, int]:
        """(H', W'): the patch grid, N = H'·W'."""
        if self.backend == "transformers":
            return clip_geometry(self.visual)[1]
        trunk = self._trunk
        return tuple(trunk.patch_embed.grid_size) if trunk is not None else tuple(self.visual.grid_size)

    @property
    def width(self) -> int:
        """C, the token width."""
        if self.backend == "transformers":
            return clip_geometry(self.visual)[2]
        trunk = self._trunk
        return trunk.embed_dim if trunk is not None else self.visual.transformer.width

    def train(self, mode: bool = True) -> SliceEncoder:
        """The encoder stays in eval mode (frozen: no dropout, fixed norms) whatever the parent does."""
        return super().train(False)

    # -- forward ----------------------------------------------------------------------------------
    def _patch_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(n, 3, H, W) -> (n, N, C): last block after the final norm, prefix tokens dropped."""
        if self.backend == "transformers":
            return clip_patch_tokens(self.visual, images)
        trunk = self._trunk
        if trunk is not None:
            tokens = trunk.forward_features(images)  # timm ViT: final norm applied
            return tokens[:, trunk.num_prefix_tokens :]
        visual = self.visual
        x = visual.transformer(visual._embeds(images))
        return visual.ln_post(x)[:, 1:]

    @torch.no_grad()
    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        """Encode every slice.

        Args:
            volume: (B, D, H, W) intensities in [0, 1].

        Returns:
            F, (B, D, N, C).
        """
        batch, depth = volume.shape[:2]
        slices = volume.reshape(batch * depth, 1, *volume.shape[2:]).to(self.mean.dtype)  # (B·D, 1, H, W)
        if tuple(slices.shape[-2:]) != self.image_size:
            slices = F.interpolate(slices, size=self.image_size, mode="bilinear", align_corners=False)
        outputs = []
        for chunk in slices.split(self.chunk_size):
            images = (chunk.expand(-1, 3, -1, -1) - self.mean) / self.std  # (n, 3, H, W)
            outputs.append(self._patch_tokens(images))
        tokens = torch.cat(outputs)  # (B·D, N, C)
        return tokens.view(batch, depth, *tokens.shape[1:])
