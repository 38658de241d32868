"""Hostile LitData shards: a field stored with pickle (or another code-running format) is refused
before any sample is read; the payload's marker file never appears."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("litdata")

from slicevlm.io.errors import DataError  # noqa: E402
from slicevlm.io.shards import ShardVolumeSource, check_shard_index  # noqa: E402


class Payload:
    """Unpickling this creates `marker` (what a hostile shard would do instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_shard(folder: Path, volume) -> Path:
    """A one-sample shard, written in this process by LitData's own writer."""
    from litdata.streaming.writer import BinaryWriter

    writer = BinaryWriter(str(folder), chunk_bytes="1MB")
    writer[0] = {"image_path": "a.npy", "volume": volume}
    writer.done()
    writer.merge()
    return folder


def test_a_pickled_volume_field_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    folder = write_shard(tmp_path / "shards", Payload(marker))
    assert not marker.exists()  # writing only recorded the call
    formats = json.loads((folder / "index.json").read_text(encoding="utf-8"))["config"]["data_format"]
    assert formats == ["str", "pickle"]
    with pytest.raises(DataError) as caught:
        ShardVolumeSource(str(folder)).read("a.npy", "train.json")
    message = str(caught.value)
    assert str(folder) in message and "'volume'" in message and "'pickle'" in message
    assert not marker.exists()


def test_a_pickle_format_written_into_the_index_is_refused(tmp_path):
    folder = write_shard(tmp_path / "shards", np.zeros((2, 4, 4), dtype=np.float32))
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    index["config"]["data_format"][0] = "pickle"
    (folder / "index.json").write_text(json.dumps(index), encoding="utf-8")
    with pytest.raises(DataError, match=r"field 'image_path' .* stored as 'pickle'"):
        ShardVolumeSource(str(folder)).read("a.npy", "train.json")


def test_what_slicevlm_shard_writes_is_plain_and_reads(tmp_path):
    from slicevlm.io.shards import write_volume_shards

    volume = np.arange(32, dtype=np.float32).reshape(2, 4, 4)
    (tmp_path / "root" / "ct").mkdir(parents=True)
    np.save(tmp_path / "root" / "ct" / "a.npy", volume)
    write_volume_shards(tmp_path / "root", str(tmp_path / "shards"), workers=1)
    formats = json.loads((tmp_path / "shards" / "index.json").read_text(encoding="utf-8"))["config"]["data_format"]
    assert formats == ["str", "numpy"]
    assert np.array_equal(ShardVolumeSource(str(tmp_path / "shards")).read("ct/a.npy", "train.json"), volume)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda c, i: c.update(data_spec=c["data_spec"].replace("builtins.dict", "collections.defaultdict")), "sample structure"),
        (lambda c, i: i["chunks"][0].update(filename="../elsewhere.bin"), "climbs out"),
        (lambda c, i: i["chunks"][0].update(filename="/etc/passwd"), "absolute"),
        (lambda c, i: c.pop("data_format"), "no field formats"),
    ],
    ids=["defaultdict-spec", "chunk-dotdot", "chunk-absolute", "no-formats"],
)
def test_other_hostile_indexes_are_refused(tmp_path, edit, fragment):
    folder = write_shard(tmp_path / "shards", np.zeros((2, 4, 4), dtype=np.float32))
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    check_shard_index(index, str(folder))  # the real one passes
    edit(index["config"], index)
    with pytest.raises(DataError, match=fragment):
        check_shard_index(index, str(folder))
