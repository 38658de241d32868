"""The CPU twin `slicevlm reproduce --data synthetic` trains: synthetic testbed, tiny models, two stages.

Every row of a table is the demo twin trained the same way — `configs/demo.yaml` (stage 1), then
`configs/demo.yaml` + `configs/demo_stage2.yaml` (stage 2, from the stage-1 folder) — with the same
data, tiny LLM, steps and learning rates; a row differs only by its overlay, given to both stages:
an ablation (`configs/ablations/<name>.yaml`) or another vision tower
(`configs/baselines/twin/<name>.yaml`, which names the whole `model.vision` block).

Runs go to ``WORK/<row>/seed<k>/{stage1,checkpoint,logs}``; a row whose checkpoint folder is complete
is not trained again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slicevlm.build_marker import built_with, write_marker
from slicevlm.shipped_configs import config_path

#: Receives one progress line per step (see :class:`slicevlm.console.Progress`).
ProgressFn = Callable[[str], None]
#: The demo twin's vision tower: the paper's pipeline, whose 2D slice encoder is a tiny model folder.
PIPELINE_CLASSES = ("slicevlm.vision.VisionPipeline", "slicevlm.vision.pipeline.VisionPipeline")


def _silent(message: str) -> None:
    """A progress callback that prints nothing."""


def overlay_vision_class(overlay: Path | None) -> str:
    """The `model.vision.class_path` the demo's configs with `overlay` after them run (as LightningCLI merges them)."""
    from slicevlm.cli import merged_config

    files = [config_path("demo.yaml"), config_path("demo_stage2.yaml"), *([overlay] if overlay else [])]
    return merged_config(files)["model"]["vision"]["class_path"]


def train_synthetic(
    work: Path, name: str, overlay: Path | None, seed: int, max_steps: int | None, tiny: Path,
    progress: ProgressFn = _silent, quiet: bool = False,
) -> Path:
    """Train stage 1 then stage 2 with the demo configs on the synthetic testbed; returns the checkpoint.

    ``overlay`` goes to both stages after the demo configs. ``quiet`` leaves out Lightning's model
    summary (the progress bars stay).
    """
    from slicevlm.cli import run_lightning_cli

    checkpoint = work / name / f"seed{seed}" / "checkpoint"
    if (checkpoint / "slicevlm.json").is_file():
        progress(f"[{name}, seed {seed}] already trained: {checkpoint}")
        return checkpoint  # resume: this variant is already trained
    tower = overlay_vision_class(overlay)
    pipeline = tower in PIPELINE_CLASSES
    demo, demo_stage2 = config_path("demo.yaml"), config_path("demo_stage2.yaml")
    common = [
        "--seed_everything", str(seed),
        "--data.data_root", str(work / "data"),
        "--data.seed", str(seed),
        # A 3D tower has no 2D slice encoder to point at the tiny one.
        *(["--model.vision.init_args.encoder.init_args.model_name", f"local-dir:{(tiny / 'encoder').resolve()}"] if pipeline else []),
        "--model.language.init_args.model_name", str((tiny / "llm").resolve()),
        "--trainer.logger.init_args.save_dir", str(work / name / f"seed{seed}" / "logs"),
        *(["--trainer.max_steps", str(max_steps), "--trainer.limit_val_batches", "1"] if max_steps else []),
        *(["--trainer.enable_model_summary", "false"] if quiet else []),
    ]
    extra = ["--config", str(overlay)] if overlay else []
    stage1 = work / name / f"seed{seed}" / "stage1"
    trained = "fusion, injection and projector (encoder and LLM frozen)" if pipeline else \
        f"{tower.rpartition('.')[2]} and its projector (LLM frozen)"
    progress(f"[{name}, seed {seed}] stage 1: training {trained} on reports")
    run_lightning_cli(["fit", "--config", str(demo), *extra, *common, "--model.export_dir", str(stage1)])
    progress(f"[{name}, seed {seed}] stage 2: training the same + LoRA on reports, closed and open questions")
    run_lightning_cli(
        ["fit", "--config", str(demo), "--config", str(demo_stage2), *extra, *common,
         "--model.init_from", str(stage1), "--model.export_dir", str(checkpoint)]
    )
    return checkpoint


def prepare_synthetic(work: Path, n: int, tiny: Path, progress: ProgressFn = _silent) -> None:
    """Synthetic testbed under `work` and tiny models in `tiny` (each kept if already there and
    written with the same settings). Closed choices come in a fixed order: see `slicevlm.testbed.findings`."""
    recipe = {"n": n, "seed": 0, "shape": [32, 64, 64], "choice_order": "fixed"}
    marker = work / "data" / "synth_recipe.json"
    if built_with(marker, recipe):
        progress(f"using the synthetic testbed in {work / 'data'}")
    else:
        progress(f"writing the synthetic testbed: {n} cases at 32×64×64 in {work / 'data'}")
        from slicevlm.testbed.synth import write_synthetic_dataset

        write_synthetic_dataset(work / "data", n=n, seed=0, shape=(32, 64, 64), choice_order="fixed")
        write_marker(marker, recipe)
    progress(f"tiny models in {tiny} (written if missing: the tiny LLM's language warm-up takes about a minute on a CPU)")
    from slicevlm.tiny import write_tiny_models

    write_tiny_models(tiny)
