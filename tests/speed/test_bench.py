"""`slicevlm bench` runs every suite on the tiny CPU twin and writes a complete record (no timing asserts)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from slicevlm.bench.report import Figure, markdown_table
from slicevlm.bench.run import SUITES, main, parse_args


def test_every_suite_runs_and_writes_json(tiny_models, tmp_path, capsys):
    (tmp_path / "tiny-models").symlink_to(tiny_models["llm"].parent)  # reuse the session's tiny models
    out = tmp_path / "bench.json"
    argv = ["--device", "cpu", "--size", "tiny", "--out", str(out), "--workdir", str(tmp_path), "--volume-size", "8,64,64"]
    argv += ["--repeats", "1", "--warmup", "0", "--decode-tokens", "3", "--eval-batch", "2", "--train-batch", "2", "--train-steps", "1"]
    argv += ["--slices", "16,40"]
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
    assert {"plain", "static", "fast"} <= set(record["details"]["decode"]["per_token_s"])
    assert record["label"] == "tiny CPU twin"
    curve = {(row["model"], row["slices"]): row for row in record["details"]["slices"]["rows"]}
    assert set(curve) == {(model, depth) for model in ("SliceVLM", "M3D-LaMed 3D ViT") for depth in (16, 40)}
    # Each tower reads the depth asked for: SliceVLM every slice, the 3D ViT rounded up to its patch depth (4).
    assert curve[("SliceVLM", 40)]["input"] == [40, 64, 64] and curve[("M3D-LaMed 3D ViT", 40)]["input"][0] == 40
    assert all(row["train_peak_mb"] >= 0 and row["inference_s"] > 0 for row in curve.values())
    assert "| latency |" in capsys.readouterr().out


def test_arguments_are_validated():
    with pytest.raises(SystemExit):
        parse_args(["--suite", "latency,speedy"])
    with pytest.raises(SystemExit):
        parse_args(["--slices", "32,0"])


def test_full_size_on_the_cpu_is_a_mode_with_its_own_defaults():
    from slicevlm.bench.models import mixed_precision, weight_dtype
    from slicevlm.bench.run import DEFAULT_SUITES, _pick, label, mode

    options = parse_args(["--device", "cpu", "--size", "full"])
    assert mode(options.device, options.size) == "cpu-full"
    assert [_pick(options, name) for name in ("decode_tokens", "train_batch", "vision_batch", "repeats", "warmup")] == [16, 1, 1, 2, 1]
    assert "eval" not in DEFAULT_SUITES["cpu-full"] and "slices" in DEFAULT_SUITES["cpu-full"]
    assert _pick(parse_args(["--device", "cpu", "--size", "full", "--repeats", "4"]), "repeats") == 4  # a given option wins
    cpu = torch.device("cpu")
    assert weight_dtype("full", cpu) == "bfloat16" and weight_dtype("tiny", cpu) == "float32"
    assert mixed_precision("full", cpu).fast_dtype == torch.bfloat16 and mixed_precision("full", cpu)._enabled
    assert not mixed_precision("tiny", cpu)._enabled
    assert "CPU" in label(cpu, "full")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(SystemExit, match="torch sees no CUDA device"):
        main(["--device", "cuda", "--size", "full", "--suite", "vision"])


def test_targets_are_judged_only_where_they_apply():
    rows = [Figure("decode", "fast / floor", 1.2, "×", "", ("<=", 1.3)), Figure("train", "dynamic / fixed", 1.4, "×", "", (">=", 1.5))]
    assert [row.meets(True) for row in rows] == [True, False]
    assert [row.meets(False) for row in rows] == [None, None]
    assert "**no**" in markdown_table(rows, applies=True)
