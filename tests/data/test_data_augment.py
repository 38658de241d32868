"""M3D-LaMed's training augmentation: each transform as M3D's MONAI pipeline draws it, and the data option
that applies it to training volumes only."""

from __future__ import annotations

from pathlib import Path

import torch

from slicevlm.data.augment import M3DAugmentation
from slicevlm.data.datamodule import M3DDataModule

NONE = {"rotate_p": 0.0, "flip_p": 0.0, "scale_p": 0.0, "shift_p": 0.0}


def test_each_transform_is_m3ds():
    volume = torch.rand(4, 6, 6)
    assert torch.equal(M3DAugmentation(**NONE)(volume), volume)
    # RandRotate90(prob=0.5, spatial_axes=(1, 2)) on (1, D, H, W): k quarter turns in the (H, W) plane, k in 1..3.
    turned = {M3DAugmentation(**{**NONE, "rotate_p": 1.0})(volume) for _ in range(60)}
    expected = {k: torch.rot90(volume, k, dims=(1, 2)) for k in (1, 2, 3)}
    seen = {k for k, rotated in expected.items() for candidate in turned if torch.equal(candidate, rotated)}
    assert seen == {1, 2, 3} and all(any(torch.equal(t, r) for r in expected.values()) for t in turned)
    # RandFlip(prob=0.1, spatial_axis=a) for a = 0, 1, 2: each axis flipped on its own draw.
    flipped = M3DAugmentation(**{**NONE, "flip_p": 1.0})(volume)
    assert torch.equal(flipped, torch.flip(volume, (0, 1, 2)))
    # RandScaleIntensity(factors=0.1): v·(1 + f); RandShiftIntensity(offsets=0.1): v + o; f, o ~ U(−0.1, 0.1).
    for _ in range(20):
        scaled = M3DAugmentation(**{**NONE, "scale_p": 1.0})(volume)
        factor = scaled.sum() / volume.sum()
        assert torch.allclose(scaled, volume * factor, atol=1e-6) and 0.9 <= factor <= 1.1
        shifted = M3DAugmentation(**{**NONE, "shift_p": 1.0})(volume)
        offset = (shifted - volume).mean()
        assert torch.allclose(shifted, volume + offset, atol=1e-6) and -0.1 <= offset <= 0.1


def test_probabilities_are_m3ds():
    augmentation = M3DAugmentation()
    assert (augmentation.rotate_p, augmentation.flip_p, augmentation.scale_p, augmentation.shift_p) == (0.5, 0.1, 0.5, 0.5)
    assert (augmentation.scale, augmentation.shift) == (0.1, 0.1)
    torch.manual_seed(0)
    volume = torch.rand(4, 6, 6)
    unchanged = sum(torch.equal(augmentation(volume), volume) for _ in range(400)) / 400
    assert abs(unchanged - 0.5 * 0.9**3 * 0.5 * 0.5) < 0.05  # nothing drawn: ≈ 0.091


def test_a_non_square_slice_keeps_its_shape():
    volume = torch.rand(3, 4, 6)
    for _ in range(20):
        assert M3DAugmentation(rotate_p=1.0)(volume).shape == volume.shape


def test_the_data_option_augments_training_volumes_only(synth_root: Path):
    def volumes(module: M3DDataModule, stage: str) -> torch.Tensor:
        dataset = module.task_dataset("caption", stage)
        return torch.stack([dataset[i]["volume"] for i in range(min(4, len(dataset)))])

    kwargs = {"volume_size": (6, 16, 16), "num_workers": 0, "pin_memory": False}
    plain, augmented = M3DDataModule(str(synth_root), **kwargs), M3DDataModule(str(synth_root), augment=True, **kwargs)
    assert plain.train_volume_loader.augment is None  # off by default (the SliceVLM paper names none)
    torch.manual_seed(0)
    assert not torch.equal(volumes(augmented, "train"), volumes(plain, "train"))
    for stage in ("val", "test"):
        assert torch.equal(volumes(augmented, stage), volumes(plain, stage))
