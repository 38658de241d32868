"""Closed-ended accuracy: the peers' substring rule and the strict first-letter rule."""

from __future__ import annotations

import pytest

from slicevlm.metrics.accuracy import closed_correct, closed_correct_strict, first_choice_letter


@pytest.mark.parametrize(
    ("prediction", "key", "peers", "strict"),
    [
        ("B. Arterial phase", "B", True, True),
        ("  B. Arterial phase  ", "B", True, True),
        ("The answer is B.", "B", True, True),
        ("A. Non-contrast", "B", False, False),
        # lenient rule: naming two choices counts for both; strict takes the first named.
        ("A. or B.", "B", True, False),
        ("Choice C. then B.", "C", True, True),
        # "DNA." contains "A." (peers: correct) but names no choice (strict: no word-initial A).
        ("DNA.", "A", True, False),
        # the letter without a period is not a choice for either rule.
        ("B Arterial phase", "B", False, False),
        ("Arterial phase", "B", False, False),
        ("", "A", False, False),
    ],
)
def test_closed_accuracy_rules(prediction: str, key: str, peers: bool, strict: bool) -> None:
    assert closed_correct(prediction, key) is peers
    assert closed_correct_strict(prediction, key) is strict


def test_first_choice_letter() -> None:
    assert first_choice_letter("It is D. Location: C. nope") == "D"
    assert first_choice_letter("lowercase a. is not a choice") is None
    assert first_choice_letter("E. is not a choice") is None
