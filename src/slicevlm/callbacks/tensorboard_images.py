"""Pictures of what the vision side did with one validation volume, for TensorBoard.

Three grayscale images, one tile per kept slice in z order (left to right, then down):

- ``{prefix}/images/kept_slices``: the slices the selector kept (eq. 3–5), as the model saw them;
- ``{prefix}/images/fusion_gate``: the fusion gate α (eq. 12–13) averaged over channels, white = the
  spatial branch, black = the frequency branch (absent unless ``fusion: both``);
- ``{prefix}/images/injection_attention``: the attention each position received (eq. 18), min-max
  scaled per volume, white = most attended (absent with ``injection: none``);

and a text entry ``{prefix}/images/about`` naming the volume and the kept slice indices. The maps are
upsampled (nearest) to the tile size, so a tile of the gate or the attention lies over its slice.
Tiles are at most :data:`MAX_TILE` pixels a side, to keep the event files small.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from slicevlm.vision.maps import VisionMaps

#: Largest tile side in pixels.
MAX_TILE = 128
#: Tiles per row.
COLUMNS = 7


def tiles(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(K, h, w)`` maps → ``(K, H, W)`` at ``size`` (nearest neighbour, so patches stay visible)."""
    return F.interpolate(images[:, None].float(), size=size, mode="nearest")[:, 0]


def montage(images: torch.Tensor, columns: int = COLUMNS) -> torch.Tensor:
    """``(K, H, W)`` tiles → one ``(1, rows·(H+1)-1, cols·(W+1)-1)`` image, tiles split by 1-pixel black lines."""
    count, height, width = images.shape
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    canvas = torch.zeros(rows * (height + 1) - 1, columns * (width + 1) - 1)
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = row * (height + 1), column * (width + 1)
        canvas[top : top + height, left : left + width] = images[index]
    return canvas[None].clamp(0, 1)  # (1, H_total, W_total)


def tile_size(volume: torch.Tensor) -> tuple[int, int]:
    """``(H, W)`` of the volume's slices, scaled down so the larger side is at most :data:`MAX_TILE`."""
    height, width = volume.shape[-2:]
    scale = min(1.0, MAX_TILE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def vision_images(volume: torch.Tensor, maps: VisionMaps) -> dict[str, torch.Tensor]:
    """The images by tag suffix (``kept_slices``, ``fusion_gate``, ``injection_attention``), each ``(1, H, W)``.

    Args:
        volume: the model-size volume, ``(D, H, W)`` in [0, 1].
        maps: what the vision pipeline did with it.
    """
    size = tile_size(volume)
    kept = volume.detach().float().cpu()[maps.kept_slices]  # (D̂, H, W)
    images = {"kept_slices": montage(tiles(kept, size))}
    if maps.gate is not None:
        images["fusion_gate"] = montage(tiles(maps.gate, size))
    if maps.attention is not None:
        images["injection_attention"] = montage(tiles(maps.attention, size))
    return images


def log_vision_images(experiment: Any, prefix: str, sample_id: str, volume: torch.Tensor, maps: VisionMaps, step: int) -> None:
    """Write the images and their caption to a TensorBoard ``SummaryWriter``."""
    for name, image in vision_images(volume, maps).items():
        experiment.add_image(f"{prefix}/images/{name}", image, global_step=step, dataformats="CHW")
    about = [f"volume `{sample_id}`, kept slices {maps.kept_slices.tolist()} of {volume.shape[0]}"]
    if maps.gate is not None:
        about.append(f"fusion gate α mean {maps.gate.mean():.3f} (1 = spatial branch, 0 = frequency branch)")
    if maps.attention is None:
        about.append("no injection attention (injection: none)")
    experiment.add_text(f"{prefix}/images/about", "  \n".join(about), global_step=step)
