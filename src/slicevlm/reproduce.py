"""`slicevlm reproduce table2|table3|table4|table8`: our numbers beside the paper's (docs/method.md#the-papers-numbers).
`slicevlm reproduce towers`: SliceVLM, M3D-LaMed and Med3DVLM on one budget, closed VQA per question type.

`slicevlm reproduce table6` (speed and size of SliceVLM, M3D-LaMed and Med3DVLM side by side) needs
no data or checkpoint and has its own options: `slicevlm reproduce table6 --help`.

Real data (`--data DIR`): evaluate a trained checkpoint folder on the M3D test split and print
paper-vs-ours tables, protocol named. Without the data or the checkpoint it stops at once and says
what to download or train. Table 8 evaluates one checkpoint per ablation, found under
`--ablation-root/<name>/checkpoint` (train each with `configs/ablations/<name>.yaml` as an overlay).
`towers` evaluates SliceVLM's `--checkpoint` and one folder per baseline tower under
`--tower-root/<name>/checkpoint` (`configs/baselines/<name>.yaml` exports there).

Synthetic twin (`--data synthetic`): the same pipeline end to end on CPU — synthetic testbed, tiny
models, stage 1 + stage 2 training with the demo configs, evaluation — so CI exercises every step.
Its numbers measure the synthetic task, never the paper's: its tables show the chance level of
each column and the paper's rows only as a labelled reference, with no difference to them. Every
row (an ablation, a vision tower) is the demo twin with one overlay and the same budget
(`slicevlm.synthetic_twin`); `--seeds` trains each row once per seed.

Image-reliance controls (`--controls`, default `swapped`): every question is also asked of another
case's volume (a fixed-seed derangement of the test cases) and, with `blank`, of an all-zero volume;
the tables report accuracy and text metrics per condition beside the normal scores, with exact
McNemar tests and bootstrap intervals. `--controls none` evaluates the own volumes only.

Predictions are written incrementally (PredictionWriter); rerunning resumes where a run stopped.

Progress lines go to stderr from the first second; the tables go to stdout. The libraries' tips and
warnings are hidden unless `--verbose` is given.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from slicevlm import command_line
from slicevlm.errors import SliceVLMError
from slicevlm.errors import report as report_user_error
from slicevlm.shipped_configs import config_path
from slicevlm.synthetic_twin import ProgressFn, prepare_synthetic, train_synthetic

if TYPE_CHECKING:
    from jsonargparse import ArgumentParser


def _silent(message: str) -> None:
    """A progress callback that prints nothing."""


TABLE_TASKS: dict[str, list[str]] = {
    "table2": ["caption"],
    "table3": ["vqa_open"],
    "table4": ["vqa_closed"],
    "table8": ["caption", "vqa_open", "vqa_closed"],
    "towers": ["vqa_closed"],
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
#: `towers` rows: folder / overlay name -> row name. "full" is SliceVLM itself (the twin of table2-8, or
#: --checkpoint); each baseline's twin overlay is configs/baselines/twin/<name>.yaml, its full-size
#: config configs/baselines/<name>.yaml.
TOWERS: dict[str, str] = {"full": "SliceVLM", "m3d_lamed": "M3D-LaMed", "med3dvlm": "Med3DVLM"}


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


def check_tower_checkpoints(checkpoint: Path, tower_root: Path) -> dict[str, Path]:
    """The `towers` rows' folders on real data: SliceVLM's `checkpoint`, each baseline's under `tower_root`.

    Raises:
        ReproduceError: naming every missing folder and the command that trains it.
    """
    folders = {"full": checkpoint, **{name: tower_root / name / "checkpoint" for name in TOWERS if name != "full"}}
    missing = []
    for name, folder in folders.items():
        if (folder / "slicevlm.json").is_file():
            continue
        if name == "full":
            missing.append(f"- SliceVLM: {folder} (lightning-cli fit --config configs/stage1.yaml, then --config "
                           "configs/stage2.yaml; or point CHECKPOINT=... (make) or --checkpoint at one you have)")
        else:
            # Med3DVLM's recipe has two steps before the one that exports (configs/baselines/med3dvlm.yaml's header).
            before = ("configs/baselines/med3dvlm_clip.yaml, then configs/baselines/med3dvlm_stage1.yaml, then "
                      if name == "med3dvlm" else "")
            missing.append(f"- {TOWERS[name]}: {folder} (lightning-cli fit --config {before}configs/baselines/{name}.yaml "
                           f"--data.data_root DATA --model.export_dir {folder})")
    if missing:
        raise ReproduceError(
            "No trained checkpoint folder for these towers:\n" + "\n".join(missing) + "\n"
            f"Train each as shown, or point --tower-root at a folder holding <name>/checkpoint for "
            f"{', '.join(name for name in TOWERS if name != 'full')}."
        )
    return folders


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
    trust_checkpoint: bool = False,
):
    """Generate on the test split with a checkpoint folder and score it; returns the PredictionWriter.

    ``controls`` (``"swapped"``, ``"blank"``) also asks every question of another case's volume and/or
    a blank one (the data module's ``image_controls``); ``control_seed`` fixes the case derangement.
    ``comparable=False`` (the synthetic twin) shows the paper's rows in the summary as a labelled
    reference, with the chance level and no difference to them. ``trust_checkpoint`` lets the
    folder's ``model.yaml`` name any class (see :mod:`slicevlm.trusted_classes`).
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
    config = read_model_config(checkpoint, dtype=None if on_gpu else "float32", trust_checkpoint=trust_checkpoint)
    vision, language = build(config["vision"], trust=trust_checkpoint), build(config["language"], trust=trust_checkpoint)
    module = SliceVLMModule(vision, language, stage=metadata["stage"], init_from=str(checkpoint))
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


# -- tables ---------------------------------------------------------------------------------------
def table8_markdown(rows: dict[str, Any], protocol: str, seeds_note: str = "", comparable: bool = True) -> str:
    """Paper Table 8 beside ours: one of our rows per ablation (`ours_table8` tuples).

    ``comparable=False`` (the synthetic twin): the paper's rows are a labelled reference only.
    """
    from slicevlm.metrics.compare import render_comparison
    from slicevlm.metrics.paper_tables import TABLE8

    return render_comparison(TABLE8, rows, protocol, comparable=comparable) + seeds_note


def towers_setup_markdown(checkpoints: dict[str, Path]) -> str:
    """What differs between the `towers` rows, read from each row's checkpoint folder."""
    from slicevlm.checkpoint import adapter_settings, read_metadata, stored_vision_parameters
    from slicevlm.metrics.report import markdown_table

    body = []
    for row, folder in checkpoints.items():
        metadata = read_metadata(folder)
        lora = adapter_settings(folder)
        body.append([
            row, metadata["vision_tower"]["class"].rpartition(".")[2], "×".join(str(s) for s in metadata["input_size"]),
            str(metadata["visual_tokens"]), f"{stored_vision_parameters(folder):,}",
            "–" if lora is None else f"r {lora['rank']}, α {lora['alpha']}, dropout {lora['dropout']}",
        ])
    header = ["row", "vision tower", "input (D×H×W)", "visual tokens", "trained vision parameters (tower + projector)", "LoRA"]
    return "Vision towers compared (from each row's first checkpoint folder):\n\n" + "\n".join(markdown_table(header, body)) + "\n"


def _row_name(table: str, name: str) -> str:
    if table == "towers":
        return TOWERS[name]
    return FULL_MODEL if name == "full" else ABLATIONS[name]


def _variants(args: ReproduceOptions) -> dict[str, Path | None]:
    """The rows to evaluate: name -> overlay (synthetic twin, None = the demo as is) or checkpoint folder."""
    if args.data == "synthetic":
        if args.table == "table8":
            return {"full": None, **{k: config_path(f"ablations/{k}.yaml") for k in SYNTHETIC_ABLATIONS}}
        if args.table == "towers":
            return {name: None if name == "full" else config_path(f"baselines/twin/{name}.yaml") for name in TOWERS}
        return {"full": None}
    if args.table == "table8":
        root = Path(args.ablation_root)
        variants = {name: root / name / "checkpoint" for name in ABLATIONS}
        for name, folder in variants.items():
            check_checkpoint(folder, f"Train the '{name}' ablation: lightning-cli fit --config configs/stage1.yaml --config "
                             f"configs/ablations/{name}.yaml, then configs/stage2.yaml with the same overlay, exporting to {folder}.")
        return dict(variants)
    if args.table == "towers":
        return dict(check_tower_checkpoints(Path(args.checkpoint), Path(args.tower_root)))
    check_checkpoint(Path(args.checkpoint), "Train it: lightning-cli fit --config configs/stage1.yaml, then --config configs/stage2.yaml.")
    return {"full": Path(args.checkpoint)}


def _header(args: ReproduceOptions, synthetic: bool) -> str:
    if args.table == "towers":
        how = ("Each row is the demo twin trained with the same data, LLM, stages, steps, learning rates and text budget; "
               "the vision tower differs, each baseline keeps its own LoRA dropout (0.05), and M3D-LaMed trains with "
               "M3D's augmentation. The SliceVLM twin injects locally (injection: local)." if synthetic else
               "Each row is the checkpoint folder given (SliceVLM: --checkpoint; the baselines: --tower-root/<name>/checkpoint); "
               "how each was trained is recorded in its config.yaml.")
        header = (f"# Vision towers: SliceVLM, M3D-LaMed, Med3DVLM — protocol: {args.protocol}\n\n"
                  f"Closed-ended VQA on the test split. {how}\n")
    else:
        header = f"# Reproduction of paper {args.table.replace('table', 'Table ')} — protocol: {args.protocol}\n"
    if synthetic:
        header += ("\n**Synthetic twin**: tiny models on the synthetic testbed. These numbers test the pipeline; "
                   "they are not comparable with the paper's. Compare them with the chance row"
                   + ("." if args.table == "towers" else "; the paper's rows are printed for reference only.") + "\n")
    return header


def run(args: ReproduceOptions, progress: ProgressFn = _silent) -> str:
    """Do the work of one `reproduce` call; returns the markdown printed at the end.

    Args:
        args: The parsed command line (:func:`build_parser`).
        progress: Called with one line before each step (testbed, models, each stage, evaluation).
    """
    from slicevlm.metrics.across_seeds import RowRun, across_seeds_markdown
    from slicevlm.metrics.compare import ours_table8

    tasks = TABLE_TASKS[args.table]
    synthetic = args.data == "synthetic"
    bertscore = None if (synthetic or args.no_bertscore) else args.bertscore_model
    out_root = Path(args.out) / args.table
    if synthetic:
        work = Path(args.work)
        tiny = Path(args.tiny_models) if args.tiny_models else work / "tiny"
        prepare_synthetic(work, args.n, tiny, progress)
        data_root, seeds = work / "data", list(args.seeds)
    else:
        data_root, seeds = Path(args.data), [None]
        check_real_data(data_root, tasks)
    variants = _variants(args)
    controls = [c for c in args.controls if c != "none"]
    sections, runs, first_checkpoints = [], [], {}
    for name, source in variants.items():
        for seed in seeds:
            if synthetic:
                checkpoint = train_synthetic(work, name, source, seed, args.max_steps, tiny, progress, quiet=not args.verbose)
                out_dir = out_root / name / f"seed{seed}"
            else:
                checkpoint, out_dir = source, out_root / name
            progress(f"[{name}{'' if seed is None else f', seed {seed}'}] evaluating {checkpoint} on the test split "
                     f"({', '.join(tasks)}{'; controls: ' + ', '.join(controls) if controls else ''}) -> {out_dir}")
            writer = evaluate_checkpoint(checkpoint, data_root, tasks, out_dir, args.protocol, bertscore, args.batch_size,
                                         args.max_samples, args.device, controls=controls, control_seed=args.control_seed,
                                         comparable=not synthetic, trust_checkpoint=args.trust_checkpoint and not synthetic)
            runs.append(RowRun(_row_name(args.table, name), seed, writer.reports[args.protocol], writer.reports.get("controls")))
            first_checkpoints.setdefault(runs[-1].row, checkpoint)
            if args.table not in ("table8", "towers"):
                sections.append(writer.summary_md_path.read_text(encoding="utf-8"))
    if args.table == "table8":
        rows = {run.label: ours_table8(run.scores) for run in runs}
        sections.append(table8_markdown(rows, args.protocol, comparable=not synthetic) + "\n\n" + across_seeds_markdown(runs))
    elif args.table == "towers":
        sections.append(towers_setup_markdown(first_checkpoints) + "\n" + across_seeds_markdown(runs))
    text = _header(args, synthetic) + "\n" + "\n".join(sections)
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / "reproduction.md").write_text(text, encoding="utf-8")
    progress(f"done; the tables follow and are in {out_root / 'reproduction.md'}")
    return text


