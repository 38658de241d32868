"""What a LightningModule must carry through a checkpoint so that `fit --ckpt_path last` continues the run
exactly: the training loader's position in its epoch and every rank's random-generator state.

Lightning restores the fit loop, the optimiser and the weights itself. Two things it misses here:

- the loader's position: Lightning gives it back only to a loader built after the restore, but
  ``configure_optimizers`` (``estimated_stepping_batches``) builds the loader before; the position is
  kept from the checkpoint and handed to the :class:`~slicevlm.data.resumable.ResumableDataLoader` when
  training starts;
- each rank's generator state (dropout masks, random augmentation): saved by every rank
  (``rng.py``) and restored right before the first batch.

Every training module mixes in :class:`ResumableState` before ``LightningModule`` and calls
:meth:`~ResumableState.save_resume_state` from ``on_save_checkpoint`` and
:meth:`~ResumableState.restore_resume_state` from ``on_train_start``.
"""

from __future__ import annotations

from typing import Any

from slicevlm.data.resumable import ResumableDataLoader
from slicevlm.training.errors import ResumeError
from slicevlm.training.rng import restore_rng_state, rng_states_of_all_ranks


class ResumableState:
    """Mix-in for a LightningModule: keeps the loader position and this rank's RNG state across a checkpoint."""

    _loader_state: dict[str, int] | None = None
    _rng_to_restore: dict[str, Any] | None = None

    def save_resume_state(self, checkpoint: dict[str, Any]) -> None:
        """Add every rank's generator state to `checkpoint` (collective: every rank must call it)."""
        checkpoint["rng_states"] = rng_states_of_all_ranks()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the loader's position and this rank's RNG state for `on_train_start` (before the first batch)."""
        loader_states = checkpoint.get("loops", {}).get("fit_loop", {}).get("state_dict", {}).get("combined_loader")
        self._loader_state = loader_states[0] if loader_states and len(loader_states) == 1 else None
        states = checkpoint.get("rng_states")
        if not states or self._trainer is None:  # type: ignore[attr-defined]
            return
        world, rank = self.trainer.world_size, self.trainer.global_rank  # type: ignore[attr-defined]
        if len(states) != world:
            if self.trainer.state.fn == "fit":  # type: ignore[attr-defined]
                raise ResumeError(
                    f"The checkpoint was written by {len(states)} processes and this run has {world}: its data shards "
                    "and random streams cannot continue. Resume on as many devices as it was trained on."
                )
            return
        self._rng_to_restore = states[rank]

    def restore_resume_state(self) -> None:
        """Give the training loader its position and this rank its generator state (call from `on_train_start`)."""
        loader = self.trainer.train_dataloader  # type: ignore[attr-defined]
        if self._loader_state is not None and isinstance(loader, ResumableDataLoader):
            loader.load_state_dict(self._loader_state)
        self._loader_state = None
        if self._rng_to_restore is not None:
            restore_rng_state(self._rng_to_restore)
            self._rng_to_restore = None
