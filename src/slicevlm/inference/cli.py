"""``slicevlm ask``, ``slicevlm report`` and ``slicevlm ask-batch``.

    slicevlm ask ct.nii.gz "Which organ is abnormal?" --choices liver,spleen,kidney,lung --checkpoint CKPT
    slicevlm ask scan.npy "What phase is this?" --checkpoint CKPT --json --explain why.png
    slicevlm report dicom_folder/ --checkpoint CKPT
    slicevlm ask-batch questions.csv --checkpoint CKPT --out answers.jsonl     # rerun to resume

Volumes in any format :func:`slicevlm.data.readers.load_volume` reads are preprocessed with the
checkpoint's training recipe (window, reorientation, axis, crop, depth) unless ``--window``,
``--reorient``, ``--axis``, ``--crop``, ``--depth`` or ``--slice-spacing`` change a part of it, and resampled to the checkpoint's input size.
The answer goes to stdout (``--json``: one JSON object with the preprocessing applied, any warnings,
and for a closed question the choice it names); progress, warnings and errors go to stderr. A user error (missing file, unreadable volume, bad CSV row, bad option) is one
line naming the file or row, exit status 1, no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from slicevlm.data.recipe import AXES, CROPS, DEPTH_MODES, REORIENTATIONS, WINDOW_PRESETS, parse_reorient, parse_window
from slicevlm.errors import ConfigError, show_traceback_if_debug
from slicevlm.hub import ModelNotAvailableError
from slicevlm.inference.errors import DataError, InputError
from slicevlm.inference.generation_options import add_generation_options, generation_from_args
from slicevlm.inference.instructions import parse_choices, resolve_request
from slicevlm.inference.records import answer_record
from slicevlm.inference.limits import MAX_VOXELS, ReadLimits, check_header
from slicevlm.toy import TOY_NOTICE

if TYPE_CHECKING:
    from slicevlm.inference.predictor import VolumeQA

log = logging.getLogger("slicevlm.inference")

#: Exceptions that are the user's to fix: printed as one line, exit status 1. (ImportError: an
#: optional dependency such as matplotlib is missing; its message carries the install hint.)
USER_ERRORS: tuple[type[BaseException], ...] = (
    DataError, InputError, ConfigError, FileNotFoundError, ModelNotAvailableError, ImportError,
)


def _window(text: str) -> str:
    try:
        parse_window(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return text


def _reorient(text: str) -> str:
    """``lps``/``LPS``/``none`` → the recipe's spelling; argparse lists the choices for anything else."""
    try:
        return parse_reorient(text)
    except ConfigError:
        return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from error
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--checkpoint", required=True, help="checkpoint folder written by training, or a Hugging Face repo id (user/repo)")
    group.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda or cuda:N")
    group.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"), help="auto: float32 on CPU, the checkpoint's on GPU")
    add_generation_options(group)
    recipe = parser.add_argument_group("preprocessing (default: the checkpoint's training recipe)")
    recipe.add_argument(
        "--reorient", type=_reorient, default=None, choices=REORIENTATIONS,
        help="LPS: turn files that record an orientation (NIfTI, NRRD, MHA, DICOM) to LPS first; "
        "none: keep the file's stored voxel order",
    )
    recipe.add_argument("--axis", default=None, choices=AXES, help="slicing axis of the volume")
    recipe.add_argument(
        "--window", type=_window, default=None, metavar="PRESET|CENTER,WIDTH|none",
        help=f"CT window in HU before min-max: a preset ({', '.join(f'{k} {c:g}/{w:g}' for k, (c, w) in WINDOW_PRESETS.items())}), "
        "CENTER,WIDTH (a negative center: --window=-600,1500), or none (min-max only)",
    )
    recipe.add_argument("--crop", default=None, choices=CROPS, help="center: scale and crop the centre; foreground: cut to the body's box first")
    recipe.add_argument(
        "--depth", default=None, choices=DEPTH_MODES,
        help="fixed: resample all slices to the model's depth; spacing: the centre slab at --slice-spacing mm per model slice",
    )
    recipe.add_argument("--slice-spacing", type=_positive_float, default=None, metavar="MM", help="slice distance of --depth spacing, in mm")
    group.add_argument(
        "--max-voxels", type=_positive_int, default=MAX_VOXELS, metavar="N",
        help=f"refuse volumes whose header announces more voxels (default {MAX_VOXELS:,} = 512x512x1024)",
    )


