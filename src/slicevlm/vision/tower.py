"""What every vision tower is: a volume in, visual tokens out.

    volume (B, D, H, W) in [0, 1] ──tower──▶ tokens (B, M, C) ──projector──▶ (B, M, d_llm)

`SliceVLM`, the Lightning module, the checkpoint folder and inference read only this interface, so
a config swaps the whole vision side by `model.vision.class_path`: the paper's
:class:`~slicevlm.vision.pipeline.VisionPipeline` (2D slice encoder + selection + fusion +
injection), or a baseline's 3D tower (:mod:`slicevlm.vision.baselines`).

A tower says

- `width` (C) and `token_count(depth)` (M for volumes of `depth` slices; `num_tokens` when the
  tower takes one input size only);
- `input_size`: the (D, H, W) it needs, or None when it resamples any size itself;
- `trainable_modules()`: the modules a checkpoint folder stores (`vision.safetensors`), by name;
  `frozen_modules()`: large frozen parts named by the config and not stored;
- `build_projector(d_llm)`: its projector into the LLM (default: the paper's MLP, eq. 19–21). A tower
  whose projector reads more than the tokens (Med3DVLM's two streams) puts the extra feature maps in
  `VisionOutput.streams`; the projector is called as `projector(tokens, *streams)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from slicevlm.errors import ConfigError
from slicevlm.vision.projector import VisualProjector


@dataclass
class VisionOutput:
    """What a vision tower returns.

    Attributes:
        tokens: visual tokens, (B, M, C).
        kept_slices: indices of the slices a selector kept, (B, D̂); None for towers that read every slice.
        attention: injection attention (B, heads, M', keys) when asked for and available, else None.
        streams: further feature maps the tower's own projector reads (e.g. Med3DVLM's penultimate
            stage, (B, N2, C2)); empty for the paper's pipeline.
    """

    tokens: torch.Tensor
    kept_slices: torch.Tensor | None = None
    attention: torch.Tensor | None = None
    streams: tuple[torch.Tensor, ...] = field(default_factory=tuple)


class VisionTower(nn.Module, ABC):
    """Volume (B, D, H, W) in [0, 1] → visual tokens (B, M, C). Subclasses record their init args."""

    @property
    @abstractmethod
    def width(self) -> int:
        """C, the width of the tokens `forward` returns."""

    @abstractmethod
    def token_count(self, depth: int) -> int:
        """M, the number of visual embeddings the LLM receives for volumes of `depth` slices (after the
        tower's projector: the same as the tokens `forward` returns unless the projector resamples them)."""

    @abstractmethod
    def trainable_modules(self) -> dict[str, nn.Module]:
        """The modules a checkpoint folder stores, by name (their state dicts go to `vision.safetensors`)."""

    @abstractmethod
    def forward(self, volume: torch.Tensor, return_attention: bool = False) -> VisionOutput:
        """(B, D, H, W) in [0, 1] -> :class:`VisionOutput` with tokens (B, M, C)."""

    @property
    def input_size(self) -> tuple[int, int, int] | None:
        """(D, H, W) the tower needs, or None when it accepts (resamples) any size."""
        return None

    @property
    def num_tokens(self) -> int | None:
        """M at the tower's own `input_size`; None when M depends on the depth (see `token_count`)."""
        size = self.input_size
        return None if size is None else self.token_count(size[0])

    def frozen_modules(self) -> dict[str, nn.Module]:
        """Frozen parts named by the config and not stored in a checkpoint (e.g. a pretrained 2D encoder)."""
        return {}

    def build_projector(self, hidden_size: int) -> nn.Module:
        """The projector into an LLM of width `hidden_size`: called as `projector(tokens, *streams)`."""
        return VisualProjector(self.width, hidden_size)

    def maps(self, volume: torch.Tensor) -> Any | None:
        """What the tower looked at for one (D, H, W) volume (`slicevlm.vision.maps.VisionMaps`: TensorBoard images,
        `ask --explain`); None when it has no such maps."""
        return None

    def check_input_size(self, size: tuple[int, ...]) -> None:
        """Refuse volumes of another (D, H, W) than `input_size`, naming the data option to change."""
        expected = self.input_size
        if expected is not None and tuple(size) != tuple(expected):
            raise ConfigError(
                f"{type(self).__name__} reads volumes of (D, H, W) = {tuple(expected)}, got {tuple(size)}; "
                f"set data.volume_size: {list(expected)} (or build the tower for {tuple(size)})."
            )

    def record(self, depth: int) -> dict[str, Any]:
        """What a checkpoint folder's `slicevlm.json` says about the tower (`vision_tower`)."""
        size = self.input_size
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "input_size": None if size is None else list(size),
            "width": self.width,
            "visual_tokens": self.token_count(depth),
            "intensity": "[0, 1] (min-max normalised volume)",
        }
