"""Answer a CSV of questions into JSONL, one flushed line per row, resumable.

The CSV has a header with columns ``volume`` and ``question`` and, optionally, ``choices``::

    volume,question,choices
    scans/case1.nii.gz,Which organ shows the lesion?,liver|spleen|kidney|pancreas
    scans/case2.npy,What phase is this scan?,
    scans/case3.npy,report,

``choices`` are separated by ``|`` (or by commas when no ``|`` is present); a question that is
just ``report`` asks for the findings report. Volume paths are relative to the CSV's folder unless
a data root is given. With a data root (``--data-root``) every volume must lie inside it: a path
that is absolute, climbs out with ``..`` or resolves outside through a symbolic link is a bad row
(named by row and line; ``--keep-going`` skips it), and files a volume brings along (DICOM slices,
detached data files) are read from inside the data root only. Every row is checked before any model
work starts.

Output: one JSON object per answered row (``row`` is the 1-based data row; the fields of
:func:`slicevlm.inference.records.answer_record`). A rerun with the same output file skips rows
already there; a truncated last line (the run was killed mid-write) is cut off and that row is
answered again, so the file ends with every row exactly once. ``<stem>.run.json`` beside it records
the checkpoint folder, the SHA-256 of its trained weights and the generation settings: a rerun
after retraining into that folder, or with another ``--max-new-tokens`` / ``--engine``, is refused
rather than mixing two runs' answers (the same store and rule as ``lightning-cli test``'s predictions).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slicevlm.io.limits import entry_path_problem, is_inside
from slicevlm.data.records import read_utf8
from slicevlm.inference.errors import InputError
from slicevlm.io.errors import DataError, did_you_mean
from slicevlm.inference.instructions import parse_choices, resolve_request
from slicevlm.inference.records import answer_record
from slicevlm.llm.generation_config import GenerationConfig
from slicevlm.store.jsonl import JsonlAppender, JsonlCorruptError
from slicevlm.store.resumable import ResumableJsonl
from slicevlm.store.run_record import RunRecord

if TYPE_CHECKING:
    from slicevlm.inference.predictor import Answer, VolumeQA

log = logging.getLogger(__name__)

REQUIRED_COLUMNS: tuple[str, ...] = ("volume", "question")
OPTIONAL_COLUMNS: tuple[str, ...] = ("choices",)


@dataclass(frozen=True)
class BatchRow:
    """One CSV row, checked.

    Attributes:
        row: 1-based data row number (the header is row 0).
        line: the CSV line the row starts on (for messages).
        volume: the volume as written in the CSV.
        path: the volume resolved against the data root.
        question: the question, or ``"report"``.
        choices: 0 or 2–4 choices.
        instruction: what the model is asked.
    """

    row: int
    line: int
    volume: str
    path: Path
    question: str
    choices: tuple[str, ...]
    instruction: str

    def where(self, csv_path: str | Path) -> str:
        """``questions.csv row 3 (line 4)``, for messages."""
        return f"{csv_path} row {self.row} (line {self.line})"


def _header_map(fieldnames: Sequence[str] | None, csv_path: Path) -> dict[str, str]:
    """Map our column names to the CSV's (case and surrounding spaces ignored)."""
    if not fieldnames:
        raise InputError(f"{csv_path}: empty CSV; expected a header row with columns {list(REQUIRED_COLUMNS)} (+ optional 'choices').")
    normalised = {name.strip().lower(): name for name in fieldnames if name is not None}
    missing = [column for column in REQUIRED_COLUMNS if column not in normalised]
    if missing:
        hints = "".join(did_you_mean(column, normalised) for column in missing)
        raise InputError(
            f"{csv_path}: header {list(fieldnames)} lacks column(s) {missing}; expected "
            f"{list(REQUIRED_COLUMNS)} and optionally {list(OPTIONAL_COLUMNS)}.{hints}"
        )
    return {column: normalised[column] for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if column in normalised}


def read_questions(csv_path: str | Path, data_root: str | Path | None = None) -> list[BatchRow]:
    """Read and check every row of a questions CSV; the first bad row raises.

    Args:
        csv_path: the CSV (see the module docstring).
        data_root: folder volume paths are relative to, and every volume must lie inside; default:
            the CSV's folder (then absolute paths are accepted too).

    Raises:
        InputError: a missing file or column, an empty field, a bad choice list, a volume outside
            ``data_root``; the message names the row and line.
    """
    rows, errors = read_questions_lenient(csv_path, data_root)
    if errors:
        raise errors[0]
    return rows


