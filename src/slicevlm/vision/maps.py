"""What the vision pipeline did with one volume, as maps over the kept slices (for people to look at).

- kept slices: the indices the selector kept (eq. 3–5), and the neighbour similarity S_i of every
  slice that drove the choice;
- fusion gate: α of eq. 12–13 averaged over channels, ``(D̂, H', W')`` in (0, 1); 1 means the
  spatial branch alone, 0 the frequency branch alone (``None`` unless ``fusion="both"``);
- injection attention: the attention each high-resolution position (kept slice × patch row × patch
  column) received (eq. 18), averaged over heads and queries, min-max scaled per volume to [0, 1]:

  - ``global`` injection: attention is ``(B, heads, M', D̂·H'·W')``, every query sees every position;
  - ``local``: attention is ``(B, heads, M', s³)``, each query sees its own children, scattered back;
  - ``none`` (ablation): there is no attention; the map is ``None``.

The attention map is min-max scaled per volume (0 = least attended position, 1 = most), so a nearly
uniform attention still shows where it is relatively concentrated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


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


@dataclass
class VisionMaps:
    """The maps of one volume (see the module docstring).

    Attributes:
        kept_slices: indices of the kept slices in the input volume, ascending, ``(D̂,)``.
        similarity: S_i, cosine similarity of each slice's mean feature with the next one's, ``(D,)``.
        gate: mean fusion gate α per position, ``(D̂, H', W')``, or None.
        attention: attention received per position, ``(D̂, H', W')`` in [0, 1], or None.
    """

    kept_slices: torch.Tensor
    similarity: torch.Tensor
    gate: torch.Tensor | None
    attention: torch.Tensor | None


@torch.no_grad()
def vision_maps(pipeline: nn.Module, volume: torch.Tensor) -> VisionMaps:
    """One pass of `pipeline` over one volume, keeping the kept slices, the fusion gate and the attention.

    Args:
        pipeline: the paper's vision pipeline (:class:`~slicevlm.vision.pipeline.VisionPipeline`, which
            imports this module; its mode is left as it was).
        volume: ``(D, H, W)`` in [0, 1], on the pipeline's device.
    """
    from slicevlm.vision.selection import neighbour_similarity

    gates: list[torch.Tensor] = []
    features: list[torch.Tensor] = []  # the slice features F, (1, D, N, C)
    gate = pipeline.fusion.gate
    handles = [pipeline.encoder.register_forward_hook(lambda module, args, output: features.append(output))]
    if gate is not None:
        handles.append(gate.register_forward_hook(lambda module, args, output: gates.append(output)))
    try:
        output = pipeline(volume[None], return_attention=True)  # tokens (1, M', C)
    finally:
        for handle in handles:
            handle.remove()
    kept = output.kept_slices[0]  # (D̂,)
    grid = (kept.numel(), *pipeline.encoder.grid_size)
    attention = attention_grid(output.attention, pipeline.injection.region, grid, pipeline.injection.factor)
    alpha = torch.sigmoid(gates[-1].float()).mean(dim=1)[0] if gates else None  # (C, D̂, H', W') → (D̂, H', W')
    return VisionMaps(
        kept_slices=kept.cpu(),
        similarity=neighbour_similarity(features[-1])[0].float().cpu(),
        gate=None if alpha is None else alpha.cpu(),
        attention=None if attention is None else attention[0].cpu(),
    )
