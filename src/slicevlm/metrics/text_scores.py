"""Per-sample text scores of the ``m3d`` protocol (SPEC §4), each in [0, 1].

The peers (M3D-LaMed, Med3DVLM) score every sample separately with HuggingFace ``evaluate`` and
average; these functions reproduce that without ``evaluate`` (which fetches its metric scripts
from the hub). Inputs are stripped first.

- :func:`bleu1`: BLEU-1 = BP × clipped unigram precision, sacrebleu's ``13a`` tokens,
  case-sensitive, no smoothing; BP = 1 if the prediction is longer than the reference, else
  exp(1 − r/c). An empty prediction scores 0.
- :func:`rouge1_f1`: ROUGE-1 F1 with the ``rouge-score`` package's tokeniser (lowercase, every
  run of characters outside ``[a-z0-9]`` becomes a space, split on whitespace), no stemmer.
- :func:`meteor`: ``nltk.translate.meteor_score.single_meteor_score`` (α 0.9, β 3, γ 0.5,
  Porter stemmer, WordNet 3.0 synonyms, lowercased tokens). Tokens: :func:`meteor_tokenize`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from typing import Any

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

    Args:
        prediction: Generated text.
        reference: Ground-truth text.

    Returns:
        BP × (clipped unigram matches / prediction length), in [0, 1].
    """
    hyp = bleu_tokenize(prediction)
    ref = bleu_tokenize(reference)
    if not hyp:
        return 0.0
    ref_counts = Counter(ref)
    clipped = sum(min(count, ref_counts[token]) for token, count in Counter(hyp).items())
    precision = clipped / len(hyp)
    brevity = 1.0 if len(hyp) > len(ref) else math.exp(1.0 - len(ref) / len(hyp))
    return brevity * precision


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


@lru_cache(maxsize=1)
def _meteor_tokenizers() -> tuple[Any, Any]:
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer(), NLTKWordTokenizer()


def meteor_tokenize(text: str) -> list[str]:
    """Tokens for METEOR: what ``nltk.word_tokenize`` does, without downloaded Punkt tables.

    HF ``evaluate`` (the peers' METEOR) calls ``nltk.word_tokenize``: Punkt sentence splitting
    with the English ``punkt_tab`` parameters, then the Treebank word tokenizer per sentence.
    ``punkt_tab`` cannot be installed offline, so sentences are split by an untrained
    ``PunktSentenceTokenizer`` (no abbreviation list; otherwise the same algorithm). The only
    difference: a period after an abbreviation (``e.g.``, ``Dr.``) may end a sentence here.
    """
    sentences, words = _meteor_tokenizers()
    return [token for sentence in sentences.tokenize(text.strip()) for token in words.tokenize(sentence)]


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