Table = Literal["table2", "table3", "table4", "table8", "towers"]


@dataclass
class ReproduceOptions:
    """reproduction

    Attributes:
        table: which paper table to reproduce, or towers (SliceVLM, M3D-LaMed, Med3DVLM on one budget)
        data: M3D data root, or 'synthetic' for the CPU twin
        checkpoint: checkpoint folder to evaluate (real data; towers: the SliceVLM row)
        ablation_root: table8: folder holding <ablation>/checkpoint
        tower_root: towers: folder holding <tower>/checkpoint for m3d_lamed and med3dvlm (SliceVLM's is --checkpoint)
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
        seeds: synthetic twin: training seeds (table8, towers: mean ± 95% CI)
        max_steps: synthetic twin: cap optimiser steps per stage (smoke runs)
        tiny_models: synthetic twin: folder of tiny models to use (e.g. runs/tiny after make demo);
            default WORK/tiny, written if missing
        trust_checkpoint: let the checkpoint folders' model.yaml name any class, not only SliceVLM's
            model classes (building the model runs what it names: only for folders you trust)
    """

    table: Table
    _: KW_ONLY
    data: str
    checkpoint: str = "runs/stage2/checkpoint"
    ablation_root: str = "runs/ablations"
    tower_root: str = "runs/baselines"
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
    trust_checkpoint: bool = False


def reproduce(options: ReproduceOptions) -> int:
    """Evaluate a checkpoint (or the synthetic twin) and print paper-vs-ours tables.

    Exit status: 0 done, 2 missing inputs or data the run cannot use (message on stderr).

    Args:
        options: what to reproduce, on which data and how
    """
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
        report_user_error("slicevlm reproduce", error)
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
