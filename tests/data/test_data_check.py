"""check-data: errors counted and listed, leakage found, a case-disjoint split written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from slicevlm.tools.check import check_data_root, main
from slicevlm.data.records import case_of, vqa_records


@pytest.fixture
def root(synth_root: Path, tmp_path: Path) -> Path:
    """A writable copy of the synthetic data root."""
    return Path(shutil.copytree(synth_root, tmp_path / "root"))


def test_clean_root_passes(root: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(root)]) == 0
    out = capsys.readouterr().out
    assert "errors: 0" in out and "leakage (same case folder in both): 0 cases" in out


def test_errors_counted_listed_and_fail(root: Path, capsys: pytest.CaptureFixture) -> None:
    index = json.loads((root / "M3D_Cap.json").read_text(encoding="utf-8"))
    first, second, third = index["train"][:3]
    (root / first["image"]).unlink()  # missing volume
    np.save(root / second["image"], np.zeros((2, 3, 4, 5), np.float32))  # 4D
    (root / third["text"]).write_text("  \n", encoding="utf-8")  # empty report
    index["train"].append({"image": "x.npy"})  # bad entry
    (root / "M3D_Cap.json").write_text(json.dumps(index), encoding="utf-8")
    with open(root / "M3D_VQA_val.csv", "a") as handle:
        handle.write("a.npy,t,9,q,A1,B1,C1,D1,A1,A\n")  # bad row
    assert main([str(root)]) == 1
    out = capsys.readouterr().out
    report = check_data_root(root)
    errors = report["errors"]
    assert [e["path"] for e in errors["missing_files"]] == [first["image"]]
    assert len(errors["unreadable_volumes"]) == 1 and "4D input" in errors["unreadable_volumes"][0]["problem"]
    assert [e["path"] for e in errors["empty_reports"]] == [third["text"]]
    assert len(errors["bad_rows"]) == 2
    assert any("M3D_VQA_val.csv row" in e["where"] and "Question Type" in e["problem"] for e in errors["bad_rows"])
    assert report["n_errors"] == 5
    assert "missing files: 1" in out and first["image"] in out


def test_leakage_detected_and_split_fixed(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    index = json.loads((root / "M3D_Cap.json").read_text(encoding="utf-8"))
    leaked = index["test"][0]
    index["train"].append(leaked)  # a test case in train: the M3D issue
    (root / "M3D_Cap.json").write_text(json.dumps(index), encoding="utf-8")
    test_row = (root / "M3D_VQA_test.csv").read_text(encoding="utf-8").splitlines()[1]
    with open(root / "M3D_VQA_train.csv", "a") as handle:
        handle.write(test_row + "\n")
    report = check_data_root(root)
    assert report["n_errors"] == 0 and report["n_leaked_cases"] >= 1
    assert case_of(leaked["image"]) in report["leakage"]["caption train & caption test"]["examples"]
    assert "vqa train & vqa test" in report["leakage"]
    out_dir = tmp_path / "disjoint"
    assert main([str(root), "--strict", "--write-case-disjoint-split", str(out_dir)]) == 3
    assert "wrote a case-disjoint split" in capsys.readouterr().out
    assert main([str(root)]) == 0  # leakage alone does not fail without --strict
    fixed = json.loads((out_dir / "M3D_Cap.json").read_text(encoding="utf-8"))
    assert fixed["test"] == index["test"] and len(fixed["train"]) == len(index["train"]) - 1
    assert vqa_records(out_dir / "M3D_VQA_test.csv") == vqa_records(root / "M3D_VQA_test.csv")
    assert len(vqa_records(out_dir / "M3D_VQA_train.csv")) == len(vqa_records(root / "M3D_VQA_train.csv")) - 1
    assert (out_dir / "M3D_VQA_train.csv").read_text(encoding="utf-8").startswith("Image Path,Text,Question Type")
    for name in ("M3D_VQA_train.csv", "M3D_VQA_val.csv", "M3D_VQA_test.csv", "M3D_VQA_test5k.csv"):
        shutil.copy(out_dir / name, root / name)
    shutil.copy(out_dir / "M3D_Cap.json", root / "M3D_Cap.json")
    assert check_data_root(root)["n_leaked_cases"] == 0


def test_json_output(root: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(root), "--json", "--deep"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_errors"] == 0 and report["counts"]["volumes checked"] > 0


def test_missing_root_is_one_error_without_a_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no_such_root"
    assert main([str(missing)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no counts, no "leakage: 0 cases" for a folder that is not there
    assert captured.err.count(str(missing)) == 1 and "no such folder" in captured.err


def test_a_bad_index_names_its_path_once(root: Path, capsys: pytest.CaptureFixture) -> None:
    (root / "M3D_Cap.json").unlink()
    assert main([str(root)]) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if "caption index not found" in line)
    assert line.count(str(root / "M3D_Cap.json")) == 1, line
