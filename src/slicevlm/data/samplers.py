"""Samplers for training: a task mixture (stage 2) and length bucketing.

Both are reproducible from ``(seed, epoch)``. Under DDP, the data module shards the mixture with
``data.resumable.RankShardSampler``, and Lightning injects a ``DistributedSampler`` into the
bucketing batch sampler, which then shards the mixture itself. Lightning calls ``set_epoch`` each
epoch; without it, every new iteration advances the epoch. A resumed run continues an epoch
mid-way through ``skip_next`` (see ``data/resumable.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import BatchSampler, DistributedSampler, Sampler


def apportion(total: int, ratios: Sequence[float]) -> list[int]:
    """Split ``total`` into integer counts proportional to ``ratios`` (largest remainder; exact sum).

    Args:
        total: Number of samples to share out.
        ratios: Non-negative weights, at least one positive.
    """
    weights = np.asarray(ratios, dtype=np.float64)
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"mixture ratios must be >= 0 with a positive sum, got {list(ratios)}.")
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")  # largest remainder first; ties by task order
    counts[order[: total - int(counts.sum())]] += 1
    return [int(c) for c in counts]


class MixtureSampler(Sampler[int]):
    """Indices into a ``ConcatDataset`` of task datasets, each task drawn in proportion to its ratio.

    Per epoch, task ``t`` contributes ``apportion(num_samples, ratios)[t]`` indices: a shuffled pass
    over its dataset, repeated as needed (without replacement inside a pass); the union is
    shuffled.

    Args:
        sizes: Length of each task dataset, in ``ConcatDataset`` order.
        ratios: Weight of each task.
        num_samples: Samples per epoch; ``None`` means ``sum(sizes)``.
        seed: Base seed; the epoch is mixed in.
    """

    def __init__(
        self, sizes: Sequence[int], ratios: Sequence[float], num_samples: int | None = None, seed: int = 0
    ) -> None:
        if len(sizes) != len(ratios) or not sizes:
            raise ValueError(f"need one ratio per dataset, got sizes={list(sizes)}, ratios={list(ratios)}.")
        if any(size <= 0 for size in sizes):
            raise ValueError(f"every task dataset must be non-empty, got sizes={list(sizes)}.")
        self.sizes = [int(s) for s in sizes]
        self.ratios = [float(r) for r in ratios]
        self.num_samples = int(sum(self.sizes) if num_samples is None else num_samples)
        self.counts = apportion(self.num_samples, self.ratios)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def indices(self, epoch: int) -> np.ndarray:
        """The epoch's indices (``num_samples``,), without advancing the epoch."""
        rng = np.random.default_rng([self.seed, epoch])
        offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        parts = []
        for size, count, offset in zip(self.sizes, self.counts, offsets):
            passes = -(-count // size) if count else 0
            draws = np.concatenate([rng.permutation(size) for _ in range(passes)]) if passes else np.empty(0, np.int64)
            parts.append(draws[:count] + offset)
        order = np.concatenate(parts).astype(np.int64)
        rng.shuffle(order)
        return order

    def __iter__(self) -> Iterator[int]:
        order = self.indices(self.epoch)
        self.epoch += 1
        return iter(order.tolist())


class BucketBatchSampler(BatchSampler):
    """Batches of samples with similar text length, in shuffled order.

    The epoch's indices are cut into chunks of ``batch_size * bucket_batches``; each chunk is
    sorted by length and cut into batches; the batches are shuffled. Similar lengths share a batch
    (less padding) while the epoch stays random.

    The indices come from ``mixture`` when given, else from ``sampler``. Lightning replaces
    ``sampler`` with a ``DistributedSampler`` over the dataset under DDP (this class subclasses
    ``BatchSampler`` and takes ``sampler`` first so it can); with a ``mixture``, that sampler only
    contributes the rank, the number of replicas and the epoch, and each rank takes every
    ``num_replicas``-th index of the mixture (padded by wrapping around), so the task ratios hold
    on every rank.

    Args:
        sampler: Yields dataset indices, or (with ``mixture``) any sampler over the dataset.
        batch_size: Samples per batch.
        drop_last: Drop the last incomplete batch.
        lengths: Text length of every dataset index.
        bucket_batches: Batches per sorted chunk.
        seed: Seed for the batch order; the epoch is mixed in.
        mixture: The task mixture the indices are drawn from.
    """

    def __init__(
        self,
        sampler: Sampler[int],
        batch_size: int,
        drop_last: bool,
        lengths: Sequence[int] = (),
        bucket_batches: int = 50,
        seed: int = 0,
        mixture: MixtureSampler | None = None,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.bucket_batches = int(bucket_batches)
        self.seed = seed
        self.mixture = mixture
        self._epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration yields."""
        self._epoch = int(epoch)
        if isinstance(self.sampler, (DistributedSampler, MixtureSampler)):
            self.sampler.set_epoch(epoch)
        if self.mixture is not None and self.mixture is not self.sampler:
            self.mixture.set_epoch(epoch)

    @property
    def next_epoch(self) -> int:
        """The epoch whose batches the next iteration yields."""
        if isinstance(self.sampler, (DistributedSampler, MixtureSampler)):
            return int(self.sampler.epoch)  # Lightning calls set_epoch on it
        return self._epoch

    def skip_next(self, count: int) -> None:
        """Leave out the first ``count`` batches of the next iteration (a resumed epoch)."""
        self._skip = int(count)

    def _next_epoch(self) -> int:
        epoch = self.next_epoch
        if isinstance(self.sampler, (DistributedSampler, MixtureSampler)):
            self.sampler.set_epoch(epoch + 1)  # set_epoch (Lightning, every epoch) overrides this
        else:
            self._epoch = epoch + 1
        return epoch

    def indices(self, epoch: int) -> np.ndarray:
        """This rank's indices for ``epoch``, before bucketing."""
        if self.mixture is None:
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        order = self.mixture.indices(epoch)
        if isinstance(self.sampler, DistributedSampler):
            replicas, rank = self.sampler.num_replicas, self.sampler.rank
            order = np.resize(order, -(-len(order) // replicas) * replicas)[rank::replicas]
        return order

    def __iter__(self) -> Iterator[list[int]]:
        # A generator: nothing (epoch, skip) is consumed until the first batch is asked for; a
        # multi-worker DataLoader calls iter() twice and iterates only the second.
        epoch = self._next_epoch()
        indices = self.indices(epoch)
        chunk = self.batch_size * self.bucket_batches
        batches: list[list[int]] = []
        for start in range(0, len(indices), chunk):
            block = indices[start : start + chunk]
            block = block[np.argsort(self.lengths[block], kind="stable")]
            batches += [block[i : i + self.batch_size].tolist() for i in range(0, len(block), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        order = np.random.default_rng([self.seed, epoch, 7]).permutation(len(batches))
        start, self._skip = self._skip, 0
        yield from (batches[i] for i in order[start:])

    def __len__(self) -> int:
        if self.mixture is None:
            n = len(self.sampler)  # type: ignore[arg-type]
        elif isinstance(self.sampler, DistributedSampler):
            n = -(-len(self.mixture) // self.sampler.num_replicas)
        else:
            n = len(self.mixture)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
