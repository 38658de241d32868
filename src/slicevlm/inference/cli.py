"""``slicevlm ask``, ``slicevlm report`` and ``slicevlm ask-batch``.

    slicevlm ask ct.nii.gz "Which organ is abnormal?" --choices liver,spleen,kidney,lung --checkpoint CKPT
    slicevlm ask scan.npy "What phase is this?" --checkpoint CKPT --json --explain why.png
    slicevlm report dicom_folder/ --checkpoint CKPT
    slicevlm ask-batch questions.csv --checkpoint CKPT --out answers.jsonl     # rerun to resume

Volumes in any format :func:`slicevlm.io.readers.load_volume` reads are preprocessed with the
checkpoint's training recipe (window, reorientation, axis, crop, depth) unless ``--window``,
``--reorient``, ``--axis``, ``--crop``, ``--depth`` or ``--slice-spacing`` change a part of it, and resampled to the checkpoint's input size.
The answer goes to stdout (``--json``: one JSON object with the preprocessing applied, any warnings,
and for a closed question the choice it names); progress, warnings and errors go to stderr. A user error (missing file, unreadable volume, bad CSV row, bad option) is one
line naming the file or row, exit status 1, no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from slicevlm.command_line import Arg, positive, run_command
from slicevlm.io.recipe import RECIPE_CHOICES, RecipeChoice, overrides_from_fields
from slicevlm.errors import ConfigError
from slicevlm.errors import report as report_user_error
from slicevlm.hub import ModelNotAvailableError
from slicevlm.inference.errors import InputError
from slicevlm.inference.devices import parse_device_name
from slicevlm.inference.instructions import parse_choices, resolve_request
from slicevlm.inference.records import answer_record
from slicevlm.llm.generation_config import GenerationConfig
from slicevlm.io.errors import DataError
from slicevlm.io.headers import check_header
from slicevlm.io.limits import MAX_VOXELS, ReadLimits
from slicevlm.toy import SMALL_NOTICE, TOY_NOTICE

if TYPE_CHECKING:
    from slicevlm.inference.predictor import VolumeQA

log = logging.getLogger("slicevlm.inference")

#: Exceptions that are the user's to fix: printed as one line, exit status 1. (ImportError: an
#: optional dependency such as matplotlib is missing; its message carries the install hint.)
USER_ERRORS: tuple[type[BaseException], ...] = (
    DataError, InputError, ConfigError, FileNotFoundError, ModelNotAvailableError, ImportError,
)


@dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """model

    Attributes:
        checkpoint: checkpoint folder written by training, or hf://org/name for one on the Hugging Face Hub
        device: auto (a GPU if present), cpu, cuda or cuda:N
        dtype: auto: float32 on CPU, the checkpoint's on GPU
        max_voxels: refuse volumes whose header announces more voxels (512x512x1024)
        trust_checkpoint: let the checkpoint's model.yaml name any class, not only SliceVLM's model
            classes (building the model runs what it names: only for checkpoints you trust)
    """

    checkpoint: str
    device: Annotated[str, Arg(parse=parse_device_name, metavar="DEVICE")] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_voxels: Annotated[int, Arg(parse=positive(int), metavar="N")] = MAX_VOXELS
    trust_checkpoint: bool = False


def _checked(choice: RecipeChoice) -> Callable[[str], str]:
    """An :class:`Arg` parse for one recipe choice: the text, once the recipe's own check accepts it."""

    def parse(text: str) -> str:
        try:
            choice.parse(text.strip())
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from error
        return text.strip()

    return parse


#: The preprocessing options of ask, report and ask-batch: one per :data:`~slicevlm.io.recipe.RECIPE_CHOICES`
#: entry (the server's options and request fields come from the same list), each None = the checkpoint's.
PreprocessingOptions = dataclasses.make_dataclass(
    "PreprocessingOptions",
    [(choice.name, Annotated[str | None, Arg(parse=_checked(choice), metavar=choice.metavar)], dataclasses.field(default=None))
     for choice in RECIPE_CHOICES],
    frozen=True,
)
PreprocessingOptions.__doc__ = "preprocessing (default: the checkpoint's training recipe)\n\nAttributes:\n" + "".join(
    f"    {choice.name}: {choice.help}\n" for choice in RECIPE_CHOICES
)


