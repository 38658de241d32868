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
from typing import TYPE_CHECKING, Literal

from slicevlm import command_line
from slicevlm.errors import report as report_user_error
from slicevlm.reproduction.evaluation import evaluate_checkpoint
from slicevlm.reproduction.inputs import ReproduceError, check_real_data
from slicevlm.reproduction.table import PaperTable
from slicevlm.reproduction.table8 import TABLE8
from slicevlm.reproduction.tables_2_to_4 import TABLE2, TABLE3, TABLE4
from slicevlm.reproduction.towers import TOWERS_TABLE
from slicevlm.synthetic_twin import ProgressFn, prepare_synthetic, train_synthetic

if TYPE_CHECKING:
    from jsonargparse import ArgumentParser

#: The tables `reproduce` runs, by name (Table 6 has its own command line: `reproduce table6 --help`).
TABLES: dict[str, PaperTable] = {table.name: table for table in (TABLE2, TABLE3, TABLE4, TABLE8, TOWERS_TABLE)}


def _silent(message: str) -> None:
    """A progress callback that prints nothing."""


def run(args: ReproduceOptions, progress: ProgressFn = _silent) -> str:
    """Do the work of one `reproduce` call; returns the markdown printed at the end.

    Args:
        args: The parsed command line (:func:`build_parser`).
        progress: Called with one line before each step (testbed, models, each stage, evaluation).
    """
    from slicevlm.metrics.across_seeds import RowRun

    table = TABLES[args.table]
    synthetic = args.data == "synthetic"
    bertscore = None if (synthetic or args.no_bertscore) else args.bertscore_model
    out_root = Path(args.out) / args.table
    if synthetic:
        work = Path(args.work)
        tiny = Path(args.tiny_models) if args.tiny_models else work / "tiny"
        prepare_synthetic(work, args.n, tiny, progress)
        data_root, seeds = work / "data", list(args.seeds)
        rows = table.synthetic_rows(args)
    else:
        data_root, seeds = Path(args.data), [None]
        check_real_data(data_root, table.tasks)
        rows = table.real_rows(args)
    controls = [c for c in args.controls if c != "none"]
    sections, runs, first_checkpoints = [], [], {}
    for name, source in rows.items():
        for seed in seeds:
            if synthetic:
                checkpoint = train_synthetic(work, name, source, seed, args.max_steps, tiny, progress, quiet=not args.verbose)
                out_dir = out_root / name / f"seed{seed}"
            else:
                checkpoint, out_dir = source, out_root / name
            progress(f"[{name}{'' if seed is None else f', seed {seed}'}] evaluating {checkpoint} on the test split "
                     f"({', '.join(table.tasks)}{'; controls: ' + ', '.join(controls) if controls else ''}) -> {out_dir}")
            writer = evaluate_checkpoint(checkpoint, data_root, table.tasks, out_dir, args.protocol, bertscore, args.batch_size,
                                         args.max_samples, args.device, controls=controls, control_seed=args.control_seed,
                                         comparable=not synthetic, trust_checkpoint=args.trust_checkpoint and not synthetic)
            runs.append(RowRun(table.row_label(name), seed, writer.reports[args.protocol], writer.reports.get("controls")))
            first_checkpoints.setdefault(runs[-1].row, checkpoint)
            if table.combine is None:
                sections.append(writer.summary_md_path.read_text(encoding="utf-8"))
    if table.combine is not None:
        sections.append(table.combine(runs, first_checkpoints, args.protocol, not synthetic))
    text = table.title(args, synthetic) + "\n" + "\n".join(sections)
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
    from slicevlm.io.errors import DataError

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
        from slicevlm.reproduction.table6 import main as table6_main

        return table6_main(argv[1:])
    return command_line.run_command(reproduce, argv, prog="slicevlm reproduce", description=__doc__)
