"""Rank shards of the training epoch and a loader that continues mid-epoch (files and LitData shards)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from slicevlm.data.datamodule import M3DDataModule
from slicevlm.data.resumable import RankShardSampler, ResumableDataLoader
from slicevlm.data.samplers import MixtureSampler

SIZE = (6, 16, 16)
TASKS = {"caption": 1, "vqa_closed": 1, "vqa_open": 1}


def _module(root: Path, rank: int = 0, world: int = 1, **kwargs) -> M3DDataModule:
    defaults = {"volume_size": SIZE, "batch_size": 3, "num_workers": 0, "pin_memory": False, "train_tasks": TASKS,
                "train_samples_per_epoch": 25}
    module = M3DDataModule(str(root), **{**defaults, **kwargs})
    module.trainer = SimpleNamespace(world_size=world, global_rank=rank)  # what the data module reads of a Trainer
    module.setup("fit")
    return module


def _epoch(loader: ResumableDataLoader, epoch: int) -> list[list[str]]:
    (loader.batch_sampler if hasattr(loader.batch_sampler, "skip_next") else loader.sampler).set_epoch(epoch)
    return [batch["id"] for batch in loader]


def test_rank_shards_split_the_epoch_order() -> None:
    mixture = MixtureSampler([10, 7], [1, 2], num_samples=25, seed=3)
    shards = [RankShardSampler(mixture, num_replicas=3, rank=r) for r in range(3)]
    for shard in shards:
        shard.set_epoch(4)
    parts = [list(shard) for shard in shards]
    assert [len(part) for part in parts] == [9, 9, 9] == [len(shard) for shard in shards]
    order = mixture.indices(4)
    assert [i for triple in zip(*parts, strict=True) for i in triple] == np.resize(order, 27).tolist()  # wraps around
    whole = RankShardSampler(mixture)
    assert list(whole) == mixture.indices(0).tolist() and list(whole) == mixture.indices(1).tolist()  # self-advancing


@pytest.mark.parametrize("bucketing", [False, True], ids=["mixture", "length-bucketing"])
@pytest.mark.parametrize("workers", [0, 1])
def test_loader_continues_mid_epoch_where_it_stopped(synth_root: Path, bucketing: bool, workers: int) -> None:
    module = _module(synth_root, num_workers=workers, length_bucketing=bucketing, bucket_batches=2)
    reference = [_epoch(module.train_dataloader(), epoch) for epoch in (0, 1, 2)]

    loader = module.train_dataloader()
    (loader.batch_sampler if bucketing else loader.sampler).set_epoch(1)
    iterator = iter(loader)
    seen = [next(iterator)["id"] for _ in range(3)]  # workers have prefetched more than these three
    state = loader.state_dict()
    assert state == {"epoch": 1, "batches": 3, "batches_per_epoch": 9} and seen == reference[1][:3]
    del iterator

    fresh = _module(synth_root, num_workers=workers, length_bucketing=bucketing, bucket_batches=2).train_dataloader()
    fresh.load_state_dict(state)  # as Lightning does on `fit --ckpt_path`, before its own set_epoch
    rest = [batch["id"] for batch in fresh]
    assert rest == reference[1][3:]
    assert len(fresh) == 9 and fresh.state_dict()["batches"] == 9
    assert _epoch(fresh, 2) == reference[2]  # the next epoch is whole again


def test_state_at_the_end_of_an_epoch_starts_the_next_one(synth_root: Path) -> None:
    module = _module(synth_root)
    second_epoch = _epoch(module.train_dataloader(), 1)
    fresh = _module(synth_root).train_dataloader()
    fresh.load_state_dict({"epoch": 0, "batches": 9, "batches_per_epoch": 9})
    assert [batch["id"] for batch in fresh] == second_epoch


def test_resuming_with_another_batch_count_is_refused(synth_root: Path) -> None:
    loader = _module(synth_root, batch_size=5).train_dataloader()
    with pytest.raises(ValueError, match="checkpoint's loader had 9 batches per epoch on each rank, this run's has 5"):
        loader.load_state_dict({"epoch": 0, "batches": 2, "batches_per_epoch": 9})
    with pytest.raises(ValueError, match=r"lacks \['batches_per_epoch'\]"):
        loader.load_state_dict({"epoch": 0, "batches": 2})


def test_ranks_read_disjoint_shards_and_resume_them(synth_root: Path) -> None:
    single = _epoch(_module(synth_root, batch_size=6, train_samples_per_epoch=24).train_dataloader(), 0)
    ranks = [_module(synth_root, rank=r, world=2, train_samples_per_epoch=24).train_dataloader() for r in (0, 1)]
    per_rank = [_epoch(loader, 0) for loader in ranks]
    assert len(single) == len(per_rank[0]) == len(per_rank[1]) == 4  # 12 samples per rank, batches of 3
    for step, whole in enumerate(single):  # step t of the two ranks together = step t of one process, batch 6
        assert sorted(per_rank[0][step] + per_rank[1][step]) == sorted(whole)
        assert not set(per_rank[0][step]) & set(per_rank[1][step])
    state = ranks[1].state_dict() | {"batches": 2}
    fresh = _module(synth_root, rank=1, world=2, train_samples_per_epoch=24).train_dataloader()
    fresh.load_state_dict(state)
    assert [batch["id"] for batch in fresh] == per_rank[1][2:]


@pytest.fixture(scope="module")
def shards(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from slicevlm.io.shards import write_volume_shards

    output = tmp_path_factory.mktemp("resumable_shards") / "volumes"
    write_volume_shards(synth_root, str(output), workers=1, chunk_bytes="64KB")
    return output


def test_litdata_shards_per_rank_with_a_resumable_position(synth_root: Path, shards: Path) -> None:
    """Volumes streamed from LitData chunks by key: each rank reads its shard; a restart continues it."""
    files = [_module(synth_root, rank=r, world=2) for r in (0, 1)]
    streamed = [_module(synth_root, rank=r, world=2, volume_shards=str(shards), num_workers=1) for r in (0, 1)]
    for from_files, from_shards in zip(files, streamed, strict=True):
        expected = list(from_files.train_dataloader())
        loader = from_shards.train_dataloader()
        iterator = iter(loader)
        first = [next(iterator) for _ in range(2)]
        state = loader.state_dict()
        del iterator
        resumed = _module(synth_root, rank=from_shards.trainer.global_rank, world=2, volume_shards=str(shards))
        rest_loader = resumed.train_dataloader()
        rest_loader.load_state_dict(state)
        batches = first + list(rest_loader)
        assert [b["id"] for b in batches] == [b["id"] for b in expected]
        assert all(torch.equal(a["volume"], b["volume"]) for a, b in zip(batches, expected, strict=True))
