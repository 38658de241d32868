"""LitData shards: the same volumes by key as from the files, resumable, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from slicevlm.data.datamodule import M3DDataModule
from slicevlm.data.datasets import VolumeLoader
from slicevlm.io.errors import DataError
from slicevlm.io.shards import ShardVolumeSource, list_volumes, main, write_volume_shards

SIZE = (8, 16, 16)


@pytest.fixture(scope="module")
def shards(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("shards") / "volumes"
    summary = write_volume_shards(synth_root, str(output), workers=2, chunk_bytes="64KB")
    assert summary == {"volumes": len(list_volumes(synth_root)), "output_dir": str(output), "skipped": False}
    return output


def test_every_volume_reads_back_identical(synth_root: Path, shards: Path) -> None:
    from_files = VolumeLoader(synth_root, SIZE)
    from_shards = VolumeLoader(synth_root, SIZE, shards=ShardVolumeSource(str(shards)))
    assert len(list(shards.glob("chunk-*.bin"))) > 1  # several chunks, several workers
    for image_path in list_volumes(synth_root):
        assert torch.equal(from_files(image_path, "test"), from_shards(image_path, "test")), image_path


def test_datamodule_streams_from_shards(synth_root: Path, shards: Path) -> None:
    common = dict(data_root=str(synth_root), volume_size=SIZE, num_workers=0, pin_memory=False,
                  test_tasks=["vqa_closed"], eval_batch_size=4, max_test_samples=8)
    plain = M3DDataModule(**common)
    streamed = M3DDataModule(**{**common, "num_workers": 2}, volume_shards=str(shards))  # workers open their own
    for module in (plain, streamed):
        module.setup("test")
    batch_plain = next(iter(plain.test_dataloader()))
    batch_streamed = next(iter(streamed.test_dataloader()))
    assert batch_plain["id"] == batch_streamed["id"]
    assert torch.equal(batch_plain["volume"], batch_streamed["volume"])


def test_a_volume_missing_from_the_shards_is_named(synth_root: Path, shards: Path) -> None:
    loader = VolumeLoader(synth_root, SIZE, shards=ShardVolumeSource(str(shards)))
    with pytest.raises(DataError, match=r"M3D_Cap_npy/nowhere\.npy: not in the LitData shards at .*referenced by row 7"):
        loader("M3D_Cap_npy/nowhere.npy", "row 7")


def test_missing_shard_folder_says_how_to_write_it(synth_root: Path, tmp_path: Path) -> None:
    loader = VolumeLoader(synth_root, SIZE, shards=ShardVolumeSource(str(tmp_path / "empty")))
    with pytest.raises(DataError, match="index.json missing.*slicevlm shard"):
        loader(list_volumes(synth_root)[0], "row 1")


def test_finished_shards_are_left_alone(synth_root: Path, shards: Path, capsys: pytest.CaptureFixture) -> None:
    index = shards / "index.json"
    before = index.stat().st_mtime_ns
    assert main([str(synth_root), str(shards)]) == 0
    assert "already written" in capsys.readouterr().out
    assert index.stat().st_mtime_ns == before


def test_a_truncated_volume_fails_before_anything_is_written(synth_root: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "root"
    shutil.copytree(synth_root, root)
    victim = root / list_volumes(root)[3]
    victim.write_bytes(victim.read_bytes()[:200])
    assert main([str(root), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert str(victim) in error and "truncated" in error
    assert not (tmp_path / "out").exists()


def test_source_pickles_without_its_open_dataset(shards: Path) -> None:
    import pickle

    source = ShardVolumeSource(str(shards))
    source.read(source._open()[0]["image_path"], "warm")
    clone = pickle.loads(pickle.dumps(source))
    assert clone.location == source.location and clone._dataset is None
    assert isinstance(np.asarray(clone.read(source._open()[0]["image_path"], "x")), np.ndarray)


def test_failed_litdata_workers_are_an_error_not_an_empty_shard_set(synth_root: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import slicevlm.io.shards as shards_module

    def optimize_whose_workers_die(output_dir: str, **_: object) -> None:  # what LitData leaves behind
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / "index.json").write_text('{"chunks": [], "config": null}', encoding="utf-8")

    monkeypatch.setattr(shards_module, "_litdata", lambda: types.SimpleNamespace(optimize=optimize_whose_workers_die))
    with pytest.raises(DataError, match=f"wrote 0 of {len(list_volumes(synth_root))} volumes.*again to resume"):
        write_volume_shards(synth_root, str(tmp_path / "broken"), workers=1)
    monkeypatch.undo()

    summary = write_volume_shards(synth_root, str(tmp_path / "broken"), workers=1)  # the rerun repairs it
    assert summary["skipped"] is False and summary["volumes"] == len(list_volumes(synth_root))
    assert ShardVolumeSource(str(tmp_path / "broken")).read(list_volumes(synth_root)[0], "x").ndim == 3
