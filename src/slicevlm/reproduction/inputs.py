"""What a `reproduce` run on real data needs, checked before any work: the M3D files and the checkpoint folders."""

from __future__ import annotations

from pathlib import Path

from slicevlm.errors import SliceVLMError


class ReproduceError(SliceVLMError, RuntimeError):
    """Something the user must provide (data, checkpoint) is missing."""


def check_real_data(root: Path, tasks: list[str]) -> None:
    """Fail fast, saying what to download, when the M3D files for `tasks` are not under `root`."""
    needed = (["M3D_Cap.json"] if "caption" in tasks else []) + (
        ["M3D_VQA_test.csv"] if {"vqa_open", "vqa_closed"} & set(tasks) else []
    )
    missing = [name for name in needed if not (root / name).is_file()]
    if missing:
        raise ReproduceError(
            f"M3D data not found under {root}: missing {', '.join(missing)}.\n"
            "Download M3D-Cap (M3D_Cap.json + M3D_Cap_npy/) and M3D-VQA (M3D_VQA_*.csv) as data/README.md "
            "describes, put them in one folder and pass it with DATA=/that/folder (make) or --data. "
            "Check it with `slicevlm check-data DIR`. DATA=synthetic runs the CPU twin instead."
        )


def check_checkpoint(folder: Path, how_to_train: str) -> None:
    """Fail fast when `folder` is not a checkpoint folder."""
    if not (folder / "slicevlm.json").is_file():
        raise ReproduceError(
            f"No trained checkpoint folder at {folder}.\n{how_to_train}\n"
            "Or point CHECKPOINT=/path/to/checkpoint (make) or --checkpoint at one you have."
        )
