"""A batch row and its generated text → the prediction record written by ``test`` and ``predict``.

The one place that maps a data batch's keys (``instruction``, ``answer``, ``control_*`` ...) to the
fields of :class:`slicevlm.metrics.records.PredictionRecord`. The LightningModule's test/predict
steps return these rows; ``PredictionWriter`` builds the same rows for a module that returns only
``{"id", "prediction"}``. A new field of the record is added here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: record field -> batch key it comes from.
BATCH_KEYS: dict[str, str] = {
    "task": "task",
    "question_type": "question_type",
    "question": "instruction",
    "reference": "answer",
    "answer_choice": "answer_choice",
    "condition": "condition",
    "case": "case",
}
#: ``control`` field -> batch key of image-reliance control rows.
CONTROL_BATCH_KEYS: dict[str, str] = {
    "of": "control_of",
    "image_path": "control_image_path",
    "case": "control_case",
    "reference": "control_answer",
    "answer_choice": "control_answer_choice",
}


def prediction_row(batch: Mapping[str, Any], index: int | None, sample_id: Any, prediction: str) -> dict[str, Any]:
    """The record of one generated row.

    Args:
        batch: The data batch (keys as :data:`BATCH_KEYS` and :data:`CONTROL_BATCH_KEYS` name them;
            missing keys give missing fields).
        index: The row's position in ``batch`` (None: not in it; only id and prediction).
        sample_id: The row's id.
        prediction: The generated text.

    Returns:
        ``{"id", "prediction", ...}`` with every field the batch holds for that row; a control row
        (``condition`` other than ``own``) gets its ``control`` object.
    """
    row: dict[str, Any] = {"id": str(sample_id), "prediction": prediction}
    if index is None:
        return row
    for field_name, batch_key in BATCH_KEYS.items():
        if batch_key in batch:
            row[field_name] = batch[batch_key][index]
    if row.get("condition", "own") != "own":
        row["control"] = {name: batch[key][index] for name, key in CONTROL_BATCH_KEYS.items() if key in batch}
    if "image_path" in batch:
        row["image_path"] = batch["image_path"][index]
    return row
