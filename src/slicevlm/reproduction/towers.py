"""SliceVLM beside the baselines' vision towers (M3D-LaMed, Med3DVLM) on one budget: closed VQA per question type.

Real data: SliceVLM's ``--checkpoint`` and one folder per baseline under ``--tower-root/<name>/checkpoint``
(``configs/baselines/<name>.yaml`` exports there). The synthetic twin trains the demo once per tower
(``configs/baselines/twin/<name>.yaml`` overlays). Printed: what differs between the rows (read from
their checkpoint folders), then closed VQA per row across seeds.
"""

from __future__ import annotations

from pathlib import Path

from slicevlm.reproduction.inputs import ReproduceError
from slicevlm.reproduction.table import PaperTable, Rows, twin_note
from slicevlm.shipped_configs import config_path

#: Rows: folder / overlay name -> row name. "full" is SliceVLM itself (the demo twin, or --checkpoint);
#: each baseline's twin overlay is configs/baselines/twin/<name>.yaml, its full-size config
#: configs/baselines/<name>.yaml.
TOWERS: dict[str, str] = {"full": "SliceVLM", "m3d_lamed": "M3D-LaMed", "med3dvlm": "Med3DVLM"}


def check_tower_checkpoints(checkpoint: Path, tower_root: Path) -> dict[str, Path]:
    """The rows' folders on real data: SliceVLM's `checkpoint`, each baseline's under `tower_root`.

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


def towers_setup_markdown(checkpoints: dict[str, Path]) -> str:
    """What differs between the rows, read from each row's checkpoint folder."""
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


def _synthetic_rows(options) -> Rows:
    return {name: None if name == "full" else config_path(f"baselines/twin/{name}.yaml") for name in TOWERS}


def _real_rows(options) -> Rows:
    return dict(check_tower_checkpoints(Path(options.checkpoint), Path(options.tower_root)))


def _title(options, synthetic: bool) -> str:
    how = ("Each row is the demo twin trained with the same data, LLM, stages, steps, learning rates and text budget; "
           "the vision tower differs, each baseline keeps its own LoRA dropout (0.05), and M3D-LaMed trains with "
           "M3D's augmentation. The SliceVLM twin injects locally (injection: local)." if synthetic else
           "Each row is the checkpoint folder given (SliceVLM: --checkpoint; the baselines: --tower-root/<name>/checkpoint); "
           "how each was trained is recorded in its config.yaml.")
    header = (f"# Vision towers: SliceVLM, M3D-LaMed, Med3DVLM — protocol: {options.protocol}\n\n"
              f"Closed-ended VQA on the test split. {how}\n")
    return header + (twin_note(".") if synthetic else "")


def _combine(runs, first_checkpoints: dict[str, Path], protocol: str, comparable: bool) -> str:
    from slicevlm.metrics.across_seeds import across_seeds_markdown

    return towers_setup_markdown(first_checkpoints) + "\n" + across_seeds_markdown(runs)


TOWERS_TABLE = PaperTable("towers", ["vqa_closed"], _synthetic_rows, _real_rows, TOWERS.__getitem__, _title, _combine)
