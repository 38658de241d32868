"""How the vision side's cost grows with the number of slices: SliceVLM's 2D encoder against a 3D ViT.

The `slices` suite of `slicevlm bench`. For each depth D (default 32, 50, 100, 200 slices):

* **SliceVLM**: the bench model's own tower (frozen 2D encoder over every slice, selection, fusion,
  injection) and projector, on (D, H, W) volumes;
* **3D ViT**: M3D-LaMed's tower (3D ViT + 3D pooling, from its shipped config at the same size) and its
  projector, built for (D', H₃, W₃) volumes, where D' is D rounded up to the ViT's patch depth (its
  position embedding is learned per patch, so the tower is built for each depth) and H₃ × W₃ is the
  input size its config names (256 × 256 at full size).

Two measurements per model and depth, in the same process:

* **inference**: tower + projector forward, no gradients; latency timed with every arm interleaved
  (median of the repeats), and peak memory of one run;
* **training step** (vision side only): forward + backward of tower + projector into a scalar, as the
  vision side trains in stage 2 (SliceVLM's encoder is frozen; M3D-LaMed's ViT trains), one run's time
  and peak memory.

Peak memory is the growth above what was held right before the run: on a GPU the allocator's peak;
on the CPU the process's private resident memory sampled every 5 ms (freed heap is returned to the
system before each run, so that one run's leftovers do not hide the next run's growth).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from slicevlm.bench.models import BenchModel, mixed_precision, volumes
from slicevlm.bench.report import Figure
from slicevlm.bench.timing import compare, timed

#: The 3D tower compared against (a contender of Table 6).
THREE_D = "M3D-LaMed"


@dataclass
class VisionArm:
    """One model at one depth: its modules and the volume shape it reads."""

    model: str
    depth: int
    input_size: tuple[int, int, int]
    run: Callable[[torch.Tensor], torch.Tensor]
    trained: list[nn.Parameter]


def _release_heap() -> None:
    """Hand freed heap memory back to the system (glibc), so the next run's growth shows in its resident size."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name:
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: the growth is measured against a higher floor
            pass


