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
from pathlib import Path
import sys

import torch

SUITES = ("latency", "decode", "vision", "eval", "train")


def _volume_size(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected D,H,W such as 50,224,224, got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def _suites(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
    return chosen


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slicevlm bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny", help="tiny models, or ViT-B/16 + LLaMA-2-7B (random weights, bf16, cuda)")
    parser.add_argument("--suite", type=_suites, default=list(SUITES), help=f"comma list of {', '.join(SUITES)} (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure and raw timing here")
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench"), help="where the tiny models are written (tokenizer for full size too)")
    parser.add_argument("--volume-size", type=_volume_size, default=None, help="D,H,W of the synthetic volumes (default 50,224,224 full, 50,64,64 tiny)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before each measurement")
    parser.add_argument("--answer-tokens", type=int, default=8, help="closed-VQA answer length (latency, eval)")
    parser.add_argument("--decode-tokens", type=int, default=None, help="tokens for the per-token decode figure (default 128 cuda, 32 cpu)")
    parser.add_argument("--eval-batch", type=int, default=None, help="questions per evaluation batch (default 32 cuda, 8 cpu)")
    parser.add_argument("--train-batch", type=int, default=None, help="samples per training step (default 8 cuda, 4 cpu)")
    parser.add_argument("--train-steps", type=int, default=None, help="timed training steps per arm (default 8)")
    parser.add_argument(
        "--compile-mode", default="auto", help="also time a torch.compile'd decode step (cuda): a torch.compile mode, 'none', or 'auto' (= 'default' on cuda)"
    )
    parser.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak for MFU when the GPU is not in the built-in table")
    return parser.parse_args(argv)


def _check_device(args: argparse.Namespace) -> torch.device:
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("slicevlm bench: --device cuda but torch sees no CUDA device; run `make bench-cpu` (--device cpu --size tiny) here.")
    if args.size == "full" and args.device != "cuda":
        raise SystemExit("slicevlm bench: --size full (ViT-B/16 + LLaMA-2-7B in bf16) needs --device cuda; use --size tiny on the CPU.")
    return torch.device(args.device)


def _compile_mode(text: str, device: torch.device) -> str | None:
    if text == "auto":
        return "default" if device.type == "cuda" else None
    return None if text == "none" else text


def _on_gpu(args: argparse.Namespace, gpu: int, cpu: int, given: int | None) -> int:
    return given if given is not None else gpu if args.device == "cuda" else cpu


def run(args: argparse.Namespace) -> dict:
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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the markdown table, write the JSON; returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.argv = argv
    record = run(args)
    print(f"\n{record['machine']['device']} · torch {record['machine']['torch']} · {record['date']} · size {record['size']}\n")
    print(record["table"])
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
