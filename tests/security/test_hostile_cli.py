"""Hostile input to `slicevlm ask`, `report` and `ask-batch`: one line, a non-zero exit, no traceback,
nothing outside the given files read; a bad row of `ask-batch --keep-going` fails alone."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import Host
from hostile import good_volume, mha_header, nifti_gz_bomb

from slicevlm.io.errors import DataError
from slicevlm.inference.cli import ask_main, batch_main, report_main


def _exit(main, argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code), capsys.readouterr().err


NO_MODEL = ["--checkpoint", "/nonexistent/checkpoint"]  # proves a refusal happens before loading


def _written(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("argv", "code", "fragment"),
    [
        (["QUESTION-HOLDS-MARKER"], 1, "reserved marker '<image>'"),
        (["QUESTION-NOT-UTF8"], 1, "not valid UTF-8"),
        (["Which organ?", "--choices", "liver,<image>"], 1, "reserved marker"),
        (["Which organ?", "--window", "40,0"], 2, "WIDTH > 0"),
        (["Which organ?", "--window", "nan,400"], 2, "finite CENTER"),
        (["Which organ?", "--window", "40"], 2, "CENTER,WIDTH"),
        (["Which organ?", "--max-voxels", "0"], 2, "positive integer"),
    ],
    ids=["image-marker", "non-utf8-bytes", "choice-marker", "window-width-0", "window-nan", "window-one-number", "max-voxels-0"],
)
def test_ask_refuses_bad_arguments_before_loading(host: Host, capsys: pytest.CaptureFixture, argv: list[str], code: int, fragment: str) -> None:
    volume = host.work / "ct.npy"
    np.save(volume, good_volume())
    question = {"QUESTION-HOLDS-MARKER": "Is <image> abnormal?", "QUESTION-NOT-UTF8": "Which \udcff organ?"}.get(argv[0], argv[0])
    status, err = _exit(ask_main, [str(volume), question, *argv[1:], *NO_MODEL], capsys)
    assert status == code and fragment in err and "Traceback" not in err, err
    host.assert_untouched()


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda h: nifti_gz_bomb(h.work / "bomb.nii.gz"), "refusing to allocate"),
        (lambda h: mha_header(h.work / "ct.mha", str(h.secret)), "is an absolute path"),
        (lambda h: mha_header(h.work / "ct.mha", "../host/secret.bin"), "climbs out"),
        (lambda h: h.work / "missing.nii.gz", "does not exist"),
        (lambda h: _written(h.work / "notes.txt", "not a volume"), "no reader can read this file with suffix '.txt'"),
    ],
    ids=["nii-gz-bomb", "mha-names-host-file", "mha-climbs", "missing", "text-file"],
)
def test_ask_refuses_hostile_volumes_before_loading(host: Host, capsys: pytest.CaptureFixture, make, fragment: str) -> None:
    path = make(host)
    status, err = _exit(ask_main, [str(path), "Which organ?", *NO_MODEL], capsys)
    assert status == 1 and fragment in err and "Traceback" not in err, err
    host.assert_untouched()


def test_report_refuses_a_slice_folder_linking_out(host: Host, tiny_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    folder = host.work / "series"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((good_volume((1, 16, 16), seed=i)[0] * 100).astype(np.uint8)).save(folder / f"{i + 1}.png")
    (folder / "4.png").symlink_to(host.secret)
    host.watch.events()
    host.watch.seen.clear()
    status, err = _exit(report_main, [str(folder), "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--max-new-tokens", "2"], capsys)
    assert status == 1 and "'4.png' is a link pointing outside" in err and "Traceback" not in err, err
    host.assert_untouched()


def _csv(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"volume,question\nct.npy,Which \xff organ?\n", "line 2 is not UTF-8"),
        (b"volume,question\nct.npy,Which\x00organ?\n", "row 1 (line 2): question contains control characters"),
        ("volume,question\nct.npy,Is <image> abnormal?\n", "row 1 (line 2): question contains the reserved marker"),
        ("volume,question,choices\nct.npy,Which?,a|<image>\n", "row 1 (line 2): choice '<image>'"),
        ("volumes,questions\nct.npy,Which?\n", "lacks column(s)"),
    ],
    ids=["non-utf8-byte", "nul-byte", "image-marker-row", "image-marker-choice", "wrong-header"],
)
def test_ask_batch_refuses_bad_csvs_before_loading(host: Host, capsys: pytest.CaptureFixture, content: str | bytes, fragment: str) -> None:
    np.save(host.work / "ct.npy", good_volume())
    questions = _csv(host.work / "q.csv", content)
    status, err = _exit(batch_main, [str(questions), "--out", str(host.work / "a.jsonl"), *NO_MODEL], capsys)
    assert status == 1 and fragment in err and "Traceback" not in err, err
    host.assert_untouched()


def test_ask_batch_keep_going_answers_the_good_rows_and_names_the_bad(
    host: Host, tiny_checkpoint: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """A BOM-prefixed CSV with a good row, a row with the image marker, a decompression bomb and a
    header naming a host file: the good rows are answered, each bad one is named, exit 1."""
    np.save(host.work / "ct.npy", good_volume())
    nifti_gz_bomb(host.work / "bomb.nii.gz")
    mha_header(host.work / "evil.mha", str(host.secret))
    rows = "volume,question\nct.npy,Which organ?\nct.npy,Is <image> here?\nbomb.nii.gz,Which organ?\nevil.mha,Which organ?\nct.npy,What plane?\n"
    questions = _csv(host.work / "q.csv", "\ufeff" + rows)
    out = host.work / "a.jsonl"
    host.watch.events()
    host.watch.seen.clear()
    argv = [str(questions), "--out", str(out), "--keep-going", "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--max-new-tokens", "2"]
    with caplog.at_level(logging.ERROR):
        status = batch_main(argv)
    assert status == 1
    answered = [json.loads(line)["row"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert answered == [1, 5]
    logged = caplog.text
    assert "row 2 (line 3): question contains the reserved marker" in logged
    assert "row 3 (line 4)" in logged and "refusing to allocate" in logged
    assert "row 4 (line 5)" in logged and "is an absolute path" in logged
    assert "Traceback" not in capsys.readouterr().err
    host.assert_untouched()


def test_a_vqa_csv_with_a_byte_order_mark_reads(host: Host) -> None:
    """Excel writes a BOM: the header must still be found."""
    from slicevlm.data.records import VQA_COLUMNS, vqa_records

    row = "ct.npy,report,1,Which plane?,Axial,Coronal,Sagittal,NA,Axial,A"
    path = _csv(host.work / "vqa.csv", "\ufeff" + ",".join(VQA_COLUMNS) + "\n" + row + "\n")
    assert vqa_records(path)[0].question == "Which plane?"
    host.assert_untouched()


def test_ask_batch_generation_isolates_a_row_the_model_cannot_answer(host: Host, tiny_qa) -> None:
    """A row that slipped past every check (its instruction holds the image marker) fails alone:
    with --keep-going the batch around it is answered, without it the error names the row."""
    from slicevlm.inference.batch import BatchRow, run_batch

    np.save(host.work / "ct.npy", good_volume())
    rows = [BatchRow(i, i + 1, "ct.npy", host.work / "ct.npy", f"Q{i}?", (), f"Question {i}?") for i in (1, 2, 3)]
    rows[1] = BatchRow(2, 3, "ct.npy", host.work / "ct.npy", "Q2?", (), "What is <image>?")
    summary = run_batch(tiny_qa, rows, host.work / "a.jsonl", batch_size=3, keep_going=True, csv_path="q.csv")
    assert summary.answered == 2 and len(summary.failed) == 1
    assert summary.failed[0].startswith("q.csv row 2 (line 3): the model could not answer this row")
    with pytest.raises(DataError, match=r"q.csv row 2 \(line 3\): the model could not answer"):
        run_batch(tiny_qa, rows, host.work / "b.jsonl", batch_size=3, keep_going=False, csv_path="q.csv")
    host.assert_untouched()