def peak_growth_mb(fn: Callable[[], Any], device: torch.device) -> float:
    """MiB the run of `fn` needed above what was held before it (GPU: allocator peak; CPU: private resident memory)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    from slicevlm.callbacks.memory_trace import PeakSampler

    _release_heap()
    sampler = PeakSampler(interval_s=0.005)
    try:
        before = sampler.mark()["anon"]
        fn()
        peak = sampler.mark()["anon"]
    finally:
        sampler.stop()
    return peak - before


def _three_d_tower(bench: BenchModel, depth: int) -> tuple[nn.Module, nn.Module, tuple[int, int, int]]:
    """M3D-LaMed's tower and projector from its shipped config, built for `depth` slices (rounded up to its patch depth)."""
    from slicevlm.bench.contenders import CONTENDERS, read_spec
    from slicevlm.config_record import build

    contender = next(c for c in CONTENDERS if c.name == THREE_D)
    spec = read_spec(contender, bench.size, bench.tokenizer_dir.parent, bench.tokenizer_dir)
    patch_depth = int(spec.vision["init_args"].get("patch_size", (4, 16, 16))[0])
    size = (math.ceil(depth / patch_depth) * patch_depth, *spec.volume_size[1:])
    init_args = {**spec.vision.get("init_args", {}), "image_size": list(size)}
    if "pooled_grid" in init_args:  # a volume thinner than the pooled grid's depth pools to its own patch depth
        init_args["pooled_grid"] = [min(size[0] // patch_depth, init_args["pooled_grid"][0]), *init_args["pooled_grid"][1:]]
    vision = {**spec.vision, "init_args": init_args}
    with torch.device(bench.device):
        tower = build(vision)
        projector = tower.build_projector(bench.model.language.hidden_size)
    return tower.to(bench.device), projector.to(bench.device), size  # type: ignore[return-value]


def _arms(bench: BenchModel, depths: Sequence[int]) -> list[VisionArm]:
    model = bench.model
    slice_size = bench.volume_size[1:]
    arms = []
    for depth in depths:
        arms.append(VisionArm(
            "SliceVLM", depth, (depth, *slice_size),
            lambda volume: model.visual_embeddings(volume)[0],  # (1, M', d)
            [p for p in [*model.vision.parameters(), *model.projector.parameters()] if p.requires_grad],
        ))
    for depth in depths:
        tower, projector, size = _three_d_tower(bench, depth)
        tower.requires_grad_(True)  # M3D-LaMed trains its ViT with the projector (train_encoder)

        def run(volume: torch.Tensor, tower: nn.Module = tower, projector: nn.Module = projector) -> torch.Tensor:
            return projector(tower(volume).tokens)  # (1, 256, d)

        arms.append(VisionArm(THREE_D + " 3D ViT", depth, size, run, [p for m in (tower, projector) for p in m.parameters()]))
    return arms


def curve(bench: BenchModel, depths: Sequence[int], settings) -> tuple[list[Figure], dict]:
    """Latency and peak memory of both vision sides at every depth (see the module docstring)."""
    device, size = bench.device, bench.size
    arms = _arms(bench, depths)
    inputs = {id(arm): volumes(1, arm.input_size, device) for arm in arms}

    def infer(arm: VisionArm) -> Callable[[], torch.Tensor]:
        @torch.no_grad()
        def run() -> torch.Tensor:
            with mixed_precision(size, device):
                return arm.run(inputs[id(arm)])
        return run

    def train(arm: VisionArm) -> Callable[[], None]:
        def run() -> None:
            with mixed_precision(size, device):
                out = arm.run(inputs[id(arm)])
            out.float().square().mean().backward()
            for parameter in arm.trained:
                parameter.grad = None
        return run

    key = {id(arm): f"{arm.model} @ {arm.depth}" for arm in arms}
    latency = compare({key[id(a)]: infer(a) for a in arms}, device, settings.warmup, settings.repeats)
    rows = []
    for arm in arms:
        infer_mb = peak_growth_mb(infer(arm), device)
        train(arm)()  # warm-up of the backward kernels at this shape
        train_s = timed(train(arm), device)
        train_mb = peak_growth_mb(train(arm), device)
        rows.append({
            "model": arm.model, "slices": arm.depth, "input": list(arm.input_size),
            "inference_s": latency[key[id(arm)]], "inference_peak_mb": round(infer_mb, 1),
            "train_step_s": train_s, "train_peak_mb": round(train_mb, 1),
        })
    return _figures(rows, depths), {"rows": rows, "three_d_tower": THREE_D}


def _figures(rows: list[dict], depths: Sequence[int]) -> list[Figure]:
    by = {(row["model"], row["slices"]): row for row in rows}
    ours, theirs = "SliceVLM", THREE_D + " 3D ViT"
    figures = []
    for depth in depths:
        a, b = by[(ours, depth)], by[(theirs, depth)]
        shape = "×".join(str(s) for s in b["input"])
        figures.append(Figure(
            "slices", f"{depth} slices, inference: 3D ViT / SliceVLM latency", b["inference_s"] / a["inference_s"], "×",
            f"SliceVLM {a['inference_s'] * 1e3:,.0f} ms, +{a['inference_peak_mb']:,.0f} MiB; 3D ViT on {shape} "
            f"{b['inference_s'] * 1e3:,.0f} ms, +{b['inference_peak_mb']:,.0f} MiB",
        ))
        figures.append(Figure(
            "slices", f"{depth} slices, vision training step: 3D ViT / SliceVLM peak memory",
            b["train_peak_mb"] / max(a["train_peak_mb"], 1.0), "×",
            f"SliceVLM {a['train_step_s']:.2f} s, +{a['train_peak_mb']:,.0f} MiB; 3D ViT {b['train_step_s']:.2f} s, +{b['train_peak_mb']:,.0f} MiB",
        ))
    first, last = depths[0], depths[-1]
    for model in (ours, theirs):
        figures.append(Figure(
            "slices", f"{model}: inference latency at {last} / at {first} slices",
            by[(model, last)]["inference_s"] / by[(model, first)]["inference_s"], "×",
            f"{by[(model, first)]['inference_s'] * 1e3:,.0f} ms → {by[(model, last)]['inference_s'] * 1e3:,.0f} ms ({last / first:.2g}× the slices)",
        ))
    return figures
