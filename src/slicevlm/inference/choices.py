"""A closed question's generated answer → the choice it names, or an explicit "no choice".

The model is trained to answer a closed question as ``"{letter}. {choice}"`` (M3D-VQA). The rule,
in order:

1. **letter**: the first choice letter the generation names, as the strict accuracy rule reads it
   (:func:`slicevlm.metrics.accuracy.first_choice_letter`: a capital A–D that starts a word and is
   directly followed by a period). A letter beyond the given choices (e.g. ``D.`` with three
   choices: M3D's ``NA`` filler) names no choice.
2. **text**: when no letter is named, the choice whose text occurs in the generation (case-folded,
   on word boundaries), if exactly one does.

Otherwise the answer names no choice, and :class:`ChoiceMatch` says so (``letter`` and ``text``
None, ``note`` saying why); no choice is ever guessed.

A letter whose text disagrees with the rest of the answer (``A. Liver`` when A is spleen and B liver)
still names the letter's choice, as the accuracy rule scores it, but :attr:`ChoiceMatch.disagreement`
says which other choice the words name, and the note (in the JSON, the command line's `rule:` line and
the page) says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slicevlm.metrics.accuracy import first_choice_letter

LETTERS: str = "ABCD"
#: What the answer says when nothing was matched.
NO_CHOICE: str = "the model named no choice"


@dataclass(frozen=True)
class ChoiceMatch:
    """The choice a generated answer names.

    Attributes:
        letter: ``"A"``..``"D"``, or None when the answer names no choice.
        text: The choice's text as the user gave it, or None.
        rule: ``"letter"`` or ``"text"`` (which step of the rule found it), or None.
        note: A human-readable sentence: which rule matched, or why nothing did.
        disagreement: When the letter's choice text is absent from the answer but other choices' texts
            occur: a sentence naming them (the answer's letter and words disagree); otherwise None.
    """

    letter: str | None
    text: str | None
    rule: str | None
    note: str
    disagreement: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"choice": {"letter", "text", "rule", "disagreement"} | None, "choice_note": str}`` for answer JSON."""
        choice = None if self.letter is None else {"letter": self.letter, "text": self.text, "rule": self.rule,
                                                   "disagreement": self.disagreement}
        return {"choice": choice, "choice_note": self.note}

    def line(self) -> str:
        """``B. spleen`` or ``none (the model named no choice: ...)``, for plain-text output (the note follows it)."""
        return f"{self.letter}. {self.text}" if self.letter is not None else f"none ({self.note})"


def _whole_words(text: str) -> str:
    """A pattern matching `text`, case-folded, on word boundaries (searched in case-folded strings)."""
    return r"(?<!\w)" + re.escape(text.casefold()) + r"(?!\w)"


def _mentions(generation: str, choice: str) -> bool:
    return re.search(_whole_words(choice), generation.casefold()) is not None


def _disagreement(generation: str, items: list[str], index: int) -> str | None:
    """When the letter's choice text is missing from ``generation`` but other choices' texts occur: which."""
    chosen = items[index].casefold()
    rest = generation.casefold()
    for item in items:  # "kidney" inside "left kidney" is the longer choice's word, not the letter's
        if item.casefold() != chosen and chosen in item.casefold():
            rest = re.sub(_whole_words(item), " ", rest)
    if _mentions(rest, chosen):
        return None
    others = [i for i, item in enumerate(items) if i != index and _mentions(generation, item)]
    if not others:
        return None
    named = " and ".join(f"{LETTERS[i]} ({items[i]!r})" for i in others)
    return f"the answer's words name choice {named}, not {LETTERS[index]} ({items[index]!r})"


def match_choice(generation: str, choices: Sequence[str]) -> ChoiceMatch:
    """The choice ``generation`` names among ``choices`` (2–4, in A–D order); see the module docstring."""
    items = list(choices)
    letter = first_choice_letter(generation)
    if letter is not None:
        index = LETTERS.index(letter)
        if index < len(items):
            note = f"first choice letter named: '{letter}.'"
            disagreement = _disagreement(generation, items, index)
            if disagreement:
                note += f"; its text disagrees: {disagreement}"
            return ChoiceMatch(letter, items[index], "letter", note, disagreement)
        return ChoiceMatch(
            None, None, None, f"{NO_CHOICE}: it named '{letter}.', but only {len(items)} choices (A–{LETTERS[len(items) - 1]}) were given"
        )
    found = [i for i, item in enumerate(items) if _mentions(generation, item)]
    if len(found) == 1:
        i = found[0]
        return ChoiceMatch(LETTERS[i], items[i], "text", f"no choice letter named; the text of choice {LETTERS[i]} occurs in the answer")
    if found:
        named = ", ".join(f"{LETTERS[i]} ({items[i]!r})" for i in found)
        return ChoiceMatch(None, None, None, f"{NO_CHOICE}: no choice letter, and the texts of several choices occur ({named})")
    return ChoiceMatch(None, None, None, f"{NO_CHOICE}: no choice letter ('A.'–'D.') and no choice text in the answer")
