"""Hostile data roots against check-data, the DataModule and prepare-m3d: entries that point out of
the root are errors naming the entry, nothing outside it is opened, copies across case folders are
found."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import Host
from hostile import good_volume, mha_header

from slicevlm.tools.check import check_data_root, main
from slicevlm.io.errors import DataError
from slicevlm.data.records import VQA_COLUMNS, case_of


def _root(root: Path, n: int = 4) -> Path:
    """A small M3D-layout data root: n cases, captions split 3 train / 1 test, one VQA row each."""
    cap: dict[str, list] = {"train": [], "validation": [], "test": []}
    rows = []
    for i in range(n):
        case = f"M3D_Cap_npy/src/{i:04d}"
        (root / case).mkdir(parents=True)
        np.save(root / case / "ax.npy", good_volume(seed=i)[None])
        (root / case / "text.txt").write_text(f"Findings of case {i}: a lesion in organ {i}.", encoding="utf-8")
        cap["test" if i == n - 1 else "train"].append({"image": f"{case}/ax.npy", "text": f"{case}/text.txt"})
        rows.append([f"{case}/ax.npy", "t", "1", "Which plane?", "Axial", "Coronal", "Sagittal", "NA", "Axial", "A"])
    (root / "M3D_Cap.json").write_text(json.dumps(cap), encoding="utf-8")
    for split, part in (("train", rows[:-1]), ("val", []), ("test", rows[-1:])):
        _write_csv(root / f"M3D_VQA_{split}.csv", part)
    return root


def _write_csv(path: Path, rows: list[list[str]], bom: bool = False, raw_tail: bytes = b"") -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(VQA_COLUMNS)
    writer.writerows(rows)
    path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + buffer.getvalue().encode("utf-8") + raw_tail)


def _edit_caption(root: Path, split: str, position: int, field: str, value: str) -> None:
    index = json.loads((root / "M3D_Cap.json").read_text(encoding="utf-8"))
    index[split][position][field] = value
    (root / "M3D_Cap.json").write_text(json.dumps(index), encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "kind", "fragments"),
    [
        (lambda r, h: _edit_caption(r, "train", 1, "text", "../../host/secret.bin"), "bad_rows", ("split 'train' entry 1 field 'text'", "climbs out")),
        (lambda r, h: _edit_caption(r, "train", 0, "image", str(h.secret)), "bad_rows", ("split 'train' entry 0 field 'image'", "absolute path")),
        (lambda r, h: _edit_caption(r, "test", 0, "image", "C:\\host\\secret.bin"), "bad_rows", ("field 'image'", "absolute path")),
        (
            lambda r, h: _write_csv(r / "M3D_VQA_train.csv", [[str(h.secret), "t", "1", "Which plane?", "Axial", "Coronal", "Sagittal", "NA", "Axial", "A"]]),
            "bad_rows",
            ("M3D_VQA_train.csv row 1", "field 'Image Path'", "absolute path"),
        ),
        (
            lambda r, h: _write_csv(r / "M3D_VQA_val.csv", [["M3D_Cap_npy/src/0000/ax.npy", "t", "1", "Is <image> axial?", "Axial", "Coronal", "Sagittal", "NA", "Axial", "A"]]),
            "bad_rows",
            ("field 'Question'", "reserved marker"),
        ),
        (lambda r, h: _write_csv(r / "M3D_VQA_val.csv", [], raw_tail=b"a.npy,t\xff,1,Q,A,B,C,D,A,A\n"), "bad_index", ("M3D_VQA_val.csv", "line 2", "UTF-8")),
        (lambda r, h: (r / "M3D_Cap.json").write_bytes(b"[" * 100_000 + b"]" * 100_000), "bad_index", ("nested too deeply",)),
        (lambda r, h: (r / "M3D_Cap.json").write_bytes(b'{"train": [\xff]}'), "bad_index", ("not valid JSON",)),
        (lambda r, h: mha_header(r / "M3D_Cap_npy/src/0000/ax.mha", str(h.secret)) and _edit_caption(r, "train", 0, "image", "M3D_Cap_npy/src/0000/ax.mha"), "unreadable_volumes", ("ElementDataFile", "absolute path")),
    ],
    ids=["caption-text-climbs", "caption-image-absolute", "caption-drive-letter", "vqa-image-absolute", "vqa-image-marker", "vqa-not-utf8", "json-100k-deep", "json-not-utf8", "mha-names-host-file"],
)
def test_check_data_names_the_entry_and_opens_nothing_outside(host: Host, capsys: pytest.CaptureFixture, edit, kind: str, fragments: tuple[str, ...]) -> None:
    root = _root(host.data)
    edit(root, host)
    assert main([str(root)]) == 1
    out = capsys.readouterr().out
    issues = check_data_root(root)["errors"][kind]
    text = json.dumps(issues)
    for fragment in fragments:
        assert fragment in text, text
    assert kind.replace("_", " ") in out
    host.assert_untouched()


def test_a_vqa_csv_with_a_byte_order_mark_passes_check_data(host: Host) -> None:
    root = _root(host.data)
    rows = list(csv.reader(io.StringIO((root / "M3D_VQA_train.csv").read_text(encoding="utf-8"))))[1:]
    _write_csv(root / "M3D_VQA_train.csv", rows, bom=True)
    report = check_data_root(root)
    assert report["n_errors"] == 0, report["errors"]
    host.assert_untouched()


def test_copies_under_different_case_folders_are_found_and_kept_out_of_training(host: Host, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The same case under two ids in two source folders: one copy in test, one in train."""
    root = _root(host.data)
    test_case = "M3D_Cap_npy/src/0003"
    shutil.copytree(root / test_case, root / "M3D_Cap_npy/other/9999")  # a copy under another id
    index = json.loads((root / "M3D_Cap.json").read_text(encoding="utf-8"))
    index["train"].append({"image": "M3D_Cap_npy/other/9999/ax.npy", "text": "M3D_Cap_npy/other/9999/text.txt"})
    (root / "M3D_Cap.json").write_text(json.dumps(index), encoding="utf-8")
    report = check_data_root(root)
    assert report["leakage"] == {}, "the case folders differ: folder leakage cannot see the copy"
    groups = report["duplicates"]
    assert [g["cases"] for g in groups["volumes"]] == [["M3D_Cap_npy/other/9999", test_case]]
    assert [g["cases"] for g in groups["reports"]] == [["M3D_Cap_npy/other/9999", test_case]]
    assert report["duplicate_leakage"] and report["n_leaked_cases"] == 2
    split = host.work / "split"
    assert main([str(root), "--strict", "--write-case-disjoint-split", str(split)]) == 3
    out = capsys.readouterr().out
    assert "duplicate volumes under different case folders: 1 groups" in out and "leakage by content" in out
    fixed = json.loads((split / "M3D_Cap.json").read_text(encoding="utf-8"))
    assert "M3D_Cap_npy/other/9999" not in {case_of(e["image"]) for e in fixed["train"]}
    assert main([str(root), "--no-duplicates"]) == 0
    host.assert_untouched()


