"""One answer as JSON: the record ``slicevlm ask --json``, ``slicevlm ask-batch`` and the server write.

:func:`answer_record` puts the question an :class:`~slicevlm.inference.predictor.Answer` answered in
front of the answer's own fields (``Answer.fields``: the text as ``answer``, a closed question's
``choice`` and ``choice_note``, kept slices, preprocessing, warnings, rounded timings, batch size)
and each face's own context (CSV row, checkpoint, toy labels, ...) behind. Add a field to
``Answer.fields`` and every output carries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slicevlm.inference.predictor import Answer


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
    return {"volume": volume, "question": question, "choices": list(choices), **answer.fields(), **context}
