"""prepare-m3d: raw slice folders to M3D npy, resumable, failures recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from slicevlm.tools.check import check_data_root
from slicevlm.tools.check import main as check_main
from slicevlm.io.errors import DataError
from slicevlm.tools.prepare import main, prepare, report_from_raw_text
from slicevlm.testbed.synth import write_synthetic_dataset

SHAPE = (8, 16, 16)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return write_synthetic_dataset(tmp_path / "raw", n=5, seed=0, shape=(10, 20, 24), raw=True)


def test_report_text_rules() -> None:
    assert report_from_raw_text("study_findings: Liver\nnormal.\ndiscussion: x\n") == "Liver normal."
    assert report_from_raw_text("study_history: y\nstudy_findings: ok\ndiscussion: A cyst.\n") == "A cyst."
    with pytest.raises(DataError, match="case/text.txt: no 'study_findings:'"):
        report_from_raw_text("study_history: only\n", "case/text.txt")


def test_prepare_resume_and_failures(raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    series = sorted(p for p in raw.glob("synth/*/*") if p.is_dir())
    broken = series[1]
    for png in broken.glob("*.png"):
        png.rename(png.with_name(f"slice{png.suffix}.png" if png.stem == "1" else png.name))
    (broken / "slice.png.png").rename(broken / "cover.png")  # a slice without a number
    assert main([str(raw), str(out), "--workers", "0", "--shape", "8,16,16"]) == 1
    first = json.loads((out / "prepare_summary.json").read_text(encoding="utf-8"))
    assert first["done"] == len(series) - 1 and first["failed"] == 1
    failures = (out / "prepare_failures.tsv").read_text(encoding="utf-8").splitlines()
    assert failures[0] == "path\treason" and len(failures) == 2
    assert str(broken) in failures[1] and "has no number" in failures[1]
    assert "1 failed" in capsys.readouterr().out

    (broken / "cover.png").rename(broken / "1.png")  # fixed: the second run only does that one
    summary = prepare(raw, out, SHAPE, workers=0)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (1, len(series) - 1, 0)
    assert (out / "prepare_failures.tsv").read_text(encoding="utf-8") == "path\treason\n"

    volume = np.load(next((out / "M3D_Cap_npy").rglob("*.npy")))
    assert volume.shape == (1, *SHAPE) and volume.dtype == np.float32
    assert volume.min() >= 0.0 and volume.max() <= 1.0
    assert not list(out.rglob("*.tmp"))
    texts = list((out / "M3D_Cap_npy").rglob("text.txt"))
    assert len(texts) == 5 and all("\n" not in t.read_text(encoding="utf-8") and t.read_text(encoding="utf-8") for t in texts)
    index = json.loads((out / "M3D_Cap.json").read_text(encoding="utf-8"))
    assert sum(len(index[s]) for s in ("train", "validation", "test")) == len(series)
    assert check_data_root(out, vqa_files={})["n_errors"] == 0
    assert check_main([str(out), "--captions-only"]) == 0


def test_official_index_is_kept(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "M3D_Cap.json").write_text('{"train": []}', encoding="utf-8")
    summary = prepare(raw, out, SHAPE, workers=0)
    assert summary["index"] is None and (out / "M3D_Cap.json").read_text(encoding="utf-8") == '{"train": []}'


def test_worker_pool(raw: Path, tmp_path: Path) -> None:
    summary = prepare(raw, tmp_path / "out", SHAPE, workers=2, write_json=False)
    assert summary["done"] == summary["series"] and summary["failed"] == 0


def test_litdata_flag_writes_shards_after_preparing(raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, shards = tmp_path / "out", tmp_path / "shards"
    assert main([str(raw), str(out), "--workers", "0", "--shape", "8,16,16", "--litdata", str(shards)]) == 0
    assert (shards / "index.json").is_file()
    assert "--data.volume_shards" in capsys.readouterr().out


def test_bad_raw_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no folder of slice images"):
        prepare(tmp_path, tmp_path / "out")
