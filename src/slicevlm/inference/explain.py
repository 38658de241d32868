"""Why the model looked where it did: kept slices (eq. 3–5) and injection attention (eq. 18).

One vision pass with ``return_attention=True``; a hook on the encoder keeps the slice features so
the neighbour similarity S_i that drove the selection is reported too. The attention each
high-resolution position (kept slice × patch row × patch column) received, averaged over heads and
over the low-resolution queries, becomes a ``(D̂, H', W')`` map scaled to [0, 1]
(:func:`slicevlm.vision.maps.attention_grid`; ``None`` without injection).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from slicevlm.inference.volumes import PreparedVolume
from slicevlm.model import SliceVLM
from slicevlm.vision.maps import attention_grid
from slicevlm.vision.selection import neighbour_similarity


@dataclass
class Explanation:
    """What the vision side did with one volume.

    Attributes:
        volume: the model-size volume, float32 ``(D, H, W)`` in [0, 1].
        kept_slices: indices into ``volume`` of the slices the selector kept, ascending.
        kept_slices_original: the same slices in the volume as read.
        similarity: S_i, cosine similarity of each slice's mean feature with the next one, ``(D,)``.
        attention: attention received per kept slice and patch, ``(D̂, H', W')`` in [0, 1], or None.
        source: the volume's path or ``"<array>"``.
        vision_ms: time of the vision pass.
    """

    volume: np.ndarray
    kept_slices: list[int]
    kept_slices_original: list[int]
    similarity: np.ndarray
    attention: np.ndarray | None
    source: str
    vision_ms: float

    def attention_on_slice(self, kept_position: int) -> np.ndarray | None:
        """The attention map of the ``kept_position``-th kept slice, upsampled to ``(H, W)``."""
        if self.attention is None:
            return None
        grid = torch.from_numpy(self.attention[kept_position])[None, None]  # (1, 1, H', W')
        size = self.volume.shape[1:]
        return torch.nn.functional.interpolate(grid, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


@torch.no_grad()
def explain_volume(model: SliceVLM, prepared: PreparedVolume) -> Explanation:
    """Run the vision side once on ``prepared`` and collect selection and attention.

    Args:
        model: the loaded model (eval mode).
        prepared: a model-size volume from :func:`slicevlm.inference.volumes.prepare_volume`.
    """
    from slicevlm.vision.pipeline import VisionPipeline

    if not isinstance(model.vision, VisionPipeline):
        raise ValueError(
            f"Explanations show slice selection and injection attention, which {type(model.vision).__name__} "
            "does not have; ask without explaining for this checkpoint."
        )
    device = next(model.projector.parameters()).device
    features: list[torch.Tensor] = []
    handle = model.vision.encoder.register_forward_hook(lambda module, args, output: features.append(output))
    try:
        start = time.perf_counter()
        output = model.vision(prepared.tensor[None].to(device), return_attention=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        vision_ms = (time.perf_counter() - start) * 1000
    finally:
        handle.remove()
    kept = output.kept_slices[0].tolist()
    injection = model.vision.injection
    grid = (len(kept), *model.vision.encoder.grid_size)
    attention = attention_grid(output.attention, injection.region, grid, injection.factor)
    return Explanation(
        volume=prepared.tensor.numpy(),
        kept_slices=kept,
        kept_slices_original=[prepared.original_slice(i) for i in kept],
        similarity=neighbour_similarity(features[-1])[0].cpu().numpy(),
        attention=None if attention is None else attention[0].cpu().numpy(),
        source=prepared.source,
        vision_ms=vision_ms,
    )
