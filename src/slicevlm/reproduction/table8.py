"""Table 8 of the paper: one row per ablation (the encoder, slice selection, each fusion path, injection).

Real data: one checkpoint folder per ablation under ``--ablation-root/<name>/checkpoint`` (each trained
with ``configs/ablations/<name>.yaml`` as an overlay). The synthetic twin trains the demo once per
ablation overlay it can run (the encoder rows need real pretrained encoders). Printed: the paper's
Table 8 beside ours, then closed VQA per row across seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slicevlm.reproduction.inputs import check_checkpoint
from slicevlm.reproduction.table import PaperTable, Rows, twin_note
from slicevlm.reproduction.tables_2_to_4 import FULL_MODEL
from slicevlm.shipped_configs import config_path

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


def _synthetic_rows(options) -> Rows:
    return {"full": None, **{name: config_path(f"ablations/{name}.yaml") for name in SYNTHETIC_ABLATIONS}}


def _real_rows(options) -> Rows:
    root = Path(options.ablation_root)
    rows = {name: root / name / "checkpoint" for name in ABLATIONS}
    for name, folder in rows.items():
        check_checkpoint(folder, f"Train the '{name}' ablation: lightning-cli fit --config configs/stage1.yaml --config "
                         f"configs/ablations/{name}.yaml, then configs/stage2.yaml with the same overlay, exporting to {folder}.")
    return dict(rows)


def _title(options, synthetic: bool) -> str:
    header = f"# Reproduction of paper Table 8 — protocol: {options.protocol}\n"
    return header + (twin_note("; the paper's rows are printed for reference only.") if synthetic else "")


def table8_markdown(rows: dict[str, Any], protocol: str, seeds_note: str = "", comparable: bool = True) -> str:
    """Paper Table 8 beside ours: one of our rows per ablation (`ours_table8` tuples).

    ``comparable=False`` (the synthetic twin): the paper's rows are a labelled reference only.
    """
    from slicevlm.metrics.compare import render_comparison
    from slicevlm.metrics.paper_tables import TABLE8

    return render_comparison(TABLE8, rows, protocol, comparable=comparable) + seeds_note


def _combine(runs, first_checkpoints: dict[str, Path], protocol: str, comparable: bool) -> str:
    from slicevlm.metrics.across_seeds import across_seeds_markdown
    from slicevlm.metrics.compare import ours_table8

    rows = {run.label: ours_table8(run.scores) for run in runs}
    return table8_markdown(rows, protocol, comparable=comparable) + "\n\n" + across_seeds_markdown(runs)


TABLE8 = PaperTable(
    "table8", ["caption", "vqa_open", "vqa_closed"], _synthetic_rows, _real_rows,
    lambda row: FULL_MODEL if row == "full" else ABLATIONS[row], _title, _combine,
)
