"""`slicevlm bench`: speed figures as ratios measured side by side in one run.

    slicevlm bench --device cuda --size full --out runs/bench/gpu.json     # make bench
    slicevlm bench --device cpu  --size tiny --out runs/bench/cpu.json     # make bench-cpu
    slicevlm bench --device cpu  --size full --out runs/bench/cpu-full.json  # make bench-full-cpu

Suites (--suite, one or more; default all, on the CPU at full size all but eval and train):
latency, decode, vision, eval, train, slices. Every figure compares two timings from this run (fast
vs floor, fast vs plain generate, dynamic vs fixed padding, a 3D ViT vs SliceVLM at each slice count);
targets are the project's speed goals and apply to `--size full` on one H100/H200 (they are
shown, not judged, for tiny/CPU runs). The table is printed as markdown; the JSON holds every raw timing plus the machine,
the command and the date, ready to be copied into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import torch

from slicevlm.command_line import Arg, parse_arguments, positive

SUITES = ("latency", "decode", "vision", "eval", "train", "slices")
Suite = Literal[SUITES]  # type: ignore[valid-type]
#: Suites run when --suite is not given. On the CPU at full size a closed question takes half a minute
#: and an optimiser step over a minute, so the batched evaluation and the padding comparison are left
#: out there (ask for them with --suite; `reproduce table6` and `rehearse` time training at full size).
DEFAULT_SUITES = {"gpu": SUITES, "cpu-tiny": SUITES, "cpu-full": ("latency", "decode", "vision", "slices")}
#: Sizes and repeats by mode (a given option wins): what fits a GPU, the tiny CPU twin, and the
#: full-size model on a CPU (≈ 1 s per decoded token, ≈ 15 s per 500-token prefill on 2 cores with bf16 units).
MODE_DEFAULTS: dict[str, dict[str, int]] = {
    "gpu": {"decode_tokens": 128, "eval_batch": 32, "train_batch": 8, "train_steps": 8, "train_warmup": 2, "vision_batch": 8, "warmup": 2, "repeats": 5},
    "cpu-tiny": {"decode_tokens": 32, "eval_batch": 8, "train_batch": 4, "train_steps": 8, "train_warmup": 1, "vision_batch": 8, "warmup": 2, "repeats": 5},
    "cpu-full": {"decode_tokens": 16, "eval_batch": 2, "train_batch": 1, "train_steps": 2, "train_warmup": 1, "vision_batch": 1, "warmup": 1, "repeats": 2},
}
#: Volume depths of the `slices` suite (cost against the number of slices).
DEFAULT_DEPTHS = (32, 50, 100, 200)


def mode(device: str, size: str) -> str:
    """"gpu", "cpu-tiny" or "cpu-full": the key of :data:`MODE_DEFAULTS`."""
    return "gpu" if device == "cuda" else f"cpu-{size}"


def _volume_size(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected D,H,W such as 50,224,224, got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


@dataclass(kw_only=True)
class BenchOptions:
    """benchmark

    Attributes:
        device: where to measure (default: cuda when torch sees one)
        size: tiny models, or ViT-B/16 + LLaMA-2-7B (random weights, bf16; a GPU, or ≈ 20 GB of host memory on the CPU)
        suite: the suites to run (default: all; on the CPU at full size latency, decode, vision, slices)
        out: write every figure and raw timing here, as JSON
        workdir: where the tiny models are written (tokenizer for full size too)
        volume_size: D,H,W of the synthetic volumes (default 50,224,224 full, 50,64,64 tiny)
        repeats: timed runs per measurement, median reported (default 5; 2 on the CPU at full size)
        warmup: untimed runs before each measurement (default 2; 1 on the CPU at full size)
        answer_tokens: closed-VQA answer length (latency, eval)
        decode_tokens: tokens for the per-token decode figure (default 128 cuda, 32 cpu tiny, 16 cpu full)
        eval_batch: questions per evaluation batch (default 32 cuda, 8 cpu tiny, 2 cpu full)
        train_batch: samples per training step (default 8 cuda, 4 cpu tiny, 1 cpu full)
        train_steps: timed training steps per arm (default 8; 2 on the CPU at full size)
        vision_batch: volumes per batch in the vision suite (default 8; 1 on the CPU at full size)
        slices: volume depths of the slices suite (SliceVLM and M3D-LaMed's 3D ViT at each depth)
        compile_mode: also time a torch.compile'd decode step (cuda): a torch.compile mode, 'none', or
            'auto' (= 'default' on cuda)
        peak_tflops: bf16 peak for MFU when the GPU is not in the built-in table
    """

    device: Literal["cpu", "cuda"] = "cuda" if torch.cuda.is_available() else "cpu"
    size: Literal["tiny", "full"] = "tiny"
    suite: list[Suite] | None = None
    out: Path | None = None
    workdir: Path = Path("runs/bench")
    volume_size: Annotated[tuple[int, int, int] | None, Arg(parse=_volume_size, metavar="D,H,W")] = None
    repeats: int | None = None
    warmup: int | None = None
    answer_tokens: int = 8
    decode_tokens: int | None = None
    eval_batch: int | None = None
    train_batch: int | None = None
    train_steps: int | None = None
    vision_batch: int | None = None
    slices: list[Annotated[int, Arg(parse=positive(int))]] = field(default_factory=lambda: list(DEFAULT_DEPTHS))
    compile_mode: str = "auto"
    peak_tflops: float | None = None
    #: The command line as given (recorded in the JSON); not an option.
    argv: list[str] = field(default_factory=list, init=False)


def parse_args(argv: list[str]) -> BenchOptions:
    """The options `argv` gives (exits with status 2 and the usage on a bad value)."""
    return parse_arguments(bench, argv, prog="slicevlm bench", description=__doc__)["options"]


def _check_device(args: BenchOptions) -> torch.device:
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("slicevlm bench: --device cuda but torch sees no CUDA device; run `make bench-cpu` (--device cpu --size tiny) here.")
    return torch.device(args.device)


def _compile_mode(text: str, device: torch.device) -> str | None:
    if text == "auto":
        return "default" if device.type == "cuda" else None
    return None if text == "none" else text


def _pick(args: BenchOptions, name: str) -> int:
    """The option `name` as given, else its default for this device and size."""
    given = getattr(args, name, None)
    return given if given is not None else MODE_DEFAULTS[mode(args.device, args.size)][name]


def label(device: torch.device, size: str) -> str:
    """What every output says the figures are."""
    if device.type == "cuda":
        return f"{size} size, GPU"
    return "full size on the CPU (bf16, random weights)" if size == "full" else "tiny CPU twin"


def run(args: BenchOptions) -> dict:
    """Build the model once, run the chosen suites (training last: it attaches LoRA), return the record."""
    from slicevlm.bench import inference, training, volume_cost
    from slicevlm.bench.models import build
    from slicevlm.bench.report import markdown_table
    from slicevlm.bench.timing import copy_bandwidth, machine, peak_flops, read_bandwidth

    device = _check_device(args)
    settings = inference.InferenceSettings(
        answer_tokens=args.answer_tokens,
        decode_tokens=_pick(args, "decode_tokens"),
        eval_batch=_pick(args, "eval_batch"),
        eval_check=min(8, _pick(args, "eval_batch")),
        vision_batch=_pick(args, "vision_batch"),
        warmup=_pick(args, "warmup"),
        repeats=_pick(args, "repeats"),
        compile_mode=_compile_mode(args.compile_mode, device),
        copy_megabytes=1024 if device.type == "cuda" else 256,
    )
    chosen = args.suite if args.suite is not None else DEFAULT_SUITES[mode(args.device, args.size)]
    if args.volume_size is None:
        args.volume_size = (50, 224, 224) if args.size == "full" else (50, 64, 64)  # the tiny encoder reads 64×64 slices
    bench = build(args.size, device, args.workdir, args.volume_size)
    bandwidth = read_bandwidth(device, settings.copy_megabytes * 4)
    copy = copy_bandwidth(device, settings.copy_megabytes)
    print(f"measured read bandwidth: {bandwidth / 1e12:.3f} TB/s (copy: {copy / 1e12:.3f} TB/s read + written)", file=sys.stderr)
    figures, details = [], {"read_bandwidth_bytes_per_s": bandwidth, "copy_bandwidth_bytes_per_s": copy}
    engines = inference.Engines(bench, settings.compile_mode)
    suites = {
        "latency": lambda: inference.latency(engines, settings, bandwidth),
        "decode": lambda: inference.decode(engines, settings, bandwidth),
        "vision": lambda: inference.vision(engines, settings),
        "eval": lambda: inference.evaluation(engines, settings),
        "train": lambda: training.throughput(
            bench,
            training.TrainSettings(
                batch_size=_pick(args, "train_batch"),
                steps=_pick(args, "train_steps"),
                warmup_steps=_pick(args, "train_warmup"),
                gradient_checkpointing=args.size == "full",
            ),
            peak_flops(device, args.peak_tflops),
        ),
        "slices": lambda: volume_cost.curve(bench, args.slices, settings),
    }
    for name in [s for s in SUITES if s in chosen]:
        print(f"running {name} ...", file=sys.stderr)
        if name in ("train", "slices"):  # free the decoders' KV caches and graph pools first
            engines = None
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        suite_figures, suite_details = suites[name]()
        figures += suite_figures
        details[name] = suite_details
    applies = args.size == "full" and device.type == "cuda"
    return {
        "machine": machine(device),
        "command": " ".join(["slicevlm", "bench", *args.argv]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "size": args.size,
        "label": label(device, args.size),
        "suites": list(chosen),
        "volume_size": list(args.volume_size),
        "targets_apply": applies,
        "figures": [f.as_dict(applies) for f in figures],
        "details": details,
        "table": markdown_table(figures, applies),
    }


def bench(options: BenchOptions) -> int:
    """Speed benchmarks printed as ratios measured side by side.

    Args:
        options: what to measure, where, and how often
    """
    record = run(options)
    print(f"\n{record['label']} · {record['machine']['device']} · torch {record['machine']['torch']} · {record['date']}\n")
    print(record["table"])
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(record, indent=2), encoding="utf-8")
        print(f"\nwrote {options.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the markdown table, write the JSON; returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    options.argv = argv
    return bench(options)


if __name__ == "__main__":
    sys.exit(main())
