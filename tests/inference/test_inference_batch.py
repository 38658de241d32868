"""`slicevlm ask-batch`: incremental JSONL, resume after an interruption, bad rows and files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from slicevlm.inference import batch
from slicevlm.inference.cli import batch_main
from slicevlm.inference.predictor import VolumeQA

ROWS = 5


@pytest.fixture(scope="module")
def checkpoint(tiny_model_factory, tmp_path_factory) -> Path:
    from slicevlm.checkpoint import save_checkpoint_folder

    return save_checkpoint_folder(tiny_model_factory(), tmp_path_factory.mktemp("batch") / "ckpt", stage=1, input_size=(32, 64, 64))


@pytest.fixture
def questions(tmp_path) -> Path:
    """A CSV of ROWS rows over two npy volumes in a sub-folder (paths relative to the CSV)."""
    scans = tmp_path / "scans"
    scans.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        np.save(scans / f"{name}.npy", rng.random((12, 32, 32), dtype=np.float32))
    lines = [
        "volume,question,choices",
        "scans/a.npy,Which organ is shown?,liver|spleen|kidney|lung",
        'scans/b.npy,"Where is the lesion, left or right?",left|right',
        "scans/a.npy,report,",
        "scans/b.npy,What phase is this scan?,",
        'scans/a.npy,What plane is this?,"axial,coronal"',
    ]
    path = tmp_path / "questions.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _args(questions: Path, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    return [str(questions), "--out", str(out), "--checkpoint", str(checkpoint), "--max-new-tokens", "4", "--device", "cpu", *extra]


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_reads_rows_with_choices_reports_and_quoted_commas(questions):
    rows = batch.read_questions(questions)
    assert [r.row for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].choices == ("liver", "spleen", "kidney", "lung")
    assert rows[1].question == "Where is the lesion, left or right?" and rows[1].choices == ("left", "right")
    assert rows[2].instruction.startswith("Can you provide a caption")
    assert rows[4].choices == ("axial", "coronal") and rows[4].path == questions.parent / "scans" / "a.npy"


def test_interrupted_run_resumes_without_duplicates_or_gaps(questions, checkpoint, tmp_path, monkeypatch, capsys):
    out = tmp_path / "answers.jsonl"
    real_generate = VolumeQA.generate
    calls = {"n": 0}

    def dies_on_third_batch(self, volumes, instructions):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # what Ctrl-C does mid-run
        return real_generate(self, volumes, instructions)

    monkeypatch.setattr(VolumeQA, "generate", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        batch_main(_args(questions, out, checkpoint, "--batch-size", "1"))
    assert [r["row"] for r in _records(out)] == [1, 2]  # flushed row by row

    with open(out, "a") as handle:  # a kill in the middle of writing row 3
        handle.write('{"row": 3, "volume": "scans/a.np')
    monkeypatch.setattr(VolumeQA, "generate", real_generate)
    assert batch_main(_args(questions, out, checkpoint, "--batch-size", "2")) == 0
    records = _records(out)
    assert sorted(r["row"] for r in records) == list(range(1, ROWS + 1))
    assert len(records) == ROWS
    assert all(isinstance(r["answer"], str) and r["timings_ms"]["total"] > 0 for r in records)
    assert records[2]["question"] == "report"

    before = out.read_text(encoding="utf-8")
    assert batch_main(_args(questions, out, checkpoint)) == 0  # everything answered: nothing appended
    assert out.read_text(encoding="utf-8") == before
    assert batch_main(_args(questions, out, checkpoint, "--overwrite")) == 0
    assert len(_records(out)) == ROWS


def test_keep_going_skips_unreadable_volumes_and_retries_them(questions, checkpoint, tmp_path, caplog):
    out = tmp_path / "answers.jsonl"
    good = (questions.parent / "scans" / "b.npy").read_bytes()
    (questions.parent / "scans" / "b.npy").write_bytes(b"garbage")
    assert batch_main(_args(questions, out, checkpoint, "--keep-going")) == 1
    assert "questions.csv row 2 (line 3)" in caplog.text and "b.npy: not a readable .npy" in caplog.text
    assert sorted(r["row"] for r in _records(out)) == [1, 3, 5]
    (questions.parent / "scans" / "b.npy").write_bytes(good)
    assert batch_main(_args(questions, out, checkpoint)) == 0
    assert sorted(r["row"] for r in _records(out)) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ("image,question\na.npy,q?\n", "lacks column(s) ['volume']"),
        ("volume,question\nscans/a.npy,\n", "row 1 (line 2): question is empty"),
        ("volume,question,choices\nscans/a.npy,q?,a|b|c|d|e\n", "row 1 (line 2): 5 choices"),
        ("volume,question\nscans/a.npy,q?\nscans/zzz.npy,q?\n", "row 2 (line 3): "),
        ("volume,question\n", "no rows"),
        ("volume,question\nscans/a.npy,report,extra\n", "more field(s) than the header"),
    ],
)
def test_bad_csv_rows_name_the_row_and_exit_1(csv_text, expected, questions, checkpoint, tmp_path, capsys):
    bad = questions.parent / "bad.csv"
    bad.write_text(csv_text, encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        batch_main(_args(bad, tmp_path / "out.jsonl", checkpoint))
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()


def test_an_answers_file_from_another_csv_is_refused(questions, checkpoint, tmp_path, capsys):
    out = tmp_path / "answers.jsonl"
    out.write_text(json.dumps({"row": 1, "volume": "other.npy", "question": "?"}) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        batch_main(_args(questions, out, checkpoint))
    assert "written for another CSV" in capsys.readouterr().err


def test_an_answers_file_from_another_checkpoint_is_refused(questions, checkpoint, tmp_path, capsys):
    import shutil

    out = tmp_path / "answers.jsonl"
    assert batch_main(_args(questions, out, checkpoint)) == 0
    assert {record["checkpoint"] for record in _records(out)} == {str(checkpoint.resolve())}
    lines = out.read_text(encoding="utf-8").splitlines()
    out.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")  # as if interrupted after two rows

    other = tmp_path / "retrained"
    shutil.copytree(checkpoint, other)
    with pytest.raises(SystemExit):
        batch_main(_args(questions, out, other))
    err = capsys.readouterr().err
    assert "answered by checkpoint" in err and str(other.resolve()) in err and "--overwrite" in err
    assert batch_main(_args(questions, out, other, "--overwrite")) == 0
    assert {record["checkpoint"] for record in _records(out)} == {str(other.resolve())}


def _interrupted_after_two_rows(questions: Path, out: Path, checkpoint: Path) -> None:
    assert batch_main(_args(questions, out, checkpoint)) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    out.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("option", "changed"),
    [(("--max-new-tokens", "5"), "max_new_tokens 4 recorded, 5 now"), (("--engine", "fast"), "engine 'hf' recorded, 'fast' now")],
)
def test_other_generation_settings_are_refused(questions, checkpoint, tmp_path, capsys, option, changed):
    out = tmp_path / "answers.jsonl"
    _interrupted_after_two_rows(questions, out, checkpoint)
    with pytest.raises(SystemExit):
        batch_main([*_args(questions, out, checkpoint), *option])  # the last --max-new-tokens wins
    err = capsys.readouterr().err
    assert str(out) in err and "other generation settings" in err and changed in err
    assert "answers.run.json" in err and "To resume, rerun with" in err and "--overwrite" in err
    assert len(_records(out)) == 2  # nothing appended
    assert batch_main(_args(questions, out, checkpoint)) == 0  # the recorded settings resume
    assert sorted(r["row"] for r in _records(out)) == list(range(1, ROWS + 1))


def test_retraining_into_the_same_checkpoint_folder_is_refused(questions, tiny_model_factory, tmp_path, capsys):
    import torch

    from slicevlm.checkpoint import save_checkpoint_folder

    folder = tmp_path / "ckpt"
    save_checkpoint_folder(tiny_model_factory(), folder, stage=1, input_size=(32, 64, 64))
    out = tmp_path / "answers.jsonl"
    _interrupted_after_two_rows(questions, out, folder)
    retrained = tiny_model_factory()
    with torch.no_grad():
        next(retrained.projector.parameters()).add_(1e-3)
    save_checkpoint_folder(retrained, folder, stage=1, input_size=(32, 64, 64))  # same path, new weights
    with pytest.raises(SystemExit):
        batch_main(_args(questions, out, folder))
    err = capsys.readouterr().err
    assert str(out) in err and "they came from other weights" in err and "weights_sha256" in err and "--overwrite" in err
    assert len(_records(out)) == 2
    assert batch_main(_args(questions, out, folder, "--overwrite")) == 0
    assert len(_records(out)) == ROWS
