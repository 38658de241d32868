"""Training augmentation of M3D-LaMed (Bai et al., "M3D", 2024), as its code trains (`LaMed/src/dataset/
multi_dataset.py`, MONAI transforms on the (1, D, H, W) volume):

    rotate by k·90° in the (H, W) plane, k ∈ {1, 2, 3}     p = 0.5   (RandRotate90, spatial_axes (1, 2))
    flip along D, along H, along W, each on its own         p = 0.1 each (RandFlip)
    scale intensities: v ← v · (1 + f), f ~ U(−0.1, 0.1)    p = 0.5   (RandScaleIntensity, factors 0.1)
    shift intensities: v ← v + o, o ~ U(−0.1, 0.1)          p = 0.5   (RandShiftIntensity, offsets 0.1)

in this order, on training volumes only. The SliceVLM paper names no augmentation, so
`M3DDataModule(augment=False)` is the default; the M3D-LaMed configs turn it on. The draws come from
torch's global generator (in a DataLoader worker, the worker's own, seeded from the loader's seed).
A quarter turn of a non-square slice would change its (H, W); such volumes are turned by 180° or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class M3DAugmentation:
    """M3D-LaMed's random training transforms of a (D, H, W) volume; defaults are M3D's.

    Attributes:
        rotate_p: probability of a k·90° turn in the (H, W) plane.
        flip_p: probability of a flip, drawn for each of D, H and W.
        scale_p, scale: probability and range ±scale of the intensity factor 1 + f.
        shift_p, shift: probability and range ±shift of the intensity offset.
    """

    rotate_p: float = 0.5
    flip_p: float = 0.1
    scale_p: float = 0.5
    scale: float = 0.1
    shift_p: float = 0.5
    shift: float = 0.1

    def __call__(self, volume: torch.Tensor) -> torch.Tensor:
        """(D, H, W) -> (D, H, W), a new tensor."""
        if _happens(self.rotate_p):
            square = volume.shape[1] == volume.shape[2]
            quarter_turns = int(torch.randint(1, 4, ())) if square else 2
            volume = torch.rot90(volume, quarter_turns, dims=(1, 2))
        for axis in range(3):
            if _happens(self.flip_p):
                volume = torch.flip(volume, dims=(axis,))
        if _happens(self.scale_p):
            volume = volume * (1 + _uniform(self.scale))
        if _happens(self.shift_p):
            volume = volume + _uniform(self.shift)
        return volume.contiguous()


def _happens(probability: float) -> bool:
    return bool(torch.rand(()) < probability)


def _uniform(bound: float) -> float:
    """A draw from U(−bound, bound)."""
    return float((torch.rand(()) * 2 - 1) * bound)
