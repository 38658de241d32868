"""`slicevlm bench` runs every suite on the tiny CPU twin and writes a complete record (no timing asserts)."""

from __future__ import annotations

import json
import math

import pytest

from slicevlm.bench.report import Figure, markdown_table
from slicevlm.bench.run import SUITES, main, parse_args


def test_every_suite_runs_and_writes_json(tiny_models, tmp_path, capsys):
    (tmp_path / "tiny-models").symlink_to(tiny_models["llm"].parent)  # reuse the session's tiny models
    out = tmp_path / "bench.json"
    argv = ["--device", "cpu", "--size", "tiny", "--json", str(out), "--workdir", str(tmp_path), "--volume-size", "8,64,64"]
    argv += ["--repeats", "1", "--warmup", "0", "--decode-tokens", "3", "--eval-batch", "2", "--train-batch", "2", "--train-steps", "1"]
    assert main(argv) == 0
    record = json.loads(out.read_text(encoding="utf-8"))
    assert {"machine", "command", "date", "figures", "details", "table"} <= set(record)
    assert record["targets_apply"] is False  # tiny CPU runs show targets but do not judge them
    assert {f["suite"] for f in record["figures"]} == set(SUITES)
    # Finite, not "positive": one repeat of a 3-token decode is timing noise, and unit tests assert no timings.
    assert all(math.isfinite(f["value"]) for f in record["figures"])
    assert all(f["meets_target"] is None for f in record["figures"])
    assert record["details"]["eval"]["fast"] == 1.0  # batched == batch-1 answers under greedy
    assert set(record["details"]["train"]["arms"]) == {"fixed-512", "dynamic", "dynamic + bucketing"}
    assert "| latency |" in capsys.readouterr().out


def test_arguments_are_validated():
    with pytest.raises(SystemExit):
        parse_args(["--suite", "latency,speedy"])
    with pytest.raises(SystemExit, match="needs --device cuda"):
        main(["--device", "cpu", "--size", "full", "--suite", "vision"])


def test_targets_are_judged_only_where_they_apply():
    rows = [Figure("decode", "fast / floor", 1.2, "×", "", ("<=", 1.3)), Figure("train", "dynamic / fixed", 1.4, "×", "", (">=", 1.5))]
    assert [row.meets(True) for row in rows] == [True, False]
    assert [row.meets(False) for row in rows] == [None, None]
    assert "**no**" in markdown_table(rows, applies=True)
