"""Training batches that survive a restart: one shard of the epoch per rank, and a loader that knows its place.

The training order of an epoch is a function of ``(seed, epoch)`` (the task mixture,
:class:`~slicevlm.data.samplers.MixtureSampler`). Two pieces make that order hold across processes
and across a kill:

- :class:`RankShardSampler` gives rank ``r`` of ``W`` the indices ``r, r + W, r + 2W, ...`` of the
  epoch's order (the tail padded by wrapping around, as torch's ``DistributedSampler`` pads), so every
  rank steps the same number of batches and together they read the whole epoch. It subclasses
  ``DistributedSampler`` so that Lightning sees an already sharded sampler and leaves it in place.
- :class:`ResumableDataLoader` counts the batches it has handed out in the current epoch. Lightning
  stores ``state_dict()`` in every checkpoint; on ``fit --ckpt_path`` the state comes back through
  ``load_state_dict()`` before the first batch is drawn (from Lightning, or from the LightningModule
  when Lightning built the loader before restoring), and the loader tells its index source (the
  sampler or the batch sampler) which epoch to produce and how far to skip, so the epoch continues
  where it stopped without reading the skipped samples. Counting happens where batches leave the
  loader, so worker prefetching does not shift the position.

An index source is anything with ``set_epoch(epoch)``, a ``next_epoch`` property (the epoch the next
iteration yields) and ``skip_next(n)`` (drop the first ``n`` items of the next iteration, in its own
unit: indices for a sampler, batches for a batch sampler).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
from torch.utils.data import DataLoader, DistributedSampler


class EpochOrder(Protocol):
    """An epoch's sample order as a function of the epoch (``MixtureSampler`` is one)."""

    def indices(self, epoch: int) -> np.ndarray:
        """The epoch's indices ``(N,)``."""

    def __len__(self) -> int:
        """``N``, the same for every epoch."""


class RankShardSampler(DistributedSampler):
    """This rank's share of an epoch order: every ``num_replicas``-th index, starting at ``rank``.

    Args:
        order: The epoch order to shard (a :class:`~slicevlm.data.samplers.MixtureSampler`).
        num_replicas: Number of ranks (``trainer.world_size``).
        rank: This rank (``trainer.global_rank``).

    Without ``set_epoch``, each new iteration advances the epoch (as ``MixtureSampler`` does).
    """

    def __init__(self, order: EpochOrder, num_replicas: int = 1, rank: int = 0) -> None:
        # Explicit num_replicas and rank: DistributedSampler does not query torch.distributed.
        super().__init__(range(len(order)), num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.order = order
        self._skip = 0

    @property
    def next_epoch(self) -> int:
        """The epoch whose indices the next iteration yields."""
        return int(self.epoch)

    def skip_next(self, count: int) -> None:
        """Leave out the first ``count`` indices of the next iteration (a resumed epoch)."""
        self._skip = int(count)

    def __iter__(self) -> Iterator[int]:
        # A generator: the epoch and the skip are consumed when the first index is asked for, not
        # when iter() is called (a multi-worker DataLoader calls it twice and iterates the second).
        epoch = self.epoch
        self.epoch += 1  # set_epoch (Lightning, every epoch) overrides this
        order = np.asarray(self.order.indices(epoch), dtype=np.int64)
        if self.num_replicas > 1:
            order = np.resize(order, self.total_size)[self.rank :: self.num_replicas]
        start, self._skip = self._skip, 0
        yield from order[start:].tolist()

    def __len__(self) -> int:
        return self.num_samples


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` whose place in the epoch is saved in every Lightning checkpoint.

    Takes the ``DataLoader`` arguments. Its index source is the batch sampler when that can skip
    (``BucketBatchSampler``), else the sampler (``RankShardSampler``).

    State: ``{"epoch", "batches", "batches_per_epoch"}``: the epoch in progress, the batches handed out
    in it, and ``len(self)`` (resuming refuses a loader of another length: another batch size, device
    count or data set would put the position somewhere else).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._epoch = 0
        self._served = 0
        self._resume: tuple[int, int] | None = None

    def _index_source(self) -> tuple[Any, int]:
        """The object that skips, and how many of its items one batch is."""
        if hasattr(self.batch_sampler, "skip_next"):
            return self.batch_sampler, 1
        if hasattr(self.sampler, "skip_next") and self.batch_size is not None:
            return self.sampler, self.batch_size
        raise TypeError(
            f"ResumableDataLoader needs a sampler or batch sampler with skip_next/next_epoch/set_epoch "
            f"(RankShardSampler, BucketBatchSampler); got sampler={type(self.sampler).__name__}, "
            f"batch_sampler={type(self.batch_sampler).__name__}."
        )

    def __iter__(self) -> Iterator[Any]:
        # A generator: the epoch, the skip and the worker start happen at the first next(), not at
        # iter(). Lightning calls iter() while it builds the loader, which can be before the
        # checkpoint is restored and before its set_epoch (e.g. for `estimated_stepping_batches`).
        source, unit = self._index_source()
        epoch = source.next_epoch
        skipped = 0
        if self._resume is not None and self._resume[0] == epoch:
            skipped = self._resume[1]
            source.skip_next(skipped * unit)
        self._resume = None
        self._epoch, self._served = epoch, skipped
        for batch in super().__iter__():
            self._served += 1  # before the batch is used: a checkpoint written during it counts it
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Where this loader stands: the epoch in progress and the batches already handed out in it."""
        return {"epoch": self._epoch, "batches": self._served, "batches_per_epoch": len(self)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from ``state`` at the next iteration (Lightning calls this before it draws a batch).

        Raises:
            ValueError: The state is malformed, or it was written by a loader of another length.
        """
        missing = {"epoch", "batches", "batches_per_epoch"} - set(state)
        if missing:
            raise ValueError(f"training loader state lacks {sorted(missing)}: got {state!r}.")
        epoch, batches, length = int(state["epoch"]), int(state["batches"]), int(state["batches_per_epoch"])
        if length != len(self):
            raise ValueError(
                f"Cannot continue the training epoch: the checkpoint's loader had {length} batches per epoch on "
                f"each rank, this run's has {len(self)}. The batch size, the number of devices or the training "
                "data changed since the checkpoint was written; resume with the settings it was written with."
            )
        if batches >= length:  # the epoch was finished: the next one starts from its beginning
            epoch, batches = epoch + 1, 0
        source, _ = self._index_source()
        source.set_epoch(epoch)  # before Lightning's own set_epoch, which comes after the first iter()
        self._resume = (epoch, batches) if batches else None
