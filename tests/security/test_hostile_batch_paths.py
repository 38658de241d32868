"""`slicevlm ask-batch --data-root`: a CSV row may only name a volume inside the data root.

`..`, absolute paths and symbolic links pointing out (a file or a folder on the way) are bad rows,
named by row and line, and nothing outside the data root is opened.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import Host
from hostile import good_volume

from slicevlm.inference.batch import read_questions_lenient
from slicevlm.inference.cli import batch_main

NO_MODEL = ["--checkpoint", "/nonexistent/checkpoint"]  # proves a refusal happens before loading


def _hostile_rows(host: Host) -> dict[str, tuple[str, str]]:
    """name -> (the CSV's volume field, what the refusal says)."""
    (host.data / "evil.npy").symlink_to(host.secret)
    (host.data / "linkdir").symlink_to(host.host_dir / "inner", target_is_directory=True)
    return {
        "dotdot": ("../host/secret.bin", "climbs out with '..'"),
        "dotdot-inside": ("scans/../../host/secret.bin", "climbs out with '..'"),
        "absolute": (str(host.secret), "is an absolute path"),
        "file-link": ("evil.npy", "resolves outside the data root"),
        "folder-link": ("linkdir/secret.bin", "resolves outside the data root"),
    }


@pytest.mark.parametrize("name", ["dotdot", "dotdot-inside", "absolute", "file-link", "folder-link"])
def test_a_row_leaving_the_data_root_is_refused_before_loading(host: Host, capsys: pytest.CaptureFixture, name: str) -> None:
    np.save(host.data / "ct.npy", good_volume())
    volume, fragment = _hostile_rows(host)[name]
    questions = host.work / "q.csv"
    questions.write_text(f"volume,question\nct.npy,Which organ?\n{volume},Which organ?\n", encoding="utf-8")
    host.watch.events()
    host.watch.seen.clear()
    with pytest.raises(SystemExit) as info:
        batch_main([str(questions), "--out", str(host.work / "a.jsonl"), "--data-root", str(host.data), *NO_MODEL])
    err = capsys.readouterr().err
    assert info.value.code == 1 and "Traceback" not in err
    assert "row 2 (line 3)" in err and repr(volume) in err and fragment in err, err
    host.assert_untouched()


def test_keep_going_answers_the_rows_inside_and_names_each_row_outside(
    host: Host, tiny_checkpoint: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    np.save(host.data / "ct.npy", good_volume())
    (host.data / "scans").mkdir()
    np.save(host.data / "scans" / "b.npy", good_volume(seed=1))
    hostile = _hostile_rows(host)
    lines = ["volume,question", "ct.npy,Which organ?", *(f"{volume},Which organ?" for volume, _ in hostile.values()), "scans/b.npy,What plane?"]
    questions = host.work / "q.csv"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = host.work / "a.jsonl"
    host.watch.events()
    host.watch.seen.clear()
    argv = [str(questions), "--out", str(out), "--data-root", str(host.data), "--keep-going",
            "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--max-new-tokens", "2"]
    with caplog.at_level(logging.ERROR):
        status = batch_main(argv)
    assert status == 1
    assert [json.loads(line)["row"] for line in out.read_text(encoding="utf-8").splitlines()] == [1, len(hostile) + 2]
    for number, (volume, fragment) in enumerate(hostile.values(), start=2):
        assert f"row {number} (line {number + 1}): volume {volume!r} {fragment}" in caplog.text
    assert "Traceback" not in capsys.readouterr().err
    host.assert_untouched()


def test_without_a_data_root_paths_are_relative_to_the_csv_and_not_confined(tmp_path: Path) -> None:
    """The CSV's own folder is only the base of relative paths: a user's own CSV may name any file."""
    elsewhere = tmp_path / "elsewhere.npy"
    np.save(elsewhere, good_volume())
    (tmp_path / "csv").mkdir()
    questions = tmp_path / "csv" / "q.csv"
    questions.write_text(f"volume,question\n{elsewhere},Which organ?\n../elsewhere.npy,Which organ?\n", encoding="utf-8")
    rows, errors = read_questions_lenient(questions)
    assert not errors and [row.path.resolve() for row in rows] == [elsewhere, elsewhere]
