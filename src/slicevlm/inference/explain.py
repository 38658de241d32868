"""Why the model looked where it did: kept slices (eq. 3–5) and injection attention (eq. 17).

One vision pass with ``return_attention=True``; a hook on the encoder keeps the slice features so
the neighbour similarity S_i that drove the selection is reported too. The attention each
high-resolution position (kept slice × patch row × patch column) received, averaged over heads and
over the low-resolution queries, becomes a ``(D̂, H', W')`` map scaled to [0, 1]:

- ``global`` injection: attention is ``(B, heads, M', D̂·H'·W')``, every query sees every position;
- ``local``: attention is ``(B, heads, M', s³)``, each query sees its own children, scattered back;
- ``none`` (ablation): there is no attention; the map is ``None``.

The map is min-max scaled per volume (0 = least attended position, 1 = most), so a nearly uniform
attention still shows where it is relatively concentrated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from slicevlm.inference.volumes import PreparedVolume
from slicevlm.model import SliceVLM
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


def attention_grid(
    attention: torch.Tensor | None, region: str, grid: tuple[int, int, int], factor: int
) -> torch.Tensor | None:
    """Attention received per high-resolution position, ``(B, D̂, H', W')`` min-max scaled per volume.

    Args:
        attention: injection attention, ``(B, heads, M', keys)``, or None.
        region: the injection's region, ``"global"``, ``"local"`` or ``"none"``.
        grid: ``(D̂, H', W')``, the high-resolution grid.
        factor: s, the downsampling factor.
    """
    if attention is None or region == "none":
        return None
    depth, height, width = grid
    weights = attention.float().mean(dim=1)  # (B, M', keys)
    batch = weights.shape[0]
    if region == "global":
        received = weights.mean(dim=1).view(batch, depth, height, width)  # (B, D̂, H', W')
    else:
        s = factor
        blocks = weights.view(batch, depth // s, height // s, width // s, s, s, s)  # children in (z, y, x) order
        received = blocks.permute(0, 1, 4, 2, 5, 3, 6).reshape(batch, depth, height, width)
    low = received.flatten(1).amin(dim=1).view(batch, 1, 1, 1)
    span = (received.flatten(1).amax(dim=1).view(batch, 1, 1, 1) - low).clamp_min(1e-12)
    return (received - low) / span  # min-max per volume: a heat map shows where attention is *relatively* high


@torch.no_grad()
def explain_volume(model: SliceVLM, prepared: PreparedVolume) -> Explanation:
    """Run the vision side once on ``prepared`` and collect selection and attention.

    Args:
        model: the loaded model (eval mode).
        prepared: a model-size volume from :func:`slicevlm.inference.volumes.prepare_volume`.
    """
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
