"""The synthetic testbed: exact M3D layout, determinism, content, speed."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from slicevlm.testbed.findings import sample_case
from slicevlm.testbed.phantom import render
from slicevlm.data.records import VQA_COLUMNS, vqa_records
from slicevlm.testbed.synth import main, write_synthetic_dataset


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = _tree(write_synthetic_dataset(tmp_path / "a", n=6, seed=3, shape=(6, 16, 16)))
    second = _tree(write_synthetic_dataset(tmp_path / "b", n=6, seed=3, shape=(6, 16, 16)))
    other = _tree(write_synthetic_dataset(tmp_path / "c", n=6, seed=4, shape=(6, 16, 16)))
    assert first == second
    assert first != other


def test_m3d_layout(synth_root: Path) -> None:
    index = json.loads((synth_root / "M3D_Cap.json").read_text(encoding="utf-8"))
    assert set(index) == {"train", "validation", "test", "test100", "test500", "test1k"}
    assert index["test100"] == index["test"][:100] and index["test"]
    for entry in index["train"] + index["test"]:
        assert entry["image"].startswith("M3D_Cap_npy/synth/") and entry["text"].endswith("/text.txt")
        volume = np.load(synth_root / entry["image"])
        assert volume.shape == (1, 8, 24, 24) and volume.dtype == np.float32
        assert volume.min() == 0.0 and volume.max() == 1.0
        assert (synth_root / entry["text"]).read_text(encoding="utf-8").startswith(("Non-contrast", "Arterial", "Portal", "Delayed"))
    for name in ("M3D_VQA_train.csv", "M3D_VQA_val.csv", "M3D_VQA_test.csv", "M3D_VQA_test5k.csv"):
        with open(synth_root / name, newline="") as handle:
            assert tuple(next(csv.reader(handle))) == VQA_COLUMNS


def test_case_disjoint_splits(synth_root: Path) -> None:
    index = json.loads((synth_root / "M3D_Cap.json").read_text(encoding="utf-8"))
    cases = {split: {Path(e["image"]).parent for e in index[split]} for split in ("train", "validation", "test")}
    assert not cases["train"] & cases["test"] and not cases["train"] & cases["validation"]


def test_vqa_rows(synth_root: Path) -> None:
    records = vqa_records(synth_root / "M3D_VQA_train.csv")
    images = {r.image_path for r in records}
    assert all((synth_root / image).is_file() for image in images)
    assert Counter(r.question_type for r in records) == {t: len(images) for t in range(1, 6)}
    for record in records:
        assert record.choices["ABCD".index(record.answer_choice)] == record.answer
        if record.question_type == 1:
            assert record.choices[3] == "NA"
    text = (synth_root / "M3D_VQA_train.csv").read_text(encoding="utf-8")
    assert '"What is the contrast phase, if any, of this scan?"' in text or '"Hematoma, acute"' in text


def test_answer_letters_near_chance(tmp_path: Path) -> None:
    root = write_synthetic_dataset(tmp_path, n=150, seed=1, shape=(4, 8, 8))
    records = vqa_records(root / "M3D_VQA_train.csv")
    letters = Counter(r.answer_choice for r in records if r.question_type > 1)
    total = sum(letters.values())
    assert set(letters) == set("ABCD")
    assert all(0.18 < count / total < 0.32 for count in letters.values()), letters


def test_fixed_choice_order_changes_only_the_order_of_the_choices(tmp_path: Path) -> None:
    from slicevlm.testbed.findings import ABNORMALITY_CHOICES, ORGANS, PHASE_ANSWER
    from slicevlm.testbed.phantom import PLANES

    shuffled = write_synthetic_dataset(tmp_path / "shuffled", n=40, seed=2, shape=(4, 8, 8))
    fixed = write_synthetic_dataset(tmp_path / "fixed", n=40, seed=2, shape=(4, 8, 8), choice_order="fixed")
    tree_s, tree_f = _tree(shuffled), _tree(fixed)
    assert {k: v for k, v in tree_s.items() if not k.endswith(".csv")} == {k: v for k, v in tree_f.items() if not k.endswith(".csv")}
    canonical = {
        1: [p.capitalize() for p in PLANES] + ["NA"],
        2: list(PHASE_ANSWER.values()),
        3: [o.capitalize() for o in ORGANS],
        4: list(ABNORMALITY_CHOICES),
        5: ["Left", "Right", "Upper", "Lower"],
    }
    rows_s, rows_f = vqa_records(shuffled / "M3D_VQA_train.csv"), vqa_records(fixed / "M3D_VQA_train.csv")
    assert len(rows_s) == len(rows_f) > 100
    letters = Counter()
    for a, b in zip(rows_s, rows_f, strict=True):
        assert (a.image_path, a.question_type, a.question, a.answer) == (b.image_path, b.question_type, b.question, b.answer)
        assert sorted(a.choices) == sorted(b.choices)
        assert list(b.choices) == sorted(b.choices, key=canonical[b.question_type].index)
        assert b.choices["ABCD".index(b.answer_choice)] == b.answer
        letters[a.choices != b.choices] += 1
    assert letters[True] > len(rows_s) / 2  # the shuffled set really is shuffled
    with pytest.raises(ValueError, match="choice_order must be one of"):
        write_synthetic_dataset(tmp_path / "bad", n=3, seed=0, shape=(4, 8, 8), choice_order="sorted")


def test_lesions_occupy_few_slices() -> None:
    for case in range(12):
        truth = sample_case(np.random.default_rng([0, case]))
        for plane in ("axial", "coronal", "sagittal"):
            shape = (32, 64, 64)
            with_lesions = render(truth.phase, truth.lesions, truth.organ, plane, shape, np.random.default_rng(5))
            without = render(truth.phase, (), truth.organ, plane, shape, np.random.default_rng(5))
            changed = np.flatnonzero(np.abs(with_lesions - without).max(axis=(1, 2)) > 0.05)
            assert 1 <= len(changed) <= 8, (case, plane, truth.lesions, changed)


def test_two_hundred_small_volumes_in_seconds(tmp_path: Path) -> None:
    start = time.perf_counter()
    write_synthetic_dataset(tmp_path, n=200, seed=0, shape=(32, 64, 64))
    assert time.perf_counter() - start < 10.0


def test_raw_layout(tmp_path: Path) -> None:
    root = write_synthetic_dataset(tmp_path, n=4, seed=0, shape=(12, 16, 16), raw=True)
    series = sorted(p for p in (root / "synth").glob("*/*") if p.is_dir())
    assert series and sorted(int(p.stem) for p in series[0].glob("*.png")) == list(range(1, 13))
    texts = [p.read_text(encoding="utf-8") for p in (root / "synth").glob("*/text.txt")]
    assert len(texts) == 4 and all("study_findings:" in t and "discussion:" in t for t in texts)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tmp_path / "out"), "--n", "3", "--shape", "4,8,8", "--seed", "2"]) == 0
    assert "wrote 3 synthetic cases" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(tmp_path / "bad"), "--shape", "4,8"])
