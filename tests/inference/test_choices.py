"""A closed answer → the choice it names (first letter, as the strict rule; else a unique choice text), never a guess."""

from __future__ import annotations

import pytest

from slicevlm.inference.choices import NO_CHOICE, match_choice

CHOICES = ["liver", "spleen", "kidney"]


@pytest.mark.parametrize(
    "generation, letter, rule",
    [
        ("B. Spleen, enlarged.", "B", "letter"),
        ("C. kidney", "C", "letter"),
        ("The answer is A. or B.", "A", "letter"),  # the first letter named, as the strict accuracy rule
        ("DNA. then C. kidney", "C", "letter"),  # 'DNA.' names no letter: the letter must start a word
        ("the spleen is enlarged", "B", "text"),
        ("KIDNEY", "C", "text"),
    ],
)
def test_named_choice(generation, letter, rule):
    match = match_choice(generation, CHOICES)
    assert (match.letter, match.rule) == (letter, rule)
    assert match.text == CHOICES["ABC".index(letter)]
    assert match.to_dict()["choice"] == {"letter": letter, "text": match.text, "rule": rule, "disagreement": None}


@pytest.mark.parametrize(
    "generation, why",
    [
        (". No fluid, no lymph no enlarged lymph", "no choice letter ('A.'–'D.') and no choice text"),
        ("D. NA", "named 'D.', but only 3 choices (A–C)"),
        ("liver or spleen", "texts of several choices occur"),
        ("livers", "no choice letter"),  # a choice text counts on word boundaries only
        ("", "no choice letter"),
    ],
)
def test_no_choice_is_said_not_guessed(generation, why):
    match = match_choice(generation, CHOICES)
    assert match.letter is None and match.text is None and match.rule is None
    assert match.note.startswith(NO_CHOICE) and why in match.note
    assert match.to_dict() == {"choice": None, "choice_note": match.note}
    assert match.line().startswith("none (the model named no choice")


@pytest.mark.parametrize(
    "generation, choices, other",
    [
        ("A. Liver", ["spleen", "liver", "kidney"], "B ('liver')"),  # the letter's text is spleen
        ("B. the left kidney", ["liver", "kidney", "left kidney"], "C ('left kidney')"),  # 'kidney' occurs only inside C
        ("C. liver or spleen", ["liver", "spleen", "kidney"], "A ('liver') and B ('spleen')"),
    ],
)
def test_a_letter_whose_words_name_another_choice_says_so(generation, choices, other):
    match = match_choice(generation, choices)
    letter = generation[0]
    assert (match.letter, match.rule) == (letter, "letter")  # scored by its letter, as the accuracy rule
    assert match.disagreement is not None and f"name choice {other}" in match.disagreement
    assert "its text disagrees" in match.note and match.to_dict()["choice"]["disagreement"] == match.disagreement


@pytest.mark.parametrize("generation", ["B. Spleen", "B. spleen, not the liver", "B.", "A. left kidney"])
def test_a_letter_whose_words_agree_or_are_silent_has_no_disagreement(generation):
    assert match_choice(generation, ["kidney", "spleen", "liver"]).disagreement is None