def read_questions_lenient(csv_path: str | Path, data_root: str | Path | None = None) -> tuple[list[BatchRow], list[InputError]]:
    """Read a questions CSV, collecting bad rows instead of stopping at the first (``--keep-going``).

    Returns:
        ``(good rows, one InputError per bad row)``, each error naming its row and line.

    Raises:
        InputError: the file itself is unusable (missing, no header, not UTF-8, no rows).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputError(f"questions CSV {csv_path} does not exist; expected a CSV with columns volume,question[,choices].")
    root = Path(data_root) if data_root is not None else csv_path.resolve().parent
    rows: list[BatchRow] = []
    errors: list[InputError] = []
    try:
        text = read_utf8(csv_path)
    except DataError as error:
        raise InputError(str(error)) from error
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            columns = _header_map(reader.fieldnames, csv_path)
            line = reader.line_num + 1
            for number, record in enumerate(reader, start=1):
                try:
                    rows.append(_check_row(record, columns, number, line, root, csv_path, confined=data_root is not None))
                except InputError as error:
                    errors.append(error)
                line = reader.line_num + 1
        except csv.Error as error:
            raise InputError(f"{csv_path} line {reader.line_num}: not readable as CSV ({error}); save it as a CSV with a header row.") from error
    if not rows and not errors:
        raise InputError(f"{csv_path}: header only, no rows; expected one row per question.")
    return rows, errors


def _check_row(
    record: dict[str, Any], columns: dict[str, str], number: int, line: int, root: Path, csv_path: Path, confined: bool = False
) -> BatchRow:
    where = f"{csv_path} row {number} (line {line})"
    if record.get(None):
        raise InputError(f"{where}: {len(record[None])} more field(s) than the header has columns; quote fields that contain commas.")
    volume = (record.get(columns["volume"]) or "").strip()
    question = (record.get(columns["question"]) or "").strip()
    if not volume:
        raise InputError(f"{where}: the volume field is empty; expected a path to a volume file or folder.")
    try:
        request = resolve_request(question, parse_choices(record.get(columns["choices"]) if "choices" in columns else None))
    except InputError as error:
        raise InputError(f"{where}: {error}") from error
    if confined:
        problem = entry_path_problem(volume)
        if problem is not None:
            raise InputError(
                f"{where}: volume {volume!r} {problem}; with a data root every volume must be a path relative to "
                f"it and inside it ({root})."
            )
        if not is_inside(root, root / volume):
            raise InputError(
                f"{where}: volume {volume!r} resolves outside the data root {root} (through a symbolic link); "
                "volumes are only read from inside it."
            )
    path = Path(volume) if Path(volume).is_absolute() else root / volume
    return BatchRow(number, line, volume, path, question, request.choices, request.instruction)


def missing_volumes(rows: Sequence[BatchRow]) -> list[BatchRow]:
    """Rows whose volume path does not exist."""
    return [row for row in rows if not row.path.exists()]


def _record_matches(record: dict[str, Any], row: BatchRow) -> bool:
    return record.get("volume") == row.volume and record.get("question") == row.question


def answered_rows(out_path: str | Path, rows: Sequence[BatchRow], run: RunRecord | None = None) -> set[int]:
    """Rows already in ``out_path``; cuts a truncated last line off the file.

    Args:
        out_path: The answers JSONL.
        rows: The CSV's rows.
        run: What answers now (checkpoint, weights, generation settings); rows another run wrote
            are an error (``None`` skips the check).

    Raises:
        InputError: a complete line that is not JSON, a record that does not match the CSV row of
            the same number (the file was written for another CSV), or rows another run wrote
            (naming the field that changed and how to go on).
    """
    store = ResumableJsonl(out_path)
    cut = store.repair()
    if cut:
        log.warning("%s: dropping a truncated last line (%d bytes); that row is answered again", out_path, cut)
    try:
        records = store.read_rows()
    except JsonlCorruptError as error:
        raise InputError(f"{error} (or pass --overwrite to start again)") from error
    by_number = {row.row: row for row in rows}
    done: set[int] = set()
    for index, record in enumerate(records, start=1):
        try:
            number = int(record["row"])
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(
                f"{out_path} record {index} is not an answer record ({error!r}); expected JSON lines written by "
                "`slicevlm ask-batch`. Remove the line, or pass --overwrite to start again."
            ) from error
        row = by_number.get(number)
        if row is None or not _record_matches(record, row):
            raise InputError(
                f"{out_path} record {index} answers row {number} ({record.get('volume')!r}, {record.get('question')!r}), "
                "which is not that row of this CSV; the file was written for another CSV. Use another --out, or --overwrite."
            )
        done.add(number)
    if records and run is not None:
        recorded = store.recorded_run()
        why = store.conflict(run, recorded)
        if why is not None:
            raise InputError(
                f"{out_path} already holds {len(records)} answers that this run cannot resume: {why} "
                f"(see {store.run_record_path}). Resuming would mix two runs' answers. {_resume_hint(recorded, run)}"
            )
    return done


def _resume_hint(recorded: RunRecord | None, run: RunRecord) -> str:
    """How to go on: the options that would resume, else another file or a fresh start."""
    fresh = "Use another --out, or pass --overwrite to answer every row again."
    if recorded is None or recorded.weights_sha256 != run.weights_sha256 or recorded.checkpoint != run.checkpoint:
        return fresh
    options = " ".join(
        f"{flag} {recorded.generation[key]}" for key, flag in GenerationConfig.option_flags().items()
        if key in recorded.generation and recorded.generation[key] != run.generation.get(key)
    )
    return f"To resume, rerun with {options}. {fresh}" if options else fresh


def batch_record(row: BatchRow, answer: Answer, checkpoint: str = "", labels: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object written for one answered row (:func:`~slicevlm.inference.records.answer_record`).

    Args:
        row: The CSV row.
        answer: Its answer; a closed question's record adds ``choice`` and ``choice_note``
            (:mod:`slicevlm.inference.choices`).
        checkpoint: The folder that answered.
        labels: ``toy`` / ``small`` / ``notice`` labels of the checkpoint (:meth:`VolumeQA.labels`).
    """
    return answer_record(answer, row.volume, row.question, row.choices, row=row.row, checkpoint=checkpoint, **(labels or {}))


