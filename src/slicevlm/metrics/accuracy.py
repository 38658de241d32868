"""Closed-ended VQA accuracy rules (docs/method.md#evaluation-protocols, paper Table 4).

Targets are written ``"{letter}. {answer}"`` (e.g. ``"B. Coronal plane"``), so a generated answer
names its choice as a capital letter followed by a period.

- :func:`closed_correct` — the peers' rule (M3D-LaMed, Med3DVLM): correct iff the string
  ``answer_letter + "."`` occurs anywhere in the stripped prediction. Lenient: ``"A. or B."``
  counts as correct for both A and B, and ``"DNA."`` contains ``"A."``.
- :func:`closed_correct_strict` — correct iff the *first* choice letter the prediction names
  equals the key, where a named choice is a match of :data:`CHOICE_PATTERN` (``\\b([A-D])\\.``:
  a capital A–D that starts a word and is directly followed by a period). No match → wrong.
"""

from __future__ import annotations

import re

#: A choice letter as the model writes it: word boundary, capital A–D, period.
CHOICE_PATTERN = re.compile(r"\b([A-D])\.")


def closed_correct(prediction: str, answer_choice: str) -> bool:
    """Peers' rule: ``answer_choice + "."`` occurs in the prediction.

    Args:
        prediction: Generated text.
        answer_choice: Key letter, ``"A"``..``"D"``.

    Returns:
        Whether the prediction counts as correct.
    """
    return f"{answer_choice.strip()}." in prediction.strip()


def first_choice_letter(prediction: str) -> str | None:
    """The first choice letter the prediction names (first :data:`CHOICE_PATTERN` match), or None."""
    match = CHOICE_PATTERN.search(prediction.strip())
    return match.group(1) if match else None


def closed_correct_strict(prediction: str, answer_choice: str) -> bool:
    """Strict rule: the first choice letter named in the prediction equals the key.

    Args:
        prediction: Generated text.
        answer_choice: Key letter, ``"A"``..``"D"``.

    Returns:
        Whether :func:`first_choice_letter` of the prediction is ``answer_choice``.
    """
    return first_choice_letter(prediction) == answer_choice.strip()
