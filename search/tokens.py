"""One tokenizer for indexing, querying and highlighting, so the three can never disagree.

Text is normalised per grapheme-ish cluster (a base character and its combining marks):
NFKC (full-width `ＰＪ－３４０１` becomes `pj-3401`) and case folding. Every normalised
character remembers which span of the original text it came from, so highlights land on
the original characters.

Tokens:

- a run of letters and digits outside the CJK scripts is a word; a word is further split where
  letters meet digits (`PJ3401` -> `pj`, `3401`), so part numbers match however they are typed
  (`PJ-3401`, `PJ 3401`, `pj3401`); each piece takes one position;
- a run of CJK characters (Han, kana, Hangul), which has no spaces to split on, yields each
  character as a unigram and each overlapping pair as a bigram, both at the position of their
  first character: `設備溫度` -> `設備` `設`@0, `備溫` `備`@1, `溫度` `溫`@2, `度`@3. Any substring
  of two or more characters is then a phrase of adjacent bigrams (a query leaves out the
  unigrams), and a single character is its unigram.

Anything else separates tokens and takes no position.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Longer tokens are cut: PostgreSQL limits lexemes to 2 KiB and nobody types 100-letter words.
MAX_TOKEN_CHARS = 100


# Scripts written without spaces between words: Han (with extensions and compatibility
# ideographs), kana, Hangul, and the iteration marks 々〆〇.
_CJK_RANGES = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
    "\u3040-\u30ff\u31f0-\u31ff\u3005-\u3007"
    "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
)
_CJK_CHAR = re.compile(f"[{_CJK_RANGES}]")
# A CJK run, or a run of letters and digits of any other script (`_` separates).
_RUN = re.compile(f"([{_CJK_RANGES}]+)|([^\\W_{_CJK_RANGES}]+)")
_PIECE = re.compile(r"\d+|\D+")


def is_cjk(ch: str) -> bool:
    """Whether `ch` belongs to a script written without spaces between words."""
    return _CJK_CHAR.match(ch) is not None


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalised text plus, for each of its characters, the original span it came from."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]


def normalize(raw: str) -> NormalizedText:
    """NFKC + casefold, cluster by cluster, keeping a map back to the original offsets."""
    if raw.isascii():
        return NormalizedText(raw.lower(), tuple(range(len(raw))), tuple(range(1, len(raw) + 1)))
    if unicodedata.is_normalized("NFKC", raw):
        folded = raw.casefold()
        if len(folded) == len(raw) and not any(unicodedata.combining(c) for c in raw):
            return NormalizedText(folded, tuple(range(len(raw))), tuple(range(1, len(raw) + 1)))
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    n = len(raw)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(raw[j]):
            j += 1
        piece = raw[i:j]
        folded = piece if piece.isascii() else unicodedata.normalize("NFKC", piece)
        folded = folded.casefold()
        for ch in folded:
            out.append(ch)
            starts.append(i)
            ends.append(j)
        i = j
    return NormalizedText("".join(out), tuple(starts), tuple(ends))


@dataclass(frozen=True, slots=True)
class Token:
    """A lexeme at a position; `start`/`end` are offsets in the ORIGINAL text."""

    lexeme: str
    position: int
    start: int
    end: int
    cjk: bool


def tokenize(raw: str, *, for_query: bool = False, first_position: int = 0) -> list[Token]:
    """Tokens of `raw` in order of position.

    With `for_query`, a CJK run of two or more characters yields its bigrams only: any
    substring of two or more characters is matched by them as a phrase.
    """
    norm = normalize(raw)
    text = norm.text
    starts = norm.starts
    ends = norm.ends
    tokens: list[Token] = []
    append = tokens.append
    pos = first_position
    for run in _RUN.finditer(text):
        i, j = run.span()
        if run.group(1) is not None:
            single = j - i == 1
            for k in range(i, j):
                if k < j - 1:
                    append(Token(text[k : k + 2], pos, starts[k], ends[k + 1], True))
                if single or not for_query:
                    append(Token(text[k], pos, starts[k], ends[k], True))
                pos += 1
        else:
            word = run.group(2)
            for piece in _PIECE.finditer(word):
                a, b = piece.span()
                lexeme = piece.group()[:MAX_TOKEN_CHARS]
                append(Token(lexeme, pos, starts[i + a], ends[i + b - 1], False))
                pos += 1
    return tokens


@dataclass(frozen=True, slots=True)
class QueryPiece:
    """One lexeme of a query term, at `offset` positions after the term's first lexeme.

    `prefix`: the lexeme also matches longer lexemes starting with it. Only the last piece of a
    prefix term can be one, and only when it is a word piece of two characters or more: a
    single letter or digit as the last word matches exactly (as a prefix it would match nearly
    everything), and CJK needs no prefixes (any substring is a phrase of bigrams or a unigram).
    """

    offset: int
    lexeme: str
    prefix: bool


def query_pieces(text: str, prefix_last: bool) -> list[QueryPiece]:
    """The pieces of a query term, shared by the SQL builder and the highlighter."""
    tokens = tokenize(text, for_query=True)
    if not tokens:
        return []
    base = tokens[0].position
    last = len(tokens) - 1
    return [
        QueryPiece(
            tok.position - base,
            tok.lexeme,
            prefix_last and k == last and not tok.cjk and len(tok.lexeme) >= 2,
        )
        for k, tok in enumerate(tokens)
    ]