def _single_parser(prog: str, description: str, with_question: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("volume", type=Path, help="volume file or folder (npy, NIfTI, NRRD, MHA, DICOM file/folder, slice images)")
    if with_question:
        parser.add_argument("question", help="the question; add --choices for a closed question")
        parser.add_argument("--choices", default=None, help="2-4 choices, comma separated (use '|' if a choice has commas)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (answer, timings, kept slices)")
    parser.add_argument("--explain", type=Path, default=None, metavar="OUT.png", help="also draw kept slices and injection attention")
    _model_options(parser)
    return parser


def _load_qa(args: argparse.Namespace) -> VolumeQA:
    from transformers.utils import logging as hf_logging

    from slicevlm.inference.predictor import VolumeQA

    hf_logging.disable_progress_bar()  # stderr is for our progress and errors
    qa = VolumeQA.from_checkpoint(
        args.checkpoint, device=args.device, dtype=args.dtype, generation=generation_from_args(args),
        limits=ReadLimits(max_voxels=args.max_voxels),
    )
    qa.preprocessing = qa.preprocessing.override(
        window=args.window, reorient=args.reorient, axis=args.axis, crop=args.crop, depth=args.depth, slice_spacing_mm=args.slice_spacing
    )
    log.info("preprocessing: %s", qa.preprocessing.describe())
    if qa.toy:
        log.warning("note: %s.", TOY_NOTICE)
    return qa


def _answer_one(args: argparse.Namespace, question: str | None, choices: list[str]) -> int:
    if not args.volume.exists():
        raise InputError(f"volume {args.volume} does not exist; expected a volume file or folder.")
    if args.volume.is_file():  # a bad header is refused before the model loads
        check_header(args.volume, ReadLimits(max_voxels=args.max_voxels))
    qa = _load_qa(args)
    prepared = qa.load(args.volume)
    for warning in prepared.warnings:
        log.warning("warning: %s", warning)
    answer = qa.report(prepared) if question is None else qa.ask(prepared, question, choices)
    result = answer_record(
        answer, str(args.volume), question, choices,
        source=answer.source,
        input_size=list(qa.input_size),
        original_shape=list(prepared.original_shape),
        checkpoint=str(args.checkpoint),
        checkpoint_load_ms=round(qa.metadata.get("load_ms", 0.0), 1),
        **qa.labels(),
    )
    if args.explain is not None:
        from slicevlm.inference.rendering import save_explanation_png

        title = f"Q: {question or 'report'}\nA: {answer.text[:120]}"
        result["explain"] = str(save_explanation_png(qa.explain(prepared), args.explain, title=title))
    if args.json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        if answer.choice is not None:
            sys.stdout.write(f"choice: {answer.choice.line()}\nrule: {answer.choice.note}\ngenerated: {answer.text}\n")
        else:
            sys.stdout.write(answer.text + "\n")
        if args.explain is not None:
            log.info("explanation written to %s", args.explain)
    return 0


def _run(parser: argparse.ArgumentParser, argv: list[str] | None, body: Callable[[argparse.Namespace], int]) -> int:
    """Parse, run, and turn user errors into one stderr line and exit status 1."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return body(args)
    except USER_ERRORS as error:
        show_traceback_if_debug(error)
        parser.exit(1, f"{parser.prog}: error: {error}\n")
    return 1


def ask_main(argv: list[str] | None = None) -> int:
    """``slicevlm ask VOLUME QUESTION [--choices A,B,C,D] --checkpoint DIR [--json] [--explain OUT.png]``."""
    parser = _single_parser("slicevlm ask", "Ask a question about one volume.", with_question=True)

    def body(args: argparse.Namespace) -> int:
        request = resolve_request(args.question, parse_choices(args.choices), task="ask")  # refused before loading anything
        return _answer_one(args, args.question, list(request.choices))

    return _run(parser, argv, body)


def report_main(argv: list[str] | None = None) -> int:
    """``slicevlm report VOLUME --checkpoint DIR [--json] [--explain OUT.png]``."""
    parser = _single_parser("slicevlm report", "Write the findings report for one volume.", with_question=False)
    return _run(parser, argv, lambda args: _answer_one(args, None, []))


def batch_main(argv: list[str] | None = None) -> int:
    """``slicevlm ask-batch QUESTIONS.csv --checkpoint DIR --out answers.jsonl``: resumable batch answering."""
    from slicevlm.inference import batch

    parser = argparse.ArgumentParser(
        prog="slicevlm ask-batch", description=batch.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("questions", type=Path, help="CSV with columns volume,question[,choices]")
    parser.add_argument("--out", required=True, type=Path, help="JSONL answers file (appended to; rerun to resume)")
    parser.add_argument("--data-root", type=Path, default=None, help="folder volume paths are relative to (default: the CSV's)")
    parser.add_argument("--batch-size", type=int, default=4, help="rows generated together")
    parser.add_argument(
        "--keep-going", action="store_true", help="log bad rows, unreadable volumes and unanswerable rows and go on (retried on the next run)"
    )
    parser.add_argument("--overwrite", action="store_true", help="start a fresh output file instead of resuming")
    _model_options(parser)

    def body(args: argparse.Namespace) -> int:
        if args.batch_size < 1:
            raise InputError(f"--batch-size {args.batch_size}; expected at least 1.")
        if args.keep_going:
            rows, bad_rows = batch.read_questions_lenient(args.questions, args.data_root)
            for error in bad_rows:
                log.error("%s", error)
        else:
            rows, bad_rows = batch.read_questions(args.questions, args.data_root), []
        missing = batch.missing_volumes(rows)
        if missing and not args.keep_going:
            listed = "; ".join(f"row {row.row} (line {row.line}): {row.path}" for row in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputError(
                f"{args.questions}: {len(missing)} volume(s) do not exist: {listed}{more}. Fix the paths "
                "(relative to the CSV's folder, or pass --data-root), or pass --keep-going to skip them."
            )
        qa = _load_qa(args)
        summary = batch.run_batch(qa, rows, args.out, args.batch_size, args.keep_going, args.overwrite, args.questions)
        log.info(
            "%s: %d answered, %d already there, %d failed, of %d rows",
            args.out, summary.answered, summary.skipped, len(summary.failed) + len(bad_rows), summary.total + len(bad_rows),
        )
        return 1 if summary.failed or bad_rows else 0

    return _run(parser, argv, body)
