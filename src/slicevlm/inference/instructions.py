"""User text → the instruction the model was trained on (M3D's prompts, via :mod:`slicevlm.data.prompts`).

A closed question carries up to four choices and is written exactly as M3D-VQA's closed-ended prompt
(``question Choices: A. .. B. .. C. .. D. ..``; missing choices are M3D's ``NA``). A report request
uses the first of M3D's caption phrasings, so the same volume always gets the same instruction.
Light on imports: the web server validates requests with it before any model is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slicevlm.data.prompts import CAPTION_INSTRUCTIONS, closed_instruction, prompt_text_problem
from slicevlm.inference.errors import InputError

#: The instruction `slicevlm report` and the server's report task send (fixed, for reproducibility).
REPORT_INSTRUCTION: str = CAPTION_INSTRUCTIONS[0]
#: Closed questions take this many choices (M3D-VQA: A–D).
MAX_CHOICES: int = 4
#: Questions longer than this are refused (the model's text budget is 512 tokens).
MAX_QUESTION_CHARS: int = 1000
#: M3D's marker for an unused choice.
MISSING_CHOICE: str = "NA"
#: A question that is exactly this word (any case) asks for a report.
REPORT_KEYWORD: str = "report"


def parse_choices(text: str | None) -> list[str]:
    """Split ``"liver,spleen,kidney"`` (or ``"a|b|c"`` when a choice contains commas) into choices.

    Args:
        text: The choices as typed; ``None`` or blank means an open question.

    Returns:
        The stripped, non-empty choices (possibly empty).
    """
    if text is None or not text.strip():
        return []
    separator = "|" if "|" in text else ","
    return [part.strip() for part in text.split(separator) if part.strip()]


def check_question(question: str) -> str:
    """Return the stripped question, or raise :class:`InputError` when it is empty, too long, holds
    the model's image marker or bytes that were not UTF-8."""
    text = (question or "").strip()
    if not text:
        raise InputError("question is empty; expected the question to ask about the volume, e.g. 'Which organ is abnormal?'.")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(
            f"question has {len(text)} characters; expected at most {MAX_QUESTION_CHARS}. Shorten it."
        )
    problem = prompt_text_problem(text)
    if problem is not None:
        raise InputError(f"question {problem}.")
    return text


def check_choices(choices: Sequence[str] | None) -> list[str]:
    """Return the choices, or raise :class:`InputError` unless there are none or 2–4 non-empty ones."""
    items = [str(c).strip() for c in (choices or [])]
    if not items:
        return []
    if any(not c for c in items):
        raise InputError(f"choices {items} contain an empty entry; expected 2 to {MAX_CHOICES} non-empty choices.")
    for item in items:
        problem = prompt_text_problem(item)
        if problem is not None:
            raise InputError(f"choice {item!r} {problem}.")
        if len(item) > MAX_QUESTION_CHARS:
            raise InputError(f"a choice has {len(item)} characters; expected at most {MAX_QUESTION_CHARS}. Shorten it.")
    if not 2 <= len(items) <= MAX_CHOICES:
        raise InputError(
            f"{len(items)} choices given ({items}); expected 2 to {MAX_CHOICES} (A–D, as in M3D-VQA), or none "
            "for an open question. Separate choices with commas, or with '|' when a choice contains a comma."
        )
    return items


def is_report_request(question: str | None) -> bool:
    """Whether a question field asks for a report (the word ``report`` on its own)."""
    return (question or "").strip().lower() == REPORT_KEYWORD


def question_instruction(question: str, choices: Sequence[str] | None = None) -> str:
    """The instruction for a question: open as typed, closed in M3D's choice format.

    Args:
        question: The question text.
        choices: None/empty for an open question, or 2–4 choices (padded with ``NA`` to four).

    Raises:
        InputError: Empty or overlong question, or a bad number of choices.
    """
    text = check_question(question)
    items = check_choices(choices)
    if not items:
        return text
    padded = (items + [MISSING_CHOICE] * MAX_CHOICES)[:MAX_CHOICES]
    return closed_instruction(text, tuple(padded))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Request:
    """What is asked of a volume, checked.

    Attributes:
        task: ``"ask"`` (a question, open or closed), ``"report"`` or ``"preview"`` (no generation).
        question: The stripped question (``""`` for a report or a preview).
        choices: 0, or 2–4 choices (a closed question).
        instruction: What the model is asked (``""`` for a preview).
    """

    task: str
    question: str
    choices: tuple[str, ...]
    instruction: str


def resolve_request(question: str | None, choices: Sequence[str] | None = None, task: str | None = None) -> Request:
    """The one rule for "a report, or a question with choices" (CLI, ask-batch rows, the server).

    Args:
        question: The question as typed; the word ``report`` alone asks for a report when no task is given.
        choices: The choices, already split (:func:`parse_choices`); empty for an open question.
        task: ``"ask"``, ``"report"`` or ``"preview"``; None decides between ask and report from the question.

    Raises:
        InputError: A bad question or choice list, or choices with a report.
    """
    items = check_choices(choices)
    task = task or ("report" if is_report_request(question) else "ask")
    if task == "ask":
        return Request(task, check_question(question or ""), tuple(items), question_instruction(question or "", items))
    if task == "report":
        if items:
            raise InputError("a report takes no choices; leave the choices empty.")
        return Request(task, "", (), REPORT_INSTRUCTION)
    if task == "preview":
        return Request(task, "", tuple(items), "")
    raise InputError(f"task {task!r} is not one of 'ask', 'report', 'preview'.")
