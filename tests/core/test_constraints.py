"""scripts/constraints.py pins the dependency closure of the extras asked for, and only that."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_closure_follows_the_extras(load_script):
    script = load_script("constraints")
    base, _ = script.closure([])
    shards, _ = script.closure(["shards"])
    assert base["torch"] == metadata.version("torch").split("+")[0]
    assert "litdata" not in base and "litdata" in shards and "polars" in shards
    assert "playwright" not in base and "slicevlm" not in base
    assert "huggingface-hub" in base  # a dependency of a dependency


def test_committed_files_name_their_extras_and_the_gpu_packages():
    gpu = (REPO / "constraints-gpu.txt").read_text(encoding="utf-8")
    cpu = (REPO / "constraints-cpu.txt").read_text(encoding="utf-8")
    assert "python scripts/constraints.py gpu,serve,shards" in gpu and "deepspeed==" in gpu and "bitsandbytes" in gpu
    assert "python scripts/constraints.py serve,shards,dev" in cpu and "pytest==" in cpu
    for text in (cpu, gpu):
        pins = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert all(line.count("==") == 1 and "+" not in line for line in pins)
