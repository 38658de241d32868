"""Per-sample text scores of the ``m3d`` protocol (docs/method.md#evaluation-protocols), each in [0, 1].

The peers (M3D-LaMed, Med3DVLM) score every sample separately with Hugging Face ``evaluate`` 0.4.x
metric scripts and average; these functions give the same per-sample values (golden-tested against
that code path with nltk 3.9.1 and rouge_score 0.1.2) without ``evaluate``, which fetches its
scripts from the hub. Inputs are stripped first, as the peers' ``postprocess_text`` does.

- :func:`bleu1`: ``evaluate``'s ``bleu`` with ``max_order=1`` (tensorflow/nmt ``compute_bleu``):
  BP × clipped unigram precision on sacrebleu ``13a`` tokens, case-sensitive, no smoothing;
  BP = 1 if the prediction is longer than the reference, else exp(1 − r/c). Where the peers' code
  divides by zero and crashes (an empty prediction or reference after stripping) the score is 0.
- :func:`rouge1_f1`: ROUGE-1 F1 with the ``rouge-score`` package's tokeniser (lowercase, every
  run of characters outside ``[a-z0-9]`` becomes a space, split on whitespace), no stemmer.
  Empty sides score 0, as rouge-score does.
- :func:`meteor`: ``nltk.translate.meteor_score.single_meteor_score`` (α 0.9, β 3, γ 0.5,
  Porter stemmer, WordNet 3.0 synonyms, lowercased tokens) on the tokens of nltk 3.9.1's
  ``word_tokenize`` (:mod:`slicevlm.metrics.frozen.nltk_treebank`). Empty sides score 0, as nltk does.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from typing import Any

from slicevlm.metrics.frozen.nltk_treebank import word_tokenize

METEOR_ALPHA = 0.9
METEOR_BETA = 3.0
METEOR_GAMMA = 0.5

_ROUGE_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_ROUGE_VALID = re.compile(r"^[a-z0-9]+$")


@lru_cache(maxsize=1)
def _tokenizer_13a() -> Any:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()


def bleu_tokenize(text: str) -> list[str]:
    """sacrebleu's ``13a`` tokenisation (mteval-v13a; what HF ``evaluate``'s BLEU uses)."""
    return _tokenizer_13a()(text.strip()).split()


def rouge_tokenize(text: str) -> list[str]:
    """``rouge-score``'s default tokenisation without stemming (lowercase, non-alphanumerics to spaces)."""
    normalized = _ROUGE_NON_ALNUM.sub(" ", text.strip().lower())
    return [token for token in normalized.split() if _ROUGE_VALID.match(token)]


def bleu1(prediction: str, reference: str) -> float:
    """Sentence BLEU-1 with brevity penalty, 13a tokens, no smoothing.

    The float operations follow tensorflow/nmt's ``compute_bleu`` (what ``evaluate``'s ``bleu``
    runs): the precision goes through exp(log p) and the penalty through the length ratio c/r, so
    the values agree with the peers' to the last bit.

    Args:
        prediction: Generated text.
        reference: Ground-truth text.

    Returns:
        BP × (clipped unigram matches / prediction length), in [0, 1]; 0 when either side has no
        tokens (the peers' code raises ZeroDivisionError there).
    """
    hyp = bleu_tokenize(prediction)
    ref = bleu_tokenize(reference)
    if not hyp or not ref:
        return 0.0
    ref_counts = Counter(ref)
    clipped = sum(min(count, ref_counts[token]) for token, count in Counter(hyp).items())
    precision = clipped / len(hyp)
    geo_mean = math.exp(math.log(precision)) if precision > 0 else 0.0
    ratio = len(hyp) / len(ref)
    brevity = 1.0 if ratio > 1.0 else math.exp(1.0 - 1.0 / ratio)
    return geo_mean * brevity


def rouge1_f1(prediction: str, reference: str) -> float:
    """ROUGE-1 F1: harmonic mean of unigram precision and recall (overlap = min counts).

    Args:
        prediction: Generated text.
        reference: Ground-truth text.

    Returns:
        2PR / (P + R), 0 when there is no overlap or either side has no tokens.
    """
    hyp = Counter(rouge_tokenize(prediction))
    ref = Counter(rouge_tokenize(reference))
    overlap = sum((hyp & ref).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(hyp.values())
    recall = overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def meteor_tokenize(text: str) -> list[str]:
    """Tokens for METEOR: nltk 3.9.1's ``word_tokenize`` of the stripped text (frozen rules).

    English Punkt sentences with the ``punkt_tab`` tables, then the Treebank word rules; see
    :mod:`slicevlm.metrics.frozen.nltk_treebank` for why the installed nltk's tokenizer is not used.
    """
    return word_tokenize(text.strip())


def meteor(prediction: str, reference: str) -> float:
    """nltk METEOR of one prediction against one reference.

    Args:
        prediction: Generated text.
        reference: Ground-truth text.

    Returns:
        METEOR in [0, 1] (0 when nothing matches).

    Raises:
        MissingResourceError: when WordNet is not installed (see ``make resources``).
    """
    from nltk.translate.meteor_score import single_meteor_score

    _wordnet_ready()
    return float(
        single_meteor_score(
            meteor_tokenize(reference), meteor_tokenize(prediction),
            alpha=METEOR_ALPHA, beta=METEOR_BETA, gamma=METEOR_GAMMA,
        )
    )


_WORDNET_CHECKED = False


def _wordnet_ready() -> None:
    global _WORDNET_CHECKED
    if not _WORDNET_CHECKED:
        from slicevlm.metrics.resources import ensure_wordnet

        ensure_wordnet()
        _WORDNET_CHECKED = True
