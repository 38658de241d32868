"""M3D's index files parsed into records: ``M3D_Cap.json`` and the M3D-VQA CSVs (docs/method.md#data).

``M3D_Cap.json`` is one object whose values are lists of ``{"image": ..., "text": ...}`` entries,
paths relative to the data root. The VQA CSVs have exactly the columns in :data:`VQA_COLUMNS`;
``Question Type`` is 1..5 (Plane, Phase, Organ, Abnormality, Location), missing choices are the
string ``NA`` and ``Answer Choice`` is a bare letter. A bad entry or row raises :class:`DataError`
naming the file, the row, the field and what was expected.

Paths in entries and rows stay inside the data root: absolute paths, drive letters and ``..`` are
refused (:func:`~slicevlm.io.limits.entry_path_problem`), so no index file can make the pipeline
read a file outside it. CSVs are read as UTF-8 with or without a byte-order mark.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from slicevlm.io.errors import DataError, did_you_mean
from slicevlm.io.limits import entry_path_problem
from slicevlm.data.prompts import prompt_text_problem

CAPTION_SPLITS: tuple[str, ...] = ("train", "validation", "test", "test100", "test500", "test1k")
VQA_COLUMNS: tuple[str, ...] = (
    "Image Path",
    "Text",
    "Question Type",
    "Question",
    "Choice A",
    "Choice B",
    "Choice C",
    "Choice D",
    "Answer",
    "Answer Choice",
)
QUESTION_TYPES: dict[int, str] = {1: "Plane", 2: "Phase", 3: "Organ", 4: "Abnormality", 5: "Location"}
CHOICE_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")


@dataclass(frozen=True)
class CaptionRecord:
    """One ``M3D_Cap.json`` entry.

    Attributes:
        image: Volume path relative to the data root.
        text: Report text-file path relative to the data root.
        split: The json list it came from.
        position: Its index in that list.
    """

    image: str
    text: str
    split: str
    position: int


@dataclass(frozen=True)
class VQARecord:
    """One M3D-VQA row (used for both the closed- and the open-ended task).

    Attributes:
        row: 0-based data row (header excluded).
        image_path: Volume path relative to the data root.
        text: The report the question was generated from.
        question_type: 1..5.
        question: The question.
        choices: ``(A, B, C, D)``; missing ones are ``"NA"``.
        answer: The answer text.
        answer_choice: ``"A"``..``"D"``.
    """

    row: int
    image_path: str
    text: str
    question_type: int
    question: str
    choices: tuple[str, str, str, str]
    answer: str
    answer_choice: str

    @property
    def type_name(self) -> str:
        """``"Plane"``, ``"Phase"``, ``"Organ"``, ``"Abnormality"`` or ``"Location"``."""
        return QUESTION_TYPES[self.question_type]


def case_of(image_path: str) -> str:
    """The case a volume belongs to: the folder holding it (``M3D_Cap_npy/ct_quizze/005461``)."""
    return str(PurePosixPath(image_path.replace("\\", "/")).parent)


def read_utf8(path: str | os.PathLike) -> str:
    """A whole text file as UTF-8 (a byte-order mark is dropped); the error names the line.

    Raises:
        FileNotFoundError: No such file.
        DataError: Bytes that are not UTF-8 (the message gives the line and byte offset).
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} is not UTF-8 ({e.reason} at byte {e.start}); re-save the file as UTF-8 "
            "(with or without a byte-order mark)."
        ) from e


