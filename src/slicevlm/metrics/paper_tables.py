"""The paper's published numbers (Lian et al., Sci Rep 2026), as data.

All quality numbers are under the m3d protocol (per-sample BLEU-1, ROUGE-1, nltk METEOR,
BERTScore F1 of roberta-large, ×100; closed-ended accuracy by the peers' rule).
A ``None`` cell is a number the paper does not give.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slicevlm.metrics.records import QUESTION_TYPES

Row = tuple[float | None, ...]


@dataclass(frozen=True)
class PaperTable:
    """One table of the paper.

    Attributes:
        number: Table number in the paper.
        title: What it reports.
        columns: Column names (same order as every row's values).
        rows: Row label -> values.
        notes: Caveats to print with any comparison.
    """

    number: int
    title: str
    columns: tuple[str, ...]
    rows: dict[str, Row]
    notes: tuple[str, ...] = field(default_factory=tuple)


TYPE_COLUMNS: tuple[str, ...] = (*QUESTION_TYPES, "Mean")
OURS = "Ours"

TABLE2 = PaperTable(
    number=2,
    title="Report generation on M3D-Cap",
    columns=("BLEU", "ROUGE", "METEOR", "BERTScore"),
    rows={
        "RadFM": (12.23, 16.49, 11.57, 87.93),
        "M3D-LaMed": (15.15, 19.55, 14.38, 88.46),
        "Med3DVLM": (36.88, 40.25, 36.42, 88.11),
        OURS: (50.26, 53.37, 50.13, 89.98),
    },
)

#: Table 3 (open-ended VQA), one row per (method, metric); peers give only the Mean.
TABLE3 = PaperTable(
    number=3,
    title="Open-ended VQA on M3D-VQA by question type",
    columns=TYPE_COLUMNS,
    rows={
        f"{OURS} BLEU": (99.07, 82.71, 49.82, 26.79, 32.61, 58.20),
        f"{OURS} ROUGE": (99.15, 89.32, 52.39, 29.37, 38.79, 61.80),
        f"{OURS} METEOR": (52.32, 75.91, 40.06, 25.81, 28.19, 44.46),
        f"{OURS} BERTScore": (99.87, 97.13, 93.75, 91.27, 91.64, 94.73),
        "Med3DVLM BLEU": (None, None, None, None, None, 52.38),
        "Med3DVLM ROUGE": (None, None, None, None, None, 56.31),
        "Med3DVLM METEOR": (None, None, None, None, None, 36.76),
        "Med3DVLM BERTScore": (None, None, None, None, None, 92.18),
        "M3D-LaMed BLEU": (None, None, None, None, None, 49.38),
        "M3D-LaMed ROUGE": (None, None, None, None, None, 52.39),
        "M3D-LaMed METEOR": (None, None, None, None, None, 33.58),
        "M3D-LaMed BERTScore": (None, None, None, None, None, 91.53),
    },
)

TABLE4 = PaperTable(
    number=4,
    title="Closed-ended VQA accuracy on M3D-VQA by question type",
    columns=TYPE_COLUMNS,
    rows={
        "M3D-LaMed": (98.80, 79.75, 74.75, 66.65, 58.94, 75.78),
        "Med3DVLM": (99.15, 87.50, 77.45, 70.17, 64.49, 79.75),
        OURS: (99.82, 90.04, 79.93, 74.41, 70.32, 82.90),
    },
)

TABLE6 = PaperTable(
    number=6,
    title="Training GPU-hours and inference latency (A800)",
    columns=("Training GPU-hours", "Inference latency (ms)"),
    rows={
        "M3D-LaMed": (232.0, 165.0),
        "Med3DVLM": (218.0, 154.0),
        OURS: (212.0, 146.0),
    },
    notes=("Measured by the authors on A800 GPUs; compare speed only as ratios measured side by side.",),
)

#: Table 8 ablations: report generation (4 columns) then VQA (5 columns, open-ended text metrics
#: and closed-ended accuracy).
TABLE8 = PaperTable(
    number=8,
    title="Ablations (report generation; VQA)",
    columns=("Report BLEU", "Report ROUGE", "Report METEOR", "Report BERTScore",
             "VQA BLEU", "VQA ROUGE", "VQA METEOR", "VQA BERTScore", "VQA Acc"),
    rows={
        "Full model (Tables 2-4)": (50.26, 53.37, 50.13, 89.98, 58.20, 61.80, 44.46, 94.73, 82.90),
        "PubMedCLIP encoder": (48.92, 51.88, 48.55, 89.51, 56.95, 60.12, 42.87, 94.15, 81.65),
        "CLIP-ViT-L/14 encoder": (41.15, 44.23, 40.89, 88.04, 51.33, 54.08, 38.16, 92.88, 77.21),
        "Uniform sampling": (48.17, 51.02, 48.01, 89.46, 56.51, 59.83, 42.30, 93.99, 81.12),
        "Spatial path only": (47.95, 50.81, 47.63, 89.29, 56.02, 59.44, 41.88, 94.03, 82.01),
        "Frequency path only": (45.33, 48.16, 44.92, 88.75, 54.18, 57.25, 39.95, 93.17, 80.76),
        "No injection": (46.58, 49.20, 46.11, 89.01, 54.88, 57.99, 40.52, 93.64, 80.48),
    },
    notes=(
        "VQA text metrics are the open-ended Mean over question types (Table 3), VQA Acc the "
        "closed-ended Mean (Table 4).",
        "The paper's prose quotes other VQA accuracies for four rows than its Table 8: "
        "PubMedCLIP 81.95, CLIP-ViT-L/14 75.90, uniform sampling 80.57, no injection 78.92. "
        "We compare against the table.",
    ),
)

#: Accuracies the paper's prose gives for Table 8 rows (differ from the table; kept for reference).
TABLE8_PROSE_ACCURACY: dict[str, float] = {
    "PubMedCLIP encoder": 81.95,
    "CLIP-ViT-L/14 encoder": 75.90,
    "Uniform sampling": 80.57,
    "No injection": 78.92,
}

#: MRI/PET closed VQA (BraTS 2023, AutoPET; the authors' own data, not public).
TABLE7: dict[str, float] = {"BraTS 2023 (MRI)": 93.8, "AutoPET (PET)": 91.5}

TABLES: dict[int, PaperTable] = {t.number: t for t in (TABLE2, TABLE3, TABLE4, TABLE6, TABLE8)}
