"""`slicevlm reproduce table6`: the paper's Table 6 for SliceVLM, M3D-LaMed and Med3DVLM, measured side by side.

    slicevlm reproduce table6                      # make reproduce-table6
    slicevlm reproduce table6 --device cpu         # the tiny CPU twins
    slicevlm reproduce table6 --device cpu --size full   # full size on the CPU (≈ 20 GB, ≈ 20 min on 2 cores)

In one run, for the three models with the same LLM (each from its shipped stage-2 config):
parameters (trainable / total), visual tokens per volume, vision-side FLOPs per volume, stage-2
training throughput (samples/s and tokens/s) and closed-VQA latency, printed beside the paper's
Table 6 (training GPU-hours and inference latency on A800 GPUs) with the ratios between models.

On a CUDA machine the full-size architectures run with random weights in bf16 (speed does not
depend on the weights' values; nothing is downloaded). Without CUDA the tiny twins run by default
(the tiny configs with the demo's tiny models, written by `slicevlm make-tiny-models` when missing)
and every measured number is labelled as not comparable with the paper; `--size full` runs the
full-size architectures on the CPU too (bf16, batch 1; ≈ 20 GB of memory), labelled "CPU": their
ratios between models are measured, their absolute times are a CPU's. Parameters, visual tokens and
FLOPs at full size are counted on the meta device in every run, GPU or not.

The markdown goes to stdout and to OUTPUT/table6.md; OUTPUT/table6.json holds every number, the
machine, the command and the date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import datetime as dt
import json
from pathlib import Path
import sys
import tempfile
from typing import Literal

import torch

from slicevlm.command_line import parse_arguments
from slicevlm.console import Progress, library_noise

#: What the LLM is, by size (printed with the tables).
LLM = {
    "full": "LLaMA-2-7B (random weights, bf16; a stand-in byte-level tokenizer of its 32,000 ids + `<image>`)",
    "tiny": "the demo's tiny LLaMA",
}


@dataclass(kw_only=True)
class Table6Options:
    """Table 6

    Attributes:
        device: where to measure: auto (cuda when torch sees one), cpu or cuda
        size: full (ViT-B/16 etc. + LLaMA-2-7B, random weights, bf16; a GPU, or ≈ 20 GB of host
            memory on the CPU), tiny (the CPU twins), or auto (full on cuda, tiny on cpu)
        output: table6.md and table6.json go here
        tiny_models: the tiny models' folder (written by `slicevlm make-tiny-models` when missing)
        batch_size: samples per training step, the same for every model (default 8 full, 4 tiny, 1 full on the CPU)
        text_tokens: text tokens per training row, the same for every model (default 160 full, 64 tiny)
        max_new_tokens: tokens generated per closed-VQA answer
        warmup: untimed runs of every arm (default 2 full, 1 tiny or full on the CPU)
        repeats: timed runs of every arm, median reported (default 5 full, 3 tiny, 2 full on the CPU)
        seed: seed of the random weights and volumes
        verbose: show the libraries' own warnings and loading bars
    """

    device: Literal["auto", "cpu", "cuda"] = "auto"
    size: Literal["auto", "tiny", "full"] = "auto"
    output: Path = Path("runs/reproduce/table6")
    tiny_models: Path = Path("runs/tiny")
    batch_size: int | None = None
    text_tokens: int | None = None
    max_new_tokens: int = 8
    warmup: int | None = None
    repeats: int | None = None
    seed: int = 0
    verbose: bool = False
    #: The command line as given (recorded in the JSON); not an option.
    argv: list[str] = field(default_factory=list, init=False)


def resolve(options: Table6Options) -> tuple[torch.device, str]:
    """The device and size to measure at (exit status 2 for cuda without a CUDA device)."""
    device = options.device if options.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("slicevlm reproduce table6: --device cuda but torch sees no CUDA device; use --device cpu (the tiny twins).")
    size = options.size if options.size != "auto" else ("full" if device == "cuda" else "tiny")
    return torch.device(device), size


#: Defaults by where and at which size: (batch_size, text_tokens, warmup, repeats).
_DEFAULTS = {"full": (8, 160, 2, 5), "tiny": (4, 64, 1, 3), "full-cpu": (1, 160, 1, 2)}


def _settings(options: Table6Options, device: torch.device, size: str):
    from slicevlm.bench.side_by_side import SideBySideSettings

    defaults = _DEFAULTS["full-cpu" if size == "full" and device.type == "cpu" else size]
    given = (options.batch_size, options.text_tokens, options.warmup, options.repeats)
    batch_size, text_tokens, warmup, repeats = (g if g is not None else d for g, d in zip(given, defaults))
    return SideBySideSettings(
        batch_size=batch_size, text_tokens=text_tokens, max_new_tokens=options.max_new_tokens, warmup=warmup, repeats=repeats, seed=options.seed
    )


def _tiny_models(folder: Path, progress: Progress) -> Path:
    """`folder` with the tiny encoder and LLM in it (written when a part is missing)."""
    if (folder / "encoder" / "open_clip_model.safetensors").is_file() and (folder / "llm" / "config.json").is_file():
        return folder
    progress(f"writing the tiny models to {folder} (the tiny LLM's warm-up takes about a minute on a CPU)")
    from slicevlm.tiny import write_tiny_models

    write_tiny_models(folder)
    return folder


def _label(device: torch.device, size: str) -> str:
    if size == "full":
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        return f"full size, random weights, bf16, {where}"
    return f"tiny {'CPU' if device.type == 'cpu' else 'GPU'} twin, not comparable with the paper"


def run(options: Table6Options, progress: Progress) -> dict:
    """Count at full size, measure at the resolved size; returns the record (see the module docstring)."""
    from slicevlm.bench.contenders import CONTENDERS, census, read_spec
    from slicevlm.bench.side_by_side import measure
    from slicevlm.bench.timing import machine
    from slicevlm.llm.byte_level import stand_in_tokenizer

    device, size = resolve(options)
    settings = _settings(options, device, size)
    with tempfile.TemporaryDirectory(prefix="table6-tokenizer-") as scratch:
        stand_in = Path(scratch)
        stand_in_tokenizer(32_000).save_pretrained(stand_in)  # LLaMA-2-7B's vocabulary size
        tiny_dir = _tiny_models(options.tiny_models, progress) if size == "tiny" else options.tiny_models
        specs = {s: [read_spec(c, s, tiny_dir, stand_in) for c in CONTENDERS] for s in dict.fromkeys(("full", size))}
        counted = {}
        for counted_size, size_specs in specs.items():
            progress(f"counting parameters, visual tokens and vision FLOPs at {counted_size} size (meta device)")
            counted[counted_size] = census(size_specs, counted_size)
        progress(f"building the three models around one LLM on {device} ({size} size) and timing them side by side")
        tokenizer_dir = stand_in if size == "full" else tiny_dir / "llm"
        measured = measure(specs[size], device, size, tokenizer_dir, settings)
    label = _label(device, size)
    return {
        "machine": machine(device),
        "command": " ".join(["slicevlm", "reproduce", "table6", *options.argv]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "size": size,
        "label": label,
        "comparable": size == "full",
        "llm": LLM,
        "precision": "bf16 weights for the frozen encoder and the LLM, bf16 autocast for the rest."
        if size == "full" or device.type == "cuda" else "CPU: float32 throughout.",
        "settings": asdict(settings),
        "census": {s: [_census_record(row) for row in rows] for s, rows in counted.items()},
        "measured": [
            {"name": spec.contender.name, "paper_row": spec.contender.paper_row, "label": label, **measured[spec.contender.key].as_dict()}
            for spec in specs[size]
        ],
    }


def _census_record(row) -> dict:
    record = asdict(row)
    record["flops"] = {"tower": row.flops.tower, "projector": row.flops.projector}
    return record


def table6(options: Table6Options) -> int:
    """Parameters, visual tokens, vision FLOPs, training throughput and closed-VQA latency of SliceVLM,
    M3D-LaMed and Med3DVLM on one LLM, beside the paper's Table 6.

    Args:
        options: where and how to measure
    """
    from slicevlm.reproduction.table6_report import markdown

    progress = Progress("reproduce table6")
    with library_noise(options.verbose):
        record = run(options, progress)
    text = markdown(record)
    record["markdown"] = text
    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / "table6.md").write_text(text, encoding="utf-8")
    (options.output / "table6.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(text)
    progress(f"wrote {options.output / 'table6.md'} and {options.output / 'table6.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `slicevlm reproduce table6` (the arguments after `table6`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_arguments(table6, argv, prog="slicevlm reproduce table6", description=__doc__)["options"]
    options.argv = argv
    return table6(options)
