"""`slicevlm reproduce table2|table3|table4|table8`: our numbers beside the paper's (docs/method.md#the-papers-numbers).

`slicevlm reproduce table6` (speed and size of SliceVLM, M3D-LaMed and Med3DVLM side by side) needs
no data or checkpoint and has its own options: `slicevlm reproduce table6 --help`.

Real data (`--data DIR`): evaluate a trained checkpoint folder on the M3D test split and print
paper-vs-ours tables, protocol named. Without the data or the checkpoint it stops at once and says
what to download or train. Table 8 evaluates one checkpoint per ablation, found under
`--ablation-root/<name>/checkpoint` (train each with `configs/ablations/<name>.yaml` as an overlay).

Synthetic twin (`--data synthetic`): the same pipeline end to end on CPU — synthetic testbed, tiny
models, stage 1 + stage 2 training with the demo configs, evaluation — so CI exercises every step.
Its numbers measure the synthetic task, never the paper's: its tables show the chance level of
each column and the paper's rows only as a labelled reference, with no difference to them.

Image-reliance controls (`--controls`, default `swapped`): every question is also asked of another
case's volume (a fixed-seed derangement of the test cases) and, with `blank`, of an all-zero volume;
the tables report accuracy and text metrics per condition beside the normal scores, with exact
McNemar tests and bootstrap intervals. `--controls none` evaluates the own volumes only.

Predictions are written incrementally (PredictionWriter); rerunning resumes where a run stopped.

Progress lines go to stderr from the first second; the tables go to stdout. The libraries' tips and
warnings are hidden unless `--verbose` is given.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from slicevlm import command_line
from slicevlm.build_marker import built_with, write_marker
from slicevlm.errors import SliceVLMError, show_traceback_if_debug
from slicevlm.shipped_configs import config_path

if TYPE_CHECKING:
    from jsonargparse import ArgumentParser

#: Receives one progress line per step (see :class:`slicevlm.console.Progress`).
ProgressFn = Callable[[str], None]


def _silent(message: str) -> None:
    """A progress callback that prints nothing."""


TABLE_TASKS: dict[str, list[str]] = {
    "table2": ["caption"],
    "table3": ["vqa_open"],
    "table4": ["vqa_closed"],
    "table8": ["caption", "vqa_open", "vqa_closed"],
}
#: Table 8 rows: folder / overlay name -> the paper's row name.
ABLATIONS: dict[str, str] = {
    "pubmedclip": "PubMedCLIP encoder",
    "clip_vit_l14": "CLIP-ViT-L/14 encoder",
    "uniform_sampling": "Uniform sampling",
    "spatial_only": "Spatial path only",
    "frequency_only": "Frequency path only",
    "no_injection": "No injection",
}
#: Rows the synthetic twin can run: the encoder rows need real pretrained encoders.
SYNTHETIC_ABLATIONS = ("uniform_sampling", "spatial_only", "frequency_only", "no_injection")
FULL_MODEL = "Full model (Tables 2-4)"


class ReproduceError(SliceVLMError, RuntimeError):
    """Something the user must provide (data, checkpoint) is missing."""


# -- inputs ---------------------------------------------------------------------------------------
def check_real_data(root: Path, tasks: list[str]) -> None:
    """Fail fast, saying what to download, when the M3D files for `tasks` are not under `root`."""
    needed = (["M3D_Cap.json"] if "caption" in tasks else []) + (
        ["M3D_VQA_test.csv"] if {"vqa_open", "vqa_closed"} & set(tasks) else []
    )
    missing = [name for name in needed if not (root / name).is_file()]
    if missing:
        raise ReproduceError(
            f"M3D data not found under {root}: missing {', '.join(missing)}.\n"
            "Download M3D-Cap (M3D_Cap.json + M3D_Cap_npy/) and M3D-VQA (M3D_VQA_*.csv) as data/README.md "
            "describes, put them in one folder and pass it with DATA=/that/folder (make) or --data. "
            "Check it with `slicevlm check-data DIR`. DATA=synthetic runs the CPU twin instead."
        )


def check_checkpoint(folder: Path, how_to_train: str) -> None:
    """Fail fast when `folder` is not a checkpoint folder."""
    if not (folder / "slicevlm.json").is_file():
        raise ReproduceError(
            f"No trained checkpoint folder at {folder}.\n{how_to_train}\n"
            "Or point CHECKPOINT=/path/to/checkpoint (make) or --checkpoint at one you have."
        )


# -- evaluation -----------------------------------------------------------------------------------
def evaluate_checkpoint(
    checkpoint: Path,
    data_root: Path,
    tasks: list[str],
    out_dir: Path,
    protocol: str = "m3d",
    bertscore_model: str | None = "roberta-large",
    batch_size: int = 8,
    max_samples: int | None = None,
    device: str = "auto",
    num_workers: int = 2,
    controls: list[str] | None = None,
    control_seed: int = 0,
    comparable: bool = True,
):
    """Generate on the test split with a checkpoint folder and score it; returns the PredictionWriter.

    ``controls`` (``"swapped"``, ``"blank"``) also asks every question of another case's volume and/or
    a blank one (the data module's ``image_controls``); ``control_seed`` fixes the case derangement.
    ``comparable=False`` (the synthetic twin) shows the paper's rows in the summary as a labelled
    reference, with the chance level and no difference to them.
    """
    import lightning as L
    import torch

    from slicevlm.callbacks import PredictionWriter
    from slicevlm.checkpoint import read_metadata, read_model_config
    from slicevlm.config_record import build
    from slicevlm.data.datamodule import M3DDataModule
    from slicevlm.training.module import SliceVLMModule

    metadata = read_metadata(checkpoint)
    on_gpu = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    # bf16 matmuls on CPU are slow and inexact: evaluate in float32 there
    config = read_model_config(checkpoint, dtype=None if on_gpu else "float32")
    module = SliceVLMModule(build(config["vision"]), build(config["language"]), stage=metadata["stage"], init_from=str(checkpoint))
    datamodule = M3DDataModule(
        str(data_root), test_tasks=tasks, volume_size=tuple(metadata["input_size"]), eval_batch_size=batch_size,
        max_test_samples=max_samples, num_workers=num_workers, pin_memory=on_gpu,
        image_controls=list(controls or []), control_seed=control_seed,
    )
    writer = PredictionWriter(out_dir / "predictions.jsonl", protocols=[protocol], bertscore_model=bertscore_model, compare_with_paper=True)
    trainer = L.Trainer(
        accelerator="gpu" if on_gpu else "cpu", devices=1, precision="bf16-mixed" if on_gpu else "32-true",
        logger=False, enable_checkpointing=False, enable_model_summary=False, callbacks=[writer],
    )
    trainer.test(module, datamodule=datamodule)
    if not comparable and writer.summary is not None:
        from slicevlm.callbacks.summary import summary_markdown

        writer.summary_md_path.write_text(
            summary_markdown(writer.summary, writer.reports, compare=True, comparable=False), encoding="utf-8"
        )
    return writer


# -- the synthetic twin ---------------------------------------------------------------------------
def train_synthetic(
    work: Path, name: str, overlay: Path | None, seed: int, max_steps: int | None, tiny: Path,
    progress: ProgressFn = _silent, quiet: bool = False,
) -> Path:
    """Train stage 1 then stage 2 with the demo configs on the synthetic testbed; returns the checkpoint.

    ``quiet`` leaves out Lightning's model summary (the progress bars stay).
    """
    from slicevlm.cli import run_lightning_cli

    checkpoint = work / name / f"seed{seed}" / "checkpoint"
    if (checkpoint / "slicevlm.json").is_file():
        progress(f"[{name}, seed {seed}] already trained: {checkpoint}")
        return checkpoint  # resume: this variant is already trained
    demo, demo_stage2 = config_path("demo.yaml"), config_path("demo_stage2.yaml")
    common = [
        "--seed_everything", str(seed),
        "--data.data_root", str(work / "data"),
        "--data.seed", str(seed),
        "--model.vision.init_args.encoder.init_args.model_name", f"local-dir:{(tiny / 'encoder').resolve()}",
        "--model.language.init_args.model_name", str((tiny / "llm").resolve()),
        "--trainer.logger.init_args.save_dir", str(work / name / f"seed{seed}" / "logs"),
        *(["--trainer.max_steps", str(max_steps), "--trainer.limit_val_batches", "1"] if max_steps else []),
        *(["--trainer.enable_model_summary", "false"] if quiet else []),
    ]
    extra = ["--config", str(overlay)] if overlay else []
    stage1 = work / name / f"seed{seed}" / "stage1"
    progress(f"[{name}, seed {seed}] stage 1: training fusion, injection and projector on reports (encoder and LLM frozen)")
    run_lightning_cli(["fit", "--config", str(demo), *extra, *common, "--model.export_dir", str(stage1)])
    progress(f"[{name}, seed {seed}] stage 2: training the same + LoRA on reports, closed and open questions")
    run_lightning_cli(
        ["fit", "--config", str(demo), "--config", str(demo_stage2), *extra, *common,
         "--model.init_from", str(stage1), "--model.export_dir", str(checkpoint)]
    )
    return checkpoint


def prepare_synthetic(work: Path, n: int, tiny: Path, progress: ProgressFn = _silent) -> None:
    """Synthetic testbed under `work` and tiny models in `tiny` (each kept if already there and
    written with the same settings). Closed choices come in a fixed order: see `slicevlm.data.findings`."""
    recipe = {"n": n, "seed": 0, "shape": [32, 64, 64], "choice_order": "fixed"}
    marker = work / "data" / "synth_recipe.json"
    if built_with(marker, recipe):
        progress(f"using the synthetic testbed in {work / 'data'}")
    else:
        progress(f"writing the synthetic testbed: {n} cases at 32×64×64 in {work / 'data'}")
        from slicevlm.data.synth import write_synthetic_dataset

        write_synthetic_dataset(work / "data", n=n, seed=0, shape=(32, 64, 64), choice_order="fixed")
        write_marker(marker, recipe)
    progress(f"tiny models in {tiny} (written if missing: the tiny LLM's language warm-up takes about a minute on a CPU)")
    from slicevlm.tiny import write_tiny_models

    write_tiny_models(tiny)


# -- tables ---------------------------------------------------------------------------------------
def table8_markdown(rows: dict[str, Any], protocol: str, seeds_note: str = "", comparable: bool = True) -> str:
    """Paper Table 8 beside ours: one of our rows per ablation (`ours_table8` tuples).

    ``comparable=False`` (the synthetic twin): the paper's rows are a labelled reference only.
    """
    from slicevlm.metrics.compare import render_comparison
    from slicevlm.metrics.paper_tables import TABLE8

    return render_comparison(TABLE8, rows, protocol, comparable=comparable) + seeds_note


def closed_accuracy_interval(values: list[float]) -> str:
    """mean ± 95% CI (normal approximation over seeds) of closed-VQA accuracies, as text."""
    if len(values) < 2:
        return f"{values[0]:.2f} (1 seed)" if values else "–"
    half_width = 1.96 * statistics.stdev(values) / len(values) ** 0.5
    return f"{statistics.mean(values):.2f} ± {half_width:.2f} ({len(values)} seeds)"


def controls_markdown(rows: dict[str, Any]) -> str:
    """Closed-VQA Mean accuracy per image condition, one line per evaluated checkpoint (Table 8)."""
    from slicevlm.metrics.controls import MEAN, Cell
    from slicevlm.metrics.report import markdown_table

    conditions = ("own", "swapped", "delta_swapped", "follows", "blank")
    header = ["row", "own volume", "swapped volume", "own − swapped", "follows swapped-in truth", "blank volume"]
    body = [[name, *(report.tables.get("vqa_closed", {}).get(c, {}).get(MEAN, Cell(None)).text() for c in conditions)]
            for name, report in rows.items()]
    return ("\n\nImage-reliance controls, closed-VQA accuracy (Mean over types, 95% case-bootstrap intervals):\n\n"
            + "\n".join(markdown_table(header, body)) + "\n")


def run(args: ReproduceOptions, progress: ProgressFn = _silent) -> str:
    """Do the work of one `reproduce` call; returns the markdown printed at the end.

    Args:
        args: The parsed command line (:func:`build_parser`).
        progress: Called with one line before each step (testbed, models, each stage, evaluation).
    """
    from slicevlm.metrics.compare import CHANCE_LABEL, closed_chance_mean, ours_table8

    tasks = TABLE_TASKS[args.table]
    synthetic = args.data == "synthetic"
    protocol = args.protocol
    bertscore = None if (synthetic or args.no_bertscore) else args.bertscore_model
    out_root = Path(args.out) / args.table
    if synthetic:
        work = Path(args.work)
        tiny = Path(args.tiny_models) if args.tiny_models else work / "tiny"
        prepare_synthetic(work, args.n, tiny, progress)
        data_root = work / "data"
        variants = {"full": None} if args.table != "table8" else {"full": None, **{k: config_path(f"ablations/{k}.yaml") for k in SYNTHETIC_ABLATIONS}}
        seeds = args.seeds
    else:
        data_root = Path(args.data)
        check_real_data(data_root, tasks)
        seeds = [None]
        if args.table == "table8":
            root = Path(args.ablation_root)
            variants = {name: root / name / "checkpoint" for name in ABLATIONS}
            for name, folder in variants.items():
                check_checkpoint(folder, f"Train the '{name}' ablation: lightning-cli fit --config configs/stage1.yaml --config "
                                 f"configs/ablations/{name}.yaml, then configs/stage2.yaml with the same overlay, exporting to {folder}.")
        else:
            variants = {"full": Path(args.checkpoint)}
            check_checkpoint(variants["full"], "Train it: lightning-cli fit --config configs/stage1.yaml, then --config configs/stage2.yaml.")
    controls = [c for c in args.controls if c != "none"]
    sections, table8_rows, accuracies, control_rows = [], {}, {}, {}
    for name, source in variants.items():
        for seed in seeds:
            if synthetic:
                checkpoint = train_synthetic(Path(args.work), name, source, seed, args.max_steps, tiny,
                                             progress, quiet=not args.verbose)
                out_dir = out_root / name / f"seed{seed}"
            else:
                checkpoint, out_dir = source, out_root / name
            progress(f"[{name}{'' if seed is None else f', seed {seed}'}] evaluating {checkpoint} on the test split "
                     f"({', '.join(tasks)}{'; controls: ' + ', '.join(controls) if controls else ''}) -> {out_dir}")
            writer = evaluate_checkpoint(checkpoint, data_root, tasks, out_dir, protocol, bertscore, args.batch_size,
                                         args.max_samples, args.device, controls=controls, control_seed=args.control_seed,
                                         comparable=not synthetic)
            report = writer.reports[protocol]
            row_name = FULL_MODEL if name == "full" else ABLATIONS[name]
            accuracies.setdefault(row_name, []).append(report.results.get("vqa_closed", {}).get("Mean", {}).get("accuracy"))
            if args.table == "table8":
                label = f"{row_name}" + (f" (seed {seed})" if seed is not None else "")
                table8_rows[label] = ours_table8(report)
                if "controls" in writer.reports:
                    control_rows[label] = writer.reports["controls"]
            else:
                sections.append(writer.summary_md_path.read_text(encoding="utf-8"))
    header = f"# Reproduction of paper {args.table.replace('table', 'Table ')} — protocol: {protocol}\n"
    if synthetic:
        header += ("\n**Synthetic twin**: tiny models on the synthetic testbed. These numbers test the pipeline; "
                   "they are not comparable with the paper's. Compare them with the chance row; the paper's rows "
                   "are printed for reference only.\n")
    if args.table == "table8":
        intervals = "\n".join(f"| {row} | {closed_accuracy_interval([a for a in accs if a is not None])} |" for row, accs in accuracies.items())
        intervals += f"\n| {CHANCE_LABEL} | {closed_chance_mean():.2f} |"
        sections.append(table8_markdown(table8_rows, protocol, comparable=not synthetic)
                        + "\n\nClosed-VQA accuracy (Mean over types) across seeds:\n\n| row | accuracy |\n|---|---|\n" + intervals + "\n"
                        + (controls_markdown(control_rows) if control_rows else ""))
    text = header + "\n" + "\n".join(sections)
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / "reproduction.md").write_text(text, encoding="utf-8")
    progress(f"done; the tables follow and are in {out_root / 'reproduction.md'}")
    return text


Table = Literal["table2", "table3", "table4", "table8"]


@dataclass
class ReproduceOptions:
    """reproduction

    Attributes:
        table: which paper table to reproduce
        data: M3D data root, or 'synthetic' for the CPU twin
        checkpoint: checkpoint folder to evaluate (real data)
        ablation_root: table8: folder holding <ablation>/checkpoint
        out: predictions, summaries and reproduction.md go under OUT/TABLE/
        protocol: metric protocol (the paper's is m3d)
        bertscore_model: BERTScore model (hub name in the cache, or a folder)
        no_bertscore: leave BERTScore out
        batch_size: generation batch size
        max_samples: evaluate at most this many samples per task
        device: auto, cpu or cuda
        controls: image-reliance controls: also ask every question of another case's volume (swapped)
            and/or an all-zero volume (blank); 'none' for own volumes only
        control_seed: seed of the case derangement of --controls swapped
        verbose: show the libraries' own output too (Lightning tips and warnings, model summaries, loading bars)
        work: synthetic twin: where the testbed, tiny models and runs go
        n: synthetic twin: synthetic cases
        seeds: synthetic twin: training seeds (table8: mean ± 95% CI)
        max_steps: synthetic twin: cap optimiser steps per stage (smoke runs)
        tiny_models: synthetic twin: folder of tiny models to use (e.g. runs/tiny after make demo);
            default WORK/tiny, written if missing
    """

    table: Table
    _: KW_ONLY
    data: str
    checkpoint: str = "runs/stage2/checkpoint"
    ablation_root: str = "runs/ablations"
    out: str = "runs/reproduce"
    protocol: Literal["m3d", "coco"] = "m3d"
    bertscore_model: str = "roberta-large"
    no_bertscore: bool = False
    batch_size: int = 8
    max_samples: int | None = None
    device: str = "auto"
    controls: list[Literal["swapped", "blank", "none"]] = field(default_factory=lambda: ["swapped"])
    control_seed: int = 0
    verbose: bool = False
    work: str = "runs/reproduce-synthetic"
    n: int = 160
    seeds: list[int] = field(default_factory=lambda: [0])
    max_steps: int | None = None
    tiny_models: str | None = None


def reproduce(options: ReproduceOptions) -> int:
    """Evaluate a checkpoint (or the synthetic twin) and print paper-vs-ours tables.

    Exit status: 0 done, 2 missing inputs or data the run cannot use (message on stderr).

    Args:
        options: what to reproduce, on which data and how
    """
    import sys

    from slicevlm.console import Progress, library_noise
    from slicevlm.data.errors import DataError

    progress = Progress("reproduce")
    what = "the synthetic twin (testbed, tiny models, stage 1 + stage 2 training, evaluation)" if options.data == "synthetic" \
        else f"a checkpoint on the M3D data in {options.data}"
    progress(f"{options.table}: {what}" + ("" if options.verbose else "; --verbose shows the libraries' own output"))
    try:
        with library_noise(options.verbose):
            text = run(options, progress)
        print(text)
    except (ReproduceError, DataError) as error:  # missing inputs, or data the run cannot use
        print(f"slicevlm reproduce: {error}", file=sys.stderr)
        show_traceback_if_debug(error)
        return 2
    return 0


def build_parser() -> ArgumentParser:
    """The `slicevlm reproduce` command line (from :class:`ReproduceOptions`)."""
    return command_line.build_parser(reproduce, prog="slicevlm reproduce", description=__doc__)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `slicevlm reproduce` (`table6` has its own options: `slicevlm reproduce table6 --help`)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["table6"]:
        from slicevlm.bench.table6 import main as table6_main

        return table6_main(argv[1:])
    return command_line.run_command(reproduce, argv, prog="slicevlm reproduce", description=__doc__)
