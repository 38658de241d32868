"""Random-number-generator state of every rank, saved in checkpoints so a resumed run draws the same numbers.

LoRA dropout (stage 2) draws from torch's global generator on every training step; a run resumed from
a checkpoint reproduces the uninterrupted run's dropout masks only if each rank continues from the
generator state it had when the checkpoint was written. Data loaders draw their worker seeds from
their own generators (``data/datamodule.py``), so nothing else touches the global state between a
checkpoint and the next step.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture_rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch CPU and CUDA generator states.

    Only tensors and plain Python values, so a checkpoint holding them loads with
    ``torch.load(weights_only=True)`` (Lightning's default for local files).
    """
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    numpy_state = [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached_gaussian)]
    return {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state(), "cuda": cuda}


def restore_rng_state(state: dict[str, Any]) -> None:
    """Set this process's generators to a state from :func:`capture_rng_state`."""
    random.setstate(state["python"])
    name, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def rng_states_of_all_ranks() -> list[dict[str, Any]]:
    """Every rank's :func:`capture_rng_state`, in rank order (collective: call on every rank)."""
    state = capture_rng_state()
    if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
        states: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(states, state)
        return states
    return [state]
