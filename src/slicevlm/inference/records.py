"""One answer as JSON: the record ``slicevlm ask --json``, ``slicevlm ask-batch`` and the server write.

:func:`answer_fields` serialises an :class:`~slicevlm.inference.predictor.Answer` (the text as
``answer``, a closed question's ``choice`` and ``choice_note``, kept slices, preprocessing,
warnings, rounded timings, batch size); :func:`answer_record` puts the question it answered in front
and each face's own context (CSV row, checkpoint, toy labels, ...) behind. Add a field here and
every output carries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slicevlm.inference.predictor import Answer


def answer_fields(answer: Answer) -> dict[str, Any]:
    """The answer's own fields, JSON-ready (timings rounded to 0.1 ms; ``choice`` only for a closed question)."""
    return {
        "instruction": answer.instruction,
        "answer": answer.text,
        **(answer.choice.to_dict() if answer.choice is not None else {}),
        "kept_slices": answer.kept_slices,
        "kept_slices_original": answer.kept_slices_original,
        "preprocessing": answer.preprocessing,
        "warnings": list(answer.warnings),
        "timings_ms": {key: round(value, 1) for key, value in answer.timings_ms.items()},
        "batch_size": answer.batch_size,
    }


def answer_record(
    answer: Answer, volume: str, question: str | None, choices: Sequence[str] = (), **context: Any
) -> dict[str, Any]:
    """The JSON object for one answered question.

    Args:
        answer: The answer; its ``choice`` is matched against ``choices`` here (closed questions).
        volume: The volume as the asker named it (never a server-side path).
        question: The question as asked (None or ``""`` for a report).
        choices: The choices of a closed question (empty for open questions and reports).
        **context: The face's own fields, appended in order (e.g. ``row``, ``checkpoint``, ``toy``).
    """
    answer.with_choices(choices)
    return {"volume": volume, "question": question, "choices": list(choices), **answer_fields(answer), **context}