def _load_qa(model: ModelOptions, generation: GenerationConfig, preprocessing: PreprocessingOptions) -> VolumeQA:
    from transformers.utils import logging as hf_logging

    from slicevlm.inference.predictor import VolumeQA

    hf_logging.disable_progress_bar()  # stderr is for our progress and errors
    qa = VolumeQA.from_checkpoint(
        model.checkpoint, device=model.device, dtype=model.dtype, generation=generation,
        limits=ReadLimits(max_voxels=model.max_voxels), trust_checkpoint=model.trust_checkpoint,
    )
    qa.preprocessing = qa.preprocessing.override(**overrides_from_fields(dataclasses.asdict(preprocessing)))
    log.info("preprocessing: %s", qa.preprocessing.describe())
    if qa.toy:
        log.warning("note: %s (%s).", TOY_NOTICE, qa.metadata.get("toy_reason") or "recorded in the checkpoint")
    if qa.small:
        log.warning("note: %s (%s).", SMALL_NOTICE, qa.metadata.get("small_reason") or "recorded in the checkpoint")
    return qa


@dataclass(frozen=True)
class _Output:
    as_json: bool
    explain: Path | None


def _answer_one(
    volume: Path, question: str | None, choices: list[str], output: _Output,
    model: ModelOptions, generation: GenerationConfig, preprocessing: PreprocessingOptions,
) -> int:
    if not volume.exists():
        raise InputError(f"volume {volume} does not exist; expected a volume file or folder.")
    from slicevlm.io.readers import find_reader

    find_reader(volume)  # a format no reader takes (a .txt) is refused before the model loads
    if volume.is_file():  # so is a bad header
        check_header(volume, ReadLimits(max_voxels=model.max_voxels))
    qa = _load_qa(model, generation, preprocessing)
    prepared = qa.load(volume)
    for warning in prepared.warnings:
        log.warning("warning: %s", warning)
    answer = qa.report(prepared) if question is None else qa.ask(prepared, question, choices)
    result = answer_record(
        answer, str(volume), question, choices,
        source=answer.source,
        input_size=list(qa.input_size),
        original_shape=list(prepared.original_shape),
        checkpoint=str(model.checkpoint),
        checkpoint_load_ms=round(qa.metadata.get("load_ms", 0.0), 1),
        **qa.labels(),
    )
    if output.explain is not None:
        from slicevlm.inference.rendering import save_explanation_png

        title = f"Q: {question or 'report'}\nA: {answer.text[:120]}"
        result["explain"] = str(save_explanation_png(qa.explain(prepared), output.explain, title=title))
    if output.as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        if answer.choice is not None:
            sys.stdout.write(f"choice: {answer.choice.line()}\nrule: {answer.choice.note}\ngenerated: {answer.text}\n")
        else:
            sys.stdout.write(answer.text + "\n")
        if output.explain is not None:
            log.info("explanation written to %s", output.explain)
    return 0