@pytest.mark.parametrize(
    ("edit", "task", "fragment"),
    [
        (lambda r, h: _edit_caption(r, "train", 0, "text", "../../host/secret.bin"), "caption", "split 'train', entry 0, field 'text'"),
        (lambda r, h: _edit_caption(r, "train", 2, "image", str(h.secret)), "caption", "split 'train', entry 2, field 'image'"),
        (
            lambda r, h: _write_csv(r / "M3D_VQA_train.csv", [["../../host/secret.bin", "t", "1", "Q?", "Axial", "Coronal", "Sagittal", "NA", "Axial", "A"]]),
            "vqa_closed",
            "row 1 (data rows counted from 1 after the header), field 'Image Path'",
        ),
    ],
    ids=["caption-text-climbs", "caption-image-absolute", "vqa-image-climbs"],
)
def test_the_datamodule_refuses_entries_outside_the_root(host: Host, edit, task: str, fragment: str) -> None:
    from slicevlm.data.datamodule import M3DDataModule

    root = _root(host.data)
    edit(root, host)
    module = M3DDataModule(str(root), train_tasks={task: 1.0}, val_tasks=[], volume_size=(8, 16, 16), num_workers=0, pin_memory=False)
    with pytest.raises(DataError, match="climbs out|absolute path") as info:
        module.setup("fit")
        for i in range(len(module.train_dataset)):
            module.train_dataset[i]
    assert fragment in str(info.value)
    host.assert_untouched()


def test_the_volume_loader_refuses_a_climbing_path(host: Host) -> None:
    from slicevlm.data.datasets import VolumeLoader

    with pytest.raises(DataError, match=r"'\.\./host/secret\.bin' climbs out .*referenced by caller"):
        VolumeLoader(host.data, size=(8, 16, 16))("../host/secret.bin", "caller")
    host.assert_untouched()


@pytest.mark.parametrize("link", ["text.txt", "series/3.png"])
def test_prepare_m3d_reads_nothing_outside_raw_root(host: Host, capsys: pytest.CaptureFixture, link: str) -> None:
    from PIL import Image

    from slicevlm.tools.prepare import FAILURES_FILE
    from slicevlm.tools.prepare import main as prepare_main

    case = host.work / "raw" / "src" / "0001"
    (case / "series").mkdir(parents=True)
    for i in (1, 2):
        Image.fromarray((good_volume((1, 16, 16), seed=i)[0] * 100).astype(np.uint8)).save(case / "series" / f"{i}.png")
    if link == "text.txt":
        (case / "text.txt").symlink_to(host.secret)
    else:
        (case / "text.txt").write_text("study_findings: a small cyst in the liver.", encoding="utf-8")
        (case / link).symlink_to(host.secret)
    host.watch.events()
    host.watch.seen.clear()
    assert prepare_main([str(host.work / "raw"), str(host.data / "out"), "--workers", "0", "--shape", "4,16,16"]) == 1
    failures = (host.data / "out" / FAILURES_FILE).read_text(encoding="utf-8")
    assert "link pointing outside" in failures and Path(link).name in failures
    host.assert_untouched()
