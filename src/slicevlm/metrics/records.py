"""Prediction records: the rows every protocol scores and every predictions JSONL holds.

One row per sample, fields:

- ``id`` (str): unique sample id.
- ``task``: ``"caption"`` (report generation, M3D-Cap), ``"vqa_closed"`` or ``"vqa_open"`` (M3D-VQA).
- ``question_type``: one of Plane, Phase, Organ, Abnormality, Location (the M3D-VQA codes 1–5 are
  accepted too) for VQA rows; free (usually empty) for captions.
- ``prediction``: the generated text; ``reference``: the ground-truth text (``None`` when a
  predict run has no answers: such rows are kept but not scored).
- ``answer_choice``: the key letter A–D of a closed-ended question; empty otherwise.
- ``question`` (optional): the instruction the model saw; ``scores`` (optional): per-sample scores.
- ``condition`` (optional, default ``"own"``): ``"own"`` for the question's own volume, or an
  image-reliance control: ``"swapped"`` (asked of another case's volume) or ``"blank"`` (an
  all-zero volume). Control rows keep the question's own ``reference`` and ``answer_choice``.
- ``case`` (optional): the case (volume folder) the question is about.
- ``control`` (control rows only): ``{"of", "image_path", "case", "reference", "answer_choice"}``:
  the id of the own row, and for ``swapped`` the volume asked instead, its case, its truth for the
  same question (answer text; the report for captions; ``null`` when unknown) and the letter of
  this question's choice with that text (``""`` when none).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slicevlm.errors import SliceVLMError

TASKS: tuple[str, ...] = ("caption", "vqa_open", "vqa_closed")
QUESTION_TYPES: tuple[str, ...] = ("Plane", "Phase", "Organ", "Abnormality", "Location")
CHOICE_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
CONDITIONS: tuple[str, ...] = ("own", "swapped", "blank")

_TYPE_ALIASES: dict[str, str] = {
    **{str(i): name for i, name in enumerate(QUESTION_TYPES, start=1)},
    **{name.lower(): name for name in QUESTION_TYPES},
}


class RecordError(SliceVLMError, ValueError):
    """A prediction row is malformed (names the line and field when it comes from a file)."""


def normalize_question_type(value: Any) -> str:
    """Map an M3D-VQA question type (``1``–``5`` or a name, any case) to its canonical name.

    Args:
        value: ``1``..``5`` (int or str) or ``"plane"``, ``"Phase"``, ...

    Returns:
        One of :data:`QUESTION_TYPES`.

    Raises:
        RecordError: when the value is none of those.
    """
    key = str(value).strip().lower()
    if key not in _TYPE_ALIASES:
        raise RecordError(
            f"question_type {value!r} is not an M3D-VQA question type; expected one of "
            f"{', '.join(QUESTION_TYPES)} or their codes 1-5."
        )
    return _TYPE_ALIASES[key]


@dataclass
class ControlTruth:
    """What a control row was asked of, and that volume's truth.

    Attributes:
        of: Id of the own-volume row of the same question.
        image_path: The swapped-in volume (``""`` for a blank volume).
        case: Its case (``""`` for a blank volume).
        reference: The swapped-in volume's truth for the same question: its answer text (VQA) or
            report (captions); ``None`` when unknown (blank volume, or no such question about it).
        answer_choice: Letter of this question's choice whose text is ``reference`` (closed VQA),
            ``""`` when no choice has it.
    """

    of: str
    image_path: str = ""
    case: str = ""
    reference: str | None = None
    answer_choice: str = ""


@dataclass
class PredictionRecord:
    """One scored (or to-be-scored) sample.

    Attributes:
        id: Unique sample id.
        task: ``"caption"``, ``"vqa_closed"`` or ``"vqa_open"``.
        prediction: Generated text.
        reference: Ground-truth text, or ``None`` when unknown (not scored).
        question_type: Canonical question type for VQA rows, ``""`` for captions.
        answer_choice: Key letter A–D for closed-ended rows, ``""`` otherwise.
        question: The instruction shown to the model (optional, for reading the file).
        scores: Per-sample scores (m3d protocol, values in [0, 1]; ``correct`` flags 0/1).
        condition: ``"own"``, or the image-reliance control ``"swapped"`` / ``"blank"``.
        case: The case the question is about (``""`` when unknown).
        control: For control rows, what was asked instead and its truth.
    """

    id: str
    task: str
    prediction: str
    reference: str | None
    question_type: str = ""
    answer_choice: str = ""
    question: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    condition: str = "own"
    case: str = ""
    control: ControlTruth | None = None

    @property
    def scorable(self) -> bool:
        """Whether the row has a reference to score against."""
        return self.reference is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSONL row (field order: id, task, question_type, question, prediction, ...).

        ``condition`` is always written; ``case`` and ``control`` only when set.
        """
        row = asdict(self)
        order = ("id", "task", "question_type", "question", "prediction", "reference",
                 "answer_choice", "condition", "case", "control", "scores")
        return {key: row[key] for key in order if key not in ("case", "control") or row[key]}