def _reporting_user_errors(prog: str, body: Callable[[], int]) -> int:
    """Run `body`; a user error becomes one stderr line and exit status 1 (SystemExit, as a parser error)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return body()
    except USER_ERRORS as error:
        report_user_error(prog, error)
        raise SystemExit(1) from None


_VOLUME_HELP = "volume file or folder (npy, NIfTI, NRRD, MHA, DICOM file/folder, slice images)"
_JSON_HELP = "print one JSON object (answer, timings, kept slices)"
_EXPLAIN_HELP = "also draw kept slices and injection attention"


def ask(
    volume: Path,
    question: str,
    choices: str | None = None,
    as_json: Annotated[bool, Arg(flag="--json")] = False,
    explain: Annotated[Path | None, Arg(metavar="OUT.png")] = None,
    *,
    model: ModelOptions,
    generation: GenerationConfig,
    preprocessing: PreprocessingOptions,
) -> int:
    """Ask a question about one volume.

    Args:
        volume: VOLUME_HELP
        question: the question; add --choices for a closed question
        choices: 2-4 choices, comma separated (use '|' if a choice has commas)
        as_json: JSON_HELP
        explain: EXPLAIN_HELP
        model: the checkpoint and where it runs
        generation: how answers are decoded
        preprocessing: changes to the checkpoint's preprocessing recipe
    """

    def body() -> int:
        request = resolve_request(question, parse_choices(choices), task="ask")  # refused before loading anything
        return _answer_one(volume, question, list(request.choices), _Output(as_json, explain), model, generation, preprocessing)

    return _reporting_user_errors("slicevlm ask", body)


def report(
    volume: Path,
    as_json: Annotated[bool, Arg(flag="--json")] = False,
    explain: Annotated[Path | None, Arg(metavar="OUT.png")] = None,
    *,
    model: ModelOptions,
    generation: GenerationConfig,
    preprocessing: PreprocessingOptions,
) -> int:
    """Write the findings report for one volume.

    Args:
        volume: VOLUME_HELP
        as_json: JSON_HELP
        explain: EXPLAIN_HELP
        model: the checkpoint and where it runs
        generation: how answers are decoded
        preprocessing: changes to the checkpoint's preprocessing recipe
    """
    return _reporting_user_errors(
        "slicevlm report", lambda: _answer_one(volume, None, [], _Output(as_json, explain), model, generation, preprocessing)
    )


for _command in (ask, report):
    _command.__doc__ = (_command.__doc__ or "").replace("VOLUME_HELP", _VOLUME_HELP).replace(
        "JSON_HELP", _JSON_HELP).replace("EXPLAIN_HELP", _EXPLAIN_HELP)


def ask_batch(
    questions: Path,
    *,
    out: Path,
    data_root: Path | None = None,
    batch_size: int = 4,
    keep_going: bool = False,
    overwrite: bool = False,
    model: ModelOptions,
    generation: GenerationConfig,
    preprocessing: PreprocessingOptions,
) -> int:
    """Answer a CSV of (volume, question) rows, resumable.

    Args:
        questions: CSV with columns volume,question[,choices]
        out: JSONL answers file (appended to; rerun to resume)
        data_root: folder volume paths are relative to, and every volume must lie inside (no absolute
            paths, no '..', no links pointing out); default: the CSV's folder, without that confinement
        batch_size: rows generated together
        keep_going: log bad rows, unreadable volumes and unanswerable rows and go on (retried on the next run)
        overwrite: start a fresh output file instead of resuming
        model: the checkpoint and where it runs
        generation: how answers are decoded
        preprocessing: changes to the checkpoint's preprocessing recipe
    """
    from slicevlm.inference import batch

    def body() -> int:
        if batch_size < 1:
            raise InputError(f"--batch-size {batch_size}; expected at least 1.")
        if keep_going:
            rows, bad_rows = batch.read_questions_lenient(questions, data_root)
            for error in bad_rows:
                log.error("%s", error)
        else:
            rows, bad_rows = batch.read_questions(questions, data_root), []
        missing = batch.missing_volumes(rows)
        if missing and not keep_going:
            listed = "; ".join(f"row {row.row} (line {row.line}): {row.path}" for row in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputError(
                f"{questions}: {len(missing)} volume(s) do not exist: {listed}{more}. Fix the paths "
                "(relative to the CSV's folder, or pass --data-root), or pass --keep-going to skip them."
            )
        qa = _load_qa(model, generation, preprocessing)
        summary = batch.run_batch(qa, rows, out, batch_size, keep_going, overwrite, questions, data_root)
        log.info(
            "%s: %d answered, %d already there, %d failed, of %d rows",
            out, summary.answered, summary.skipped, len(summary.failed) + len(bad_rows), summary.total + len(bad_rows),
        )
        return 1 if summary.failed or bad_rows else 0

    return _reporting_user_errors("slicevlm ask-batch", body)


def ask_main(argv: list[str] | None = None) -> int:
    """``slicevlm ask VOLUME QUESTION [--choices A,B,C,D] --checkpoint DIR [--json] [--explain OUT.png]``."""
    return run_command(ask, argv, prog="slicevlm ask")


def report_main(argv: list[str] | None = None) -> int:
    """``slicevlm report VOLUME --checkpoint DIR [--json] [--explain OUT.png]``."""
    return run_command(report, argv, prog="slicevlm report")


def batch_main(argv: list[str] | None = None) -> int:
    """``slicevlm ask-batch QUESTIONS.csv --checkpoint DIR --out answers.jsonl``: resumable batch answering."""
    from slicevlm.inference import batch

    return run_command(ask_batch, argv, prog="slicevlm ask-batch", description=batch.__doc__)
