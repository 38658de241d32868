"""`slicevlm bench`: speed figures as ratios measured side by side in one run.

    slicevlm bench --device cuda --size full --json runs/bench/gpu.json     # make bench
    slicevlm bench --device cpu  --size tiny --json runs/bench/cpu.json     # make bench-cpu

Suites (comma list with --suite; default all): latency, decode, vision, eval, train. Every figure
compares two timings from this run (fast vs floor, fast vs plain generate, dynamic vs fixed padding);
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

from slicevlm.command_line import Arg, parse_arguments

SUITES = ("latency", "decode", "vision", "eval", "train")


def _volume_size(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected D,H,W such as 50,224,224, got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def _suites(text: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
    return chosen


@dataclass(kw_only=True)
class BenchOptions:
    """benchmark

    Attributes:
        device: where to measure (default: cuda when torch sees one)
        size: tiny models, or ViT-B/16 + LLaMA-2-7B (random weights, bf16, cuda)
        suite: comma list of SUITE_NAMES (default: all)
        json: write every figure and raw timing here
        workdir: where the tiny models are written (tokenizer for full size too)
        volume_size: D,H,W of the synthetic volumes (default 50,224,224 full, 50,64,64 tiny)
        repeats: timed runs per measurement (median reported)
        warmup: untimed runs before each measurement
        answer_tokens: closed-VQA answer length (latency, eval)
        decode_tokens: tokens for the per-token decode figure (default 128 cuda, 32 cpu)
        eval_batch: questions per evaluation batch (default 32 cuda, 8 cpu)
        train_batch: samples per training step (default 8 cuda, 4 cpu)
        train_steps: timed training steps per arm (default 8)
        compile_mode: also time a torch.compile'd decode step (cuda): a torch.compile mode, 'none', or
            'auto' (= 'default' on cuda)
        peak_tflops: bf16 peak for MFU when the GPU is not in the built-in table
    """

    device: Literal["cpu", "cuda"] = "cuda" if torch.cuda.is_available() else "cpu"
    size: Literal["tiny", "full"] = "tiny"
    suite: Annotated[tuple[str, ...], Arg(parse=_suites, metavar="SUITE,...")] = SUITES
    json: Path | None = None
    workdir: Path = Path("runs/bench")
    volume_size: Annotated[tuple[int, int, int] | None, Arg(parse=_volume_size, metavar="D,H,W")] = None
    repeats: int = 5
    warmup: int = 2
    answer_tokens: int = 8
    decode_tokens: int | None = None
    eval_batch: int | None = None
    train_batch: int | None = None
    train_steps: int | None = None
    compile_mode: str = "auto"
    peak_tflops: float | None = None
    #: The command line as given (recorded in the JSON); not an option.
    argv: list[str] = field(default_factory=list, init=False)


BenchOptions.__doc__ = (BenchOptions.__doc__ or "").replace("SUITE_NAMES", ", ".join(SUITES))


def parse_args(argv: list[str]) -> BenchOptions:
    """The options `argv` gives (exits with status 2 and the usage on a bad value)."""
    return parse_arguments(bench, argv, prog="slicevlm bench", description=__doc__)["options"]


def _check_device(args: BenchOptions) -> torch.device:
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("slicevlm bench: --device cuda but torch sees no CUDA device; run `make bench-cpu` (--device cpu --size tiny) here.")
    if args.size == "full" and args.device != "cuda":
        raise SystemExit("slicevlm bench: --size full (ViT-B/16 + LLaMA-2-7B in bf16) needs --device cuda; use --size tiny on the CPU.")
    return torch.device(args.device)


def _compile_mode(text: str, device: torch.device) -> str | None:
    if text == "auto":
        return "default" if device.type == "cuda" else None
    return None if text == "none" else text


def _on_gpu(args: BenchOptions, gpu: int, cpu: int, given: int | None) -> int:
    return given if given is not None else gpu if args.device == "cuda" else cpu


def run(args: BenchOptions) -> dict:
    """Build the model once, run the chosen suites (training last: it attaches LoRA), return the record."""
    from slicevlm.bench import inference, training
    from slicevlm.bench.models import build
    from slicevlm.bench.report import markdown_table
    from slicevlm.bench.timing import copy_bandwidth, machine, peak_flops

    device = _check_device(args)
    settings = inference.InferenceSettings(
        answer_tokens=args.answer_tokens,
        decode_tokens=_on_gpu(args, 128, 32, args.decode_tokens),
        eval_batch=_on_gpu(args, 32, 8, args.eval_batch),
        eval_check=min(8, _on_gpu(args, 32, 8, args.eval_batch)),
        warmup=args.warmup,
        repeats=args.repeats,
        compile_mode=_compile_mode(args.compile_mode, device),
        copy_megabytes=1024 if device.type == "cuda" else 256,
    )
    if args.volume_size is None:
        args.volume_size = (50, 224, 224) if args.size == "full" else (50, 64, 64)  # the tiny encoder reads 64×64 slices
    bench = build(args.size, device, args.workdir, args.volume_size)
    bandwidth = copy_bandwidth(device, settings.copy_megabytes)
    print(f"measured copy bandwidth: {bandwidth / 1e12:.3f} TB/s", file=sys.stderr)
    figures, details = [], {"copy_bandwidth_bytes_per_s": bandwidth}
    engines = inference.Engines(bench, settings.compile_mode)
    suites = {
        "latency": lambda: inference.latency(engines, settings, bandwidth),
        "decode": lambda: inference.decode(engines, settings, bandwidth),
        "vision": lambda: inference.vision(engines, settings),
        "eval": lambda: inference.evaluation(engines, settings),
        "train": lambda: training.throughput(
            bench,
            training.TrainSettings(
                batch_size=_on_gpu(args, 8, 4, args.train_batch),
                steps=_on_gpu(args, 8, 8, args.train_steps),
                warmup_steps=2 if device.type == "cuda" else 1,
                gradient_checkpointing=args.size == "full",
            ),
            peak_flops(device, args.peak_tflops),
        ),
    }
    for name in [s for s in SUITES if s in args.suite]:
        print(f"running {name} ...", file=sys.stderr)
        if name == "train":  # free the decoders' KV caches and graph pools before training
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
    print(f"\n{record['machine']['device']} · torch {record['machine']['torch']} · {record['date']} · size {record['size']}\n")
    print(record["table"])
    if options.json is not None:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(record, indent=2), encoding="utf-8")
        print(f"\nwrote {options.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the markdown table, write the JSON; returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    options.argv = argv
    return bench(options)


if __name__ == "__main__":
    sys.exit(main())
