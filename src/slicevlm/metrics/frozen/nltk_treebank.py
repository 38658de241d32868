"""METEOR's word tokens: nltk 3.9.1's ``word_tokenize``, frozen.

HF ``evaluate``'s METEOR (the peers' scorer) tokenises prediction and reference with
``nltk.word_tokenize``: English Punkt sentences (:mod:`slicevlm.metrics.frozen.punkt_sentences`), then nltk's
improved Penn Treebank word tokenizer on each sentence. nltk changed that tokenizer in 3.9.3: en/em
dashes (U+2012–U+2015) became tokens of their own and a leading apostrophe is split from any word
(``'ground-glass'`` → ``'`` ``ground-glass``), which moves METEOR by up to 0.3 points per report.
The rules below are the ordered substitutions of nltk 3.9.1, so the tokens, and with them the METEOR
values, do not depend on the installed nltk. Each rule pads what it isolates with spaces; the
padded text is finally split on whitespace.
"""

from __future__ import annotations

import re

from slicevlm.metrics.frozen.punkt_sentences import split_sentences

Rule = tuple[re.Pattern[str], str]


def _rules(*pairs: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple((re.compile(pattern), replacement) for pattern, replacement in pairs)


#: Opening quotes become `` (or stay as the curly/low/guillemet mark) and stand alone.
_OPENING_QUOTES = _rules(
    ("([«“‘„]|[`]+)", r" \1 "),                                # curly/low/guillemet openers, backticks
    (r'^"', "``"),                                             # a straight double quote opening the text
    (r"(``)", r" \1 "),
    (r"""([ (\[{<])("|'{2})""", r"\1 `` "),                    # a double quote after space or an opener
    (r"(?i)(')(?!re|ve|ll|m|t|s|d|n)(\w)\b", r"\1 \2"),        # 'x: apostrophe before a one-letter word
)

#: Punctuation, in nltk 3.9.1's order (en/em dashes are *not* split here: 3.9.3 added that).
_PUNCTUATION = _rules(
    (r"""([^.])(\.)([\])}>"'»”’ ]*)\s*$""", r"\1 \2 \3 "),    # the final period (before closers)
    (r"([:,])([^\d])", r" \1 \2"),                             # colon/comma not inside a number
    (r"([:,])$", r" \1 "),
    (r"\.{2,}", r" \g<0> "),                                   # ellipses
    (r"[;@#$%&]", r" \g<0> "),
    (r"""([^.])(\.)([\])}>"']*)\s*$""", r"\1 \2\3 "),          # the final period again
    (r"[?!]", r" \g<0> "),
    (r"([^'])' ", r"\1 ' "),                                   # a closing single quote
    (r"[*]", r" \g<0> "),
)

_BRACKETS = _rules((r"[\]\[(){}<>]", r" \g<0> "))
_DOUBLE_DASH = _rules((r"--", r" -- "))

#: Closing quotes and clitics; run on the text padded with one space at each end.
_CLOSING_QUOTES = _rules(
    ("([»”’])", r" \1 "),
    (r"''", " '' "),
    (r'"', " '' "),
    (r"\s+", " "),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),            # 's 'm 'd and a bare closing '
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
)

#: Robert MacIntyre's contractions split into two tokens (cannot → can not, 'tis → 't is).
_CONTRACTIONS = _rules(
    *((pattern, r" \1 \2 ") for pattern in (
        r"(?i)\b(can)(not)\b",
        r"(?i)\b(d)('ye)\b",
        r"(?i)\b(gim)(me)\b",
        r"(?i)\b(gon)(na)\b",
        r"(?i)\b(got)(ta)\b",
        r"(?i)\b(lem)(me)\b",
        r"(?i)\b(more)('n)\b",
        r"(?i)\b(wan)(na)(?=\s)",
        r"(?i) ('t)(is)\b",
        r"(?i) ('t)(was)\b",
    ))
)


def _apply(rules: tuple[Rule, ...], text: str) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def treebank_words(sentence: str) -> list[str]:
    """Word tokens of one sentence (nltk 3.9.1 ``NLTKWordTokenizer().tokenize``).

    Args:
        sentence: One sentence (a longer text is tokenised as one sentence).

    Returns:
        The tokens, e.g. ``"isn't 'ground-glass'."`` → ``["is", "n't", "'ground-glass", "'", "."]``.
    """
    text = _apply(_OPENING_QUOTES, sentence)
    text = _apply(_PUNCTUATION, text)
    text = _apply(_BRACKETS, text)
    text = _apply(_DOUBLE_DASH, text)
    text = _apply(_CLOSING_QUOTES, f" {text} ")
    text = _apply(_CONTRACTIONS, text)
    return text.split()


def word_tokenize(text: str) -> list[str]:
    """nltk 3.9.1's ``word_tokenize(text)``: English Punkt sentences, then Treebank words.

    Args:
        text: Any text.

    Returns:
        The tokens of every sentence, in order.
    """
    return [token for sentence in split_sentences(text) for token in treebank_words(sentence)]