def _text(row: Mapping[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = row.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} must be a string, got {type(value).__name__} {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RecordError(
            f"field {name!r} is not valid Unicode text: {value[e.start:e.end]!r} at character {e.start} "
            "is an unpaired surrogate (a JSON \\ud800-\\udfff escape without its pair)"
        ) from e
    return value


def record_from_dict(row: Mapping[str, Any]) -> PredictionRecord:
    """Validate one row and build a :class:`PredictionRecord`.

    Args:
        row: Mapping with the fields listed in the module docstring.

    Returns:
        The record with ``question_type`` and ``answer_choice`` normalised.

    Raises:
        RecordError: naming the offending field, what it held and what was expected.
    """
    if not isinstance(row, Mapping):
        raise RecordError(f"a row must be a JSON object, got {type(row).__name__}")
    raw_id = row.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id) == "":
        raise RecordError(f"field 'id' must be a non-empty string, got {raw_id!r}")
    task = row.get("task")
    if task not in TASKS:
        raise RecordError(f"field 'task' must be one of {', '.join(TASKS)}, got {task!r}")
    prediction = _text(row, "prediction")
    reference = _text(row, "reference", optional=True)
    question = _text(row, "question", optional=True) or ""
    question_type = ""
    if task != "caption":
        try:
            question_type = normalize_question_type(row.get("question_type"))
        except RecordError as e:
            raise RecordError(f"field 'question_type': {e}") from e
    answer_choice = ""
    if task == "vqa_closed":
        raw_choice = row.get("answer_choice")
        answer_choice = str(raw_choice or "").strip().upper()
        if answer_choice not in CHOICE_LETTERS:
            raise RecordError(
                f"field 'answer_choice' must be one of {', '.join(CHOICE_LETTERS)} for a "
                f"vqa_closed row, got {raw_choice!r}"
            )
    scores = row.get("scores") or {}
    if not isinstance(scores, Mapping):
        raise RecordError(f"field 'scores' must be an object, got {type(scores).__name__}")
    condition = row.get("condition") or "own"
    if condition not in CONDITIONS:
        raise RecordError(f"field 'condition' must be one of {', '.join(CONDITIONS)}, got {condition!r}")
    return PredictionRecord(
        id=str(raw_id), task=task, prediction=prediction or "", reference=reference,
        question_type=question_type, answer_choice=answer_choice, question=question,
        scores={str(k): float(v) for k, v in scores.items()},
        condition=condition, case=_text(row, "case", optional=True) or "",
        control=_control(row.get("control"), condition),
    )


def _control(value: Any, condition: str) -> ControlTruth | None:
    """Validate the ``control`` field: required on control rows, absent on own rows."""
    if condition == "own":
        if value:
            raise RecordError("field 'control' is only for swapped/blank rows; this row's condition is 'own'")
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("of"), str) or not value["of"]:
        raise RecordError(
            f"a {condition!r} row needs field 'control' = {{'of': <own row id>, 'image_path', 'case', "
            f"'reference', 'answer_choice'}}, got {value!r}"
        )
    try:
        texts = {name: _text(value, name, optional=True) or "" for name in ("image_path", "case", "answer_choice")}
        reference = _text(value, "reference", optional=True)
    except RecordError as e:
        raise RecordError(f"field 'control': {e}") from e
    letter = texts["answer_choice"].strip().upper()
    if letter not in ("", *CHOICE_LETTERS):
        raise RecordError(f"field 'control': 'answer_choice' must be A-D or empty, got {texts['answer_choice']!r}")
    return ControlTruth(value["of"], texts["image_path"], texts["case"], reference or None, letter)


def read_predictions(path: str | Path) -> list[PredictionRecord]:
    """Read and validate a predictions JSONL file (blank lines are skipped).

    Args:
        path: File with one JSON object per line.

    Returns:
        The records in file order.

    Raises:
        FileNotFoundError: when the file does not exist.
        RecordError: naming the file, line number and field of the first bad row, or a
            duplicated id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file {str(path)!r} does not exist")
    records: list[PredictionRecord] = []
    first_line: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise RecordError(f"{where}: not valid JSON ({e.msg}); each line must be one object") from e
            try:
                record = record_from_dict(row)
            except RecordError as e:
                raise RecordError(f"{where}: {e}") from e
            if record.id in first_line:
                raise RecordError(
                    f"{where}: id {record.id!r} already appeared on line {first_line[record.id]}; "
                    "ids must be unique"
                )
            first_line[record.id] = number
            records.append(record)
    return records


def group_records(records: Iterable[PredictionRecord]) -> dict[str, list[PredictionRecord]]:
    """Scorable records by task, in :data:`TASKS` order (tasks without rows are left out)."""
    groups: dict[str, list[PredictionRecord]] = {task: [] for task in TASKS}
    for record in records:
        if record.scorable:
            groups[record.task].append(record)
    return {task: rows for task, rows in groups.items() if rows}
