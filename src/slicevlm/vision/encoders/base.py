"""What every slice encoder is (paper, "Biomedical CLIP vision encoder", eq. 1–2).

Every slice of a volume is repeated to three channels, normalised with the encoder's own mean and
std, and passed through a frozen 2D network; its patch tokens are F_i ∈ R^{N×C}, and the volume's
F ∈ R^{D×N×C}. The rest of the pipeline reads only N (through `grid_size`) and C (`width`) from the
encoder, so any network that maps an image to a grid of tokens plugs in.

A new encoder subclasses :class:`SliceEncoderBase`, implements `image_size`, `grid_size`, `width`
and `_patch_tokens`, calls `record_init_args(self, locals())` (so a checkpoint folder can rebuild
it) and ends its `__init__` with `self.freeze(dtype)`; a config then names it by
`model.vision.init_args.encoder.class_path`. Freezing, eval mode, chunking, resizing and
normalisation live here, once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import nn
import torch.nn.functional as F

#: The mean / std CLIP was trained with; the default when a model names none.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class SliceEncoderBase(nn.Module, ABC):
    """A frozen 2D network applied to every slice of a volume: (B, D, H, W) -> (B, D, N, C).

    Args:
        chunk_size: slices encoded per call of `_patch_tokens`; bounds activation memory.
        mean: per-channel mean subtracted from the 3-channel slice.
        std: per-channel std the slice is divided by.
    """

    def __init__(self, chunk_size: int = 64, mean: Sequence[float] = OPENAI_MEAN, std: Sequence[float] = OPENAI_STD) -> None:
        super().__init__()
        self.chunk_size = chunk_size
        self.set_normalisation(mean, std)

    def set_normalisation(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Use this per-channel mean and std (3 values each), e.g. once the model's config has been read."""
        self.register_buffer("mean", torch.tensor(tuple(mean), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(tuple(std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def freeze(self, dtype: str = "float32") -> None:
        """No gradients, eval mode, weights cast to `dtype` ("float32" or "bfloat16"); call last in `__init__`."""
        self.requires_grad_(False)
        self.eval()
        self.to(getattr(torch, dtype))

    # -- geometry: what the rest of the pipeline reads ----------------------------------------------
    @property
    @abstractmethod
    def image_size(self) -> tuple[int, int]:
        """(H, W) the network expects; slices of another size are resampled bilinearly."""

    @property
    @abstractmethod
    def grid_size(self) -> tuple[int, int]:
        """(H', W'): the patch grid, N = H'·W'."""

    @property
    @abstractmethod
    def width(self) -> int:
        """C, the token width."""

    @abstractmethod
    def _patch_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(n, 3, H, W) normalised images -> (n, N, C) patch tokens, row-major over the (H', W') grid."""

    # -- shared behaviour ---------------------------------------------------------------------------
    def train(self, mode: bool = True) -> SliceEncoderBase:
        """The encoder stays in eval mode (frozen: no dropout, fixed norms) whatever the parent does."""
        return super().train(False)

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
        if tuple(slices.shape[-2:]) != tuple(self.image_size):
            slices = F.interpolate(slices, size=self.image_size, mode="bilinear", align_corners=False)
        outputs = []
        for chunk in slices.split(self.chunk_size):
            images = (chunk.expand(-1, 3, -1, -1) - self.mean) / self.std  # (n, 3, H, W)
            outputs.append(self._patch_tokens(images))
        tokens = torch.cat(outputs)  # (B·D, N, C)
        return tokens.view(batch, depth, *tokens.shape[1:])
