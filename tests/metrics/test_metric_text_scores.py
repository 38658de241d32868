"""m3d per-sample text scores pinned on sentence pairs whose values are derived by hand."""

from __future__ import annotations

import math

import pytest

from slicevlm.metrics.text_scores import (
    bleu1,
    bleu_tokenize,
    meteor,
    meteor_tokenize,
    rouge1_f1,
    rouge_tokenize,
)

# ----- BLEU-1 = BP × clipped unigram precision, BP = 1 if c > r else exp(1 - r/c) ------------


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        # 6 hyp tokens, clipped matches the×2 cat on mat = 5; c = r = 6 → BP = exp(0) = 1 → 5/6.
        ("the cat sat on the mat", "the cat is on the mat", 5 / 6),
        # p1 = 2/2, c = 2 < r = 6 → BP = exp(1 - 3) → e^-2 = 0.135335.
        ("the cat", "the cat is on the mat", math.exp(-2)),
        # "the" ×4 clipped to its reference count 1 → 1/4; c = 4 > r = 2 → BP = 1.
        ("the the the the", "the cat", 0.25),
        # 13a splits the final period off both sides: identical token lists → 1.
        ("Mass in liver.", " Mass in liver . ", 1.0),
        # case-sensitive: "mass" ≠ "Mass"; 3 of 4 tokens match, c = r → 0.75.
        ("mass in liver .", "Mass in liver.", 0.75),
        ("", "anything", 0.0),
    ],
)
def test_bleu1_hand_values(prediction: str, reference: str, expected: float) -> None:
    assert bleu1(prediction, reference) == pytest.approx(expected, abs=1e-9)


def test_bleu1_matches_torchmetrics_sacrebleu() -> None:
    from torchmetrics.functional.text import sacre_bleu_score

    pairs = [("There is a 3.5 cm mass in the liver.", "A 3.5-cm hypodense mass is seen in the liver."),
             ("No acute findings", "No acute findings in the abdomen or pelvis.")]
    for prediction, reference in pairs:
        other = float(sacre_bleu_score([prediction], [[reference]], n_gram=1, tokenize="13a", smooth=False))
        assert bleu1(prediction, reference) == pytest.approx(other, abs=1e-4)


def test_bleu_tokenize_is_13a() -> None:
    # 13a: punctuation split off, except a period/comma between digits.
    assert bleu_tokenize("a 3.5-cm mass, (left).") == ["a", "3.5", "-", "cm", "mass", ",", "(", "left", ")", "."]
    assert bleu_tokenize("1,000 mass,x") == ["1,000", "mass", ",", "x"]


# ----- ROUGE-1 F1 = 2PR/(P+R), overlap = Σ min counts, rouge-score tokens ---------------------


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        # tokens lowercased, punctuation dropped: overlap the×2 cat on mat = 5 of 6 each → 5/6.
        ("The cat sat on the mat.", "the cat is on the mat", 5 / 6),
        # overlap 2: P = 2/2, R = 2/6 → F = 2·1·(1/3)/(4/3) = 0.5.
        ("liver lesion", "a lesion in the liver segment", 0.5),
        # "T2-weighted" → "t2 weighted": identical token bags → 1.
        ("T2-weighted MRI", "t2 weighted mri", 1.0),
        ("Axial", "Coronal", 0.0),
        ("", "Coronal", 0.0),
    ],
)
def test_rouge1_hand_values(prediction: str, reference: str, expected: float) -> None:
    assert rouge1_f1(prediction, reference) == pytest.approx(expected, abs=1e-9)


def test_rouge1_matches_torchmetrics() -> None:
    from torchmetrics.functional.text.rouge import rouge_score

    prediction, reference = "Hypodense lesion (2 cm) in segment IV of the liver.", "A 2-cm lesion in liver segment IV."
    other = float(rouge_score(prediction, reference, rouge_keys="rouge1")["rouge1_fmeasure"])
    assert rouge1_f1(prediction, reference) == pytest.approx(other, abs=1e-4)


def test_rouge_tokenize() -> None:
    assert rouge_tokenize(" Café: T2-weighted, 3.5cm ") == ["caf", "t2", "weighted", "3", "5cm"]


# ----- METEOR (nltk): Fmean = PR/(αP + (1-α)R), Pen = γ(chunks/m)^β, score = Fmean(1 - Pen) ----


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        # identical, m = 7, 1 chunk: Fmean = 1, Pen = 0.5·(1/7)^3 → 1 - 0.5/343.
        ("there is a mass in the liver", "there is a mass in the liver", 1 - 0.5 / 343),
        # one word (lowercased match): m = 1, 1 chunk → Pen = 0.5 → 0.5 (why short answers score ~50).
        ("Axial", "axial", 0.5),
        # swapped words: 2 matches in 2 chunks → Pen = 0.5·1^3 → 0.5.
        ("liver mass", "mass liver", 0.5),
        # m = 2, P = 1, R = 0.5: Fmean = 0.5/(0.9 + 0.05); 1 chunk → Pen = 0.5·(1/2)^3 = 0.0625.
        ("the liver", "the liver is enlarged", (0.5 / 0.95) * (1 - 0.0625)),
        # WordNet synonym mass ~ bulk (synset bulk.n.01): m = 4 in 1 chunk → 1 - 0.5·(1/4)^3.
        # (Without WordNet: m = 3, P = R = 3/4, Pen = 0.5·(1/3)^3 → 0.75·(1 - 1/54) = 0.736.)
        ("the mass is seen", "the bulk is seen", 1 - 0.5 / 64),
        # nltk quirk kept as the peers have it: synonyms are looked up on the Porter-stemmed words
        # left after stem matching, so big ~ large does not match ("large" → "larg"): m = 3.
        ("the kidney is big", "the kidney is large", 0.75 * (1 - 0.5 / 27)),
        # Porter stems: lesions → lesion.
        ("lesions", "lesion", 0.5),
        ("Axial", "Coronal", 0.0),
    ],
)
def test_meteor_hand_values(prediction: str, reference: str, expected: float) -> None:
    assert meteor(prediction, reference) == pytest.approx(expected, abs=1e-9)


def test_meteor_tokenize_splits_sentences_then_words() -> None:
    tokens = meteor_tokenize("There is a 3.5 cm mass in the liver. No ascites.")
    assert tokens == ["There", "is", "a", "3.5", "cm", "mass", "in", "the", "liver", ".", "No", "ascites", "."]
