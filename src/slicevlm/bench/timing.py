"""Timing primitives for the benchmarks: synchronised wall clock, median of repeats, copy bandwidth, memory.

Every figure in `slicevlm bench` is a ratio of two timings taken with these helpers in the same
process, so machine noise and clock differences cancel as far as they can.
"""

from __future__ import annotations

from collections.abc import Callable
import os
from pathlib import Path
import platform
import statistics
import time
from typing import Any

import torch


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall-clock seconds of one `fn()`, synchronised on both ends."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def seconds(fn: Callable[[], Any], device: torch.device, warmup: int = 2, repeats: int = 5) -> float:
    """Median wall-clock seconds of `fn()` over `repeats` runs after `warmup` runs."""
    return compare({"fn": fn}, device, warmup, repeats)["fn"]


def compare(fns: dict[str, Callable[[], Any]], device: torch.device, warmup: int = 2, repeats: int = 5) -> dict[str, float]:
    """Median seconds of each function, the runs interleaved (a, b, c, a, b, c, …).

    Interleaving makes the arms of a ratio share whatever else the machine is doing at the time,
    so load from other processes shifts both sides, not one.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(timed(fn, device))
    return {name: statistics.median(values) for name, values in samples.items()}


def copy_bandwidth(device: torch.device, megabytes: int, repeats: int = 10) -> float:
    """Measured memory bandwidth in bytes/s: a large same-device copy counts its bytes read plus written.

    This is the number the weight-read floor uses (3.0 TB/s measured on an H100 80GB; docs/method.md#speed-anchors).
    """
    count = megabytes * 2**20 // 4
    source = torch.empty(count, dtype=torch.float32, device=device).uniform_()
    target = torch.empty_like(source)
    elapsed = seconds(lambda: target.copy_(source), device, warmup=2, repeats=repeats)
    del source, target
    return 2 * count * 4 / elapsed


def read_bandwidth(device: torch.device, megabytes: int, repeats: int = 10) -> float:
    """Measured read bandwidth in bytes/s: a sum over a buffer far larger than the caches counts its bytes read.

    This is the number the weight-read floor uses: a decode step reads every LLM weight once and
    writes almost nothing. (A same-device copy, :func:`copy_bandwidth`, reads and writes; on an H100
    80GB it measured 3.0 TB/s, docs/method.md#speed-anchors.)
    """
    count = megabytes * 2**20 // 4
    source = torch.empty(count, dtype=torch.float32, device=device).uniform_()
    elapsed = seconds(lambda: source.sum(), device, warmup=2, repeats=repeats)
    del source
    return count * 4 / elapsed


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    """Peak allocated GPU memory since the last reset, GiB (None on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


#: Dense bf16 tensor-core peak, FLOP/s, by a substring of the device name (vendor data sheets, SXM parts).
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12, "A10": 125e12}


def peak_flops(device: torch.device, override_tflops: float | None = None) -> float | None:
    """The dense bf16 peak used for MFU; None when unknown (CPU, an unlisted GPU without an override)."""
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((value for key, value in PEAK_BF16_FLOPS.items() if key in name), None)


def cpu_name() -> str:
    """The CPU's model name (`model name` in /proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def machine(device: torch.device) -> dict[str, str]:
    """What ran the benchmark: device, CPU, library versions."""
    import transformers

    info = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})",
        "cpu": f"{cpu_name()}, {os.cpu_count()} logical CPUs",
        "cpu_threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["cuda"] = str(torch.version.cuda)
    return info
