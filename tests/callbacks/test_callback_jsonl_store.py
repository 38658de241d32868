"""Crash-safe JSONL: repair of a truncated last line, errors for real corruption, rank-file merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slicevlm.callbacks.prediction_writer import PredictionWriter
from slicevlm.store.jsonl import JsonlAppender, JsonlCorruptError, read_jsonl, repair_jsonl


def test_repair_drops_only_a_cut_last_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    good = '{"id": "a"}\n{"id": "b"}\n'
    path.write_text(good + '{"id": "c", "pre')
    assert repair_jsonl(path) == len('{"id": "c", "pre')
    assert path.read_text() == good
    assert repair_jsonl(path) == 0 and path.read_text() == good  # intact file untouched
    path.write_text(good + '{"id": "c"}')  # complete JSON but no newline: still a cut write
    repair_jsonl(path)
    assert path.read_text() == good
    path.write_text(good + "{broken\n")  # newline-terminated but invalid last line
    repair_jsonl(path)
    assert [row["id"] for row in read_jsonl(path)] == ["a", "b"]
    assert repair_jsonl(tmp_path / "missing.jsonl") == 0


def test_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a"}\n{oops\n{"id": "b"}\n')
    assert repair_jsonl(path) == 0
    with pytest.raises(JsonlCorruptError, match=r"p.jsonl:2: not valid JSON"):
        read_jsonl(path)


def test_appender_appends_lines(tmp_path: Path) -> None:
    appender = JsonlAppender(tmp_path / "sub" / "p.jsonl")
    appender.append([{"id": "a", "text": "é"}])
    appender.append([])
    appender.append([{"id": "b"}])
    appender.close()
    appender.close()
    assert read_jsonl(tmp_path / "sub" / "p.jsonl") == [{"id": "a", "text": "é"}, {"id": "b"}]


def test_rank_files_merge_without_duplicates(tmp_path: Path) -> None:
    writer = PredictionWriter(tmp_path / "predictions.jsonl")
    (tmp_path / "predictions.jsonl").write_text(json.dumps({"id": "a"}) + "\n")
    (tmp_path / "predictions.rank0.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in "ab"))
    (tmp_path / "predictions.rank1.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in "cb"))
    writer._merge_parts()
    assert [row["id"] for row in read_jsonl(tmp_path / "predictions.jsonl")] == ["a", "b", "c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.jsonl"]