def read_caption_json(path: str | os.PathLike) -> dict[str, list]:
    """Load ``M3D_Cap.json`` and check that it is an object of lists.

    Raises:
        DataError: Missing file, invalid JSON, or the wrong structure.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except FileNotFoundError as e:
        raise DataError(
            f"{path}: caption index not found; expected M3D_Cap.json from the M3D-Cap release (or "
            "`slicevlm synth`/`prepare-m3d` output). Check data_root and cap_json (see data/README.md)."
        ) from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON (or not UTF-8: {e}); re-download or regenerate the file.") from e
    except RecursionError as e:
        raise DataError(f"{path}: JSON nested too deeply to parse; expected an object of lists of entries.") from e
    if not isinstance(data, dict) or not all(isinstance(value, list) for value in data.values()):
        raise DataError(
            f"{path}: expected one JSON object whose values are lists of {{'image', 'text'}} entries "
            f"(keys such as {list(CAPTION_SPLITS)}), got {type(data).__name__}."
        )
    return data


def caption_records(path: str | os.PathLike, split: str) -> list[CaptionRecord]:
    """The entries of one split of ``M3D_Cap.json``.

    Args:
        path: The json file.
        split: ``"train"``, ``"validation"``, ``"test"``, ``"test100"``, ... (any list in the file).

    Raises:
        DataError: Missing split, or an entry without string ``image``/``text`` fields.
    """
    data = read_caption_json(path)
    if split not in data:
        raise DataError(f"{path}: no split {split!r}; the file has {sorted(data)}.{did_you_mean(split, data)}")
    records = []
    for position, entry in enumerate(data[split]):
        for field in ("image", "text"):
            value = entry.get(field) if isinstance(entry, dict) else None
            problem = entry_path_problem(value) if isinstance(value, str) else "is not a string"
            if problem is not None:
                raise DataError(
                    f"{path}: split {split!r}, entry {position}, field {field!r}: got {value!r}, which {problem}; "
                    "expected a path relative to the data root, e.g. "
                    "'M3D_Cap_npy/ct_quizze/005461/Axial_non_contrast.npy'. Fix or remove the entry."
                )
        records.append(CaptionRecord(entry["image"], entry["text"], split, position))
    return records


def read_report(path: str | os.PathLike, referenced_by: str = "") -> str:
    """A report text file, stripped; newlines become spaces.

    Raises:
        DataError: Missing, undecodable or empty file.
    """
    path = Path(path)
    where = f" (referenced by {referenced_by})" if referenced_by else ""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError(f"{path}: report text not found{where}; check data_root and the json entry.") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: report is not UTF-8 text ({e}){where}; re-save it as UTF-8.") from e
    text = " ".join(text.split())
    problem = prompt_text_problem(text)
    if problem is not None:
        raise DataError(f"{path}: report text {problem}{where}.")
    if not text:
        raise DataError(
            f"{path}: empty report{where}; expected the findings text. Regenerate it (prepare-m3d) or "
            "drop the entry from the json (`slicevlm check-data` lists all of them)."
        )
    return text


def parse_vqa_row(raw: dict, path: Path | str, row: int) -> VQARecord:
    """Validate one ``csv.DictReader`` row and turn it into a :class:`VQARecord`.

    Raises:
        DataError: Naming the file, the row, the field and what was expected.
    """
    where = f"{path}: row {row + 1} (data rows counted from 1 after the header)"
    if None in raw or any(raw.get(column) is None for column in VQA_COLUMNS):
        count = len([v for k, v in raw.items() if k is not None and v is not None]) + len(raw.get(None) or [])
        raise DataError(
            f"{where}: {count} fields; expected {len(VQA_COLUMNS)} ({', '.join(VQA_COLUMNS)}). A field "
            "containing a comma must be quoted."
        )
    values = {column: raw[column].strip() for column in VQA_COLUMNS}
    for column in ("Image Path", "Question", "Answer"):
        if not values[column]:
            raise DataError(f"{where}, field {column!r}: empty; expected a non-empty value.")
    problem = entry_path_problem(values["Image Path"])
    if problem is not None:
        raise DataError(
            f"{where}, field 'Image Path': {values['Image Path']!r} {problem}; expected a path relative to the "
            "data root, e.g. 'M3D_Cap_npy/ct_quizze/005461/Axial_non_contrast.npy'."
        )
    for column in ("Question", "Choice A", "Choice B", "Choice C", "Choice D", "Answer"):
        problem = prompt_text_problem(values[column])
        if problem is not None:
            raise DataError(f"{where}, field {column!r}: {problem}.")
    try:
        question_type = int(values["Question Type"])
    except ValueError as e:
        raise DataError(
            f"{where}, field 'Question Type': got {values['Question Type']!r}; expected an integer 1..5 "
            f"({QUESTION_TYPES})."
        ) from e
    if question_type not in QUESTION_TYPES:
        raise DataError(f"{where}, field 'Question Type': got {question_type}; expected 1..5 ({QUESTION_TYPES}).")
    letter = values["Answer Choice"]
    if letter not in CHOICE_LETTERS:
        raise DataError(f"{where}, field 'Answer Choice': got {letter!r}; expected a bare letter A, B, C or D.")
    choices = tuple(values[f"Choice {x}"] for x in CHOICE_LETTERS)
    if choices[CHOICE_LETTERS.index(letter)] in ("", "NA"):
        raise DataError(
            f"{where}, field 'Choice {letter}': the answer choice is {letter} but that choice is "
            f"{choices[CHOICE_LETTERS.index(letter)]!r}; expected the answer's text there."
        )
    return VQARecord(
        row=row,
        image_path=values["Image Path"],
        text=values["Text"],
        question_type=question_type,
        question=values["Question"],
        choices=choices,  # type: ignore[arg-type]
        answer=values["Answer"],
        answer_choice=letter,
    )


def iter_vqa_rows(path: str | os.PathLike) -> Iterator[tuple[int, dict, VQARecord | None, DataError | None]]:
    """Yield ``(row, raw_row, record, error)`` for every data row; exactly one of record/error is set.

    Raises:
        DataError: The file is missing or its header lacks a required column.
    """
    path = Path(path)
    try:
        text = read_utf8(path)
    except FileNotFoundError as e:
        raise DataError(
            f"{path}: VQA CSV not found; expected an M3D-VQA CSV (M3D_VQA_train.csv, ...). Check "
            "data_root and the vqa_*_csv options (see data/README.md)."
        ) from e
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            header = [name.strip() for name in (reader.fieldnames or [])]
            missing = [column for column in VQA_COLUMNS if column not in header]
            if missing:
                hints = "".join(did_you_mean(column, header) for column in missing)
                raise DataError(f"{path}: header {header} lacks {missing}; expected exactly {list(VQA_COLUMNS)}.{hints}")
            reader.fieldnames = header
            for row, raw in enumerate(reader):
                try:
                    yield row, raw, parse_vqa_row(raw, path, row), None
                except DataError as error:
                    yield row, raw, None, error
        except csv.Error as e:
            raise DataError(f"{path}: line {reader.line_num} cannot be read as CSV ({e}); re-save it as a plain CSV.") from e


def vqa_records(path: str | os.PathLike) -> list[VQARecord]:
    """All rows of a VQA CSV; the first bad row raises.

    Raises:
        DataError: Missing file, bad header, or a bad row (file, row, field, expected value).
    """
    records = []
    for _, _, record, error in iter_vqa_rows(path):
        if error is not None:
            raise error
        records.append(record)
    return records
