"""Why the model looked where it did: kept slices (eq. 3–5) and injection attention (eq. 18).

One pass of the vision tower's :meth:`~slicevlm.vision.tower.VisionTower.maps` (the paper's pipeline:
:func:`slicevlm.vision.maps.vision_maps`): the kept slices, the neighbour similarity S_i that drove
the selection, and the attention each high-resolution position (kept slice × patch row × patch
column) received, averaged over heads and over the low-resolution queries, as a ``(D̂, H', W')`` map
scaled to [0, 1] (``None`` without injection).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from slicevlm.inference.volumes import PreparedVolume
from slicevlm.model import SliceVLM


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
    device = next(model.projector.parameters()).device
    start = time.perf_counter()
    maps = model.vision.maps(prepared.tensor.to(device))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    vision_ms = (time.perf_counter() - start) * 1000
    if maps is None:
        raise ValueError(
            f"Explanations show slice selection and injection attention, which {type(model.vision).__name__} "
            "does not have; ask without explaining for this checkpoint."
        )
    kept = maps.kept_slices.tolist()
    return Explanation(
        volume=prepared.tensor.numpy(),
        kept_slices=kept,
        kept_slices_original=[prepared.original_slice(i) for i in kept],
        similarity=maps.similarity.numpy(),
        attention=None if maps.attention is None else maps.attention.numpy(),
        source=prepared.source,
        vision_ms=vision_ms,
    )