def _chunks(rows: Sequence[BatchRow], size: int) -> Iterator[Sequence[BatchRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


@dataclass
class BatchSummary:
    """How a batch run went."""

    total: int
    skipped: int
    answered: int
    failed: list[str]


def run_batch(
    qa: VolumeQA,
    rows: Sequence[BatchRow],
    out_path: str | Path,
    batch_size: int = 4,
    keep_going: bool = False,
    overwrite: bool = False,
    csv_path: str | Path = "questions.csv",
    data_root: str | Path | None = None,
) -> BatchSummary:
    """Answer every row not yet in ``out_path``, appending one flushed JSON line per row.

    Args:
        qa: a :class:`~slicevlm.inference.predictor.VolumeQA`.
        rows: from :func:`read_questions`.
        out_path: the JSONL file (created, or resumed).
        batch_size: rows generated together.
        keep_going: on an unreadable volume or a row the model cannot answer, log it and go on (the
            row is retried on the next run); otherwise stop with the error.
        overwrite: start a fresh file instead of resuming.
        csv_path: for messages.
        data_root: confine every read to this folder (volumes and the files they bring along);
            None: each volume's own folder, as for any volume.

    Raises:
        DataError: an unreadable volume or an unanswerable row, unless ``keep_going`` (the message
            names the row and file).
    """
    out_path = Path(out_path)
    store = ResumableJsonl(out_path)
    if overwrite:
        store.remove()
    checkpoint = str(Path(qa.metadata["checkpoint"]).resolve()) if qa.metadata.get("checkpoint") else ""
    run = RunRecord(str(qa.metadata.get("weights_sha256", "")), qa.generation.to_dict(), checkpoint)
    done = answered_rows(out_path, rows, run)
    store.write_run(run)
    pending = [row for row in rows if row.row not in done]
    summary = BatchSummary(total=len(rows), skipped=len(rows) - len(pending), answered=0, failed=[])
    if summary.skipped:
        log.info("%s: %d of %d rows already answered; resuming", out_path, summary.skipped, len(rows))
    def fail(row: BatchRow, error: Exception, what: str = "") -> None:
        message = f"{row.where(csv_path)}: {what}{error}"
        if not keep_going:
            raise DataError(message) from error
        log.error("%s", message)
        summary.failed.append(message)

    limits = None if data_root is None else qa.limits.confined_to(data_root)
    appender = JsonlAppender(out_path)  # every line flushed and fsynced: a killed run loses at most the line being written
    appender.open()
    try:
        for chunk in _chunks(pending, batch_size):
            loaded = []
            for row in chunk:
                try:
                    loaded.append((row, qa.load(row.path, limits=limits)))
                except (DataError, InputError) as error:
                    fail(row, error)
            if loaded:
                answers = qa.generate_isolated([volume for _, volume in loaded], [row.instruction for row, _ in loaded])
                for (row, _), answer in zip(loaded, answers):
                    if isinstance(answer, Exception):
                        fail(row, answer, "the model could not answer this row: ")
                        continue
                    appender.append([batch_record(row, answer, checkpoint, qa.labels())])
                    summary.answered += 1
                    log.info("row %d/%d answered (%.0f ms)", row.row, len(rows), answer.timings_ms["total"])
    finally:
        appender.close()
    return summary
