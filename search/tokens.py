"""One tokenizer for indexing, querying and highlighting, so the three can never disagree.

Text is normalised per grapheme-ish cluster (a base character and its combining marks):
NFKC (full-width `ＰＪ－３４０１` becomes `pj-3401`) and case folding. Every normalised
character remembers which span of the original text it came from, so highlights land on
the original characters.

Tokens:

- a run of letters and digits outside the CJK scripts is a word; a word is further split where
  letters meet digits (`PJ3401` -> `pj`, `3401`), so part numbers match however they are typed
  (`PJ-3401`, `PJ 3401`, `pj3401`); each piece takes one position;
- a run of CJK characters (Han, kana, Hangul), which has no spaces to split on, yields
  overlapping character bigrams, one position each, and its last character alone as a
  unigram: `設備溫度` -> `設備`@0 `備溫`@1 `溫度`@2 `度`@3. Any substring of two or more
  characters is then a phrase of adjacent bigrams, and any single character is a prefix of some
  token at its position (a bigram starting with it, or the run's final unigram).

Anything else separates tokens and takes no position.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Longer tokens are cut: PostgreSQL limits lexemes to 2 KiB and nobody types 100-letter words.
MAX_TOKEN_CHARS = 100


def is_cjk(ch: str) -> bool:
    """Whether `ch` belongs to a script written without spaces between words."""
    cp = ord(ch)
    return (
        0x3400 <= cp <= 0x4DBF  # CJK extension A
        or 0x4E00 <= cp <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= cp <= 0xFAFF  # compatibility ideographs
        or 0x20000 <= cp <= 0x3134F  # extensions B..H
        or 0x3040 <= cp <= 0x30FF  # hiragana, katakana
        or 0x31F0 <= cp <= 0x31FF  # katakana phonetic extensions
        or 0x3005 <= cp <= 0x3007  # 々 〆 〇
        or 0xAC00 <= cp <= 0xD7AF  # hangul syllables
        or 0x1100 <= cp <= 0x11FF  # hangul jamo
        or 0x3130 <= cp <= 0x318F  # hangul compatibility jamo
    )


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalised text plus, for each of its characters, the original span it came from."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]


def normalize(raw: str) -> NormalizedText:
    """NFKC + casefold, cluster by cluster, keeping a map back to the original offsets."""
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
    """A lexeme at a position; `start`/`end` are offsets in the ORIGINAL text.

    `first_end` is where the token's first character ends in the original text: a one-character
    query matching a bigram by prefix highlights only that character.
    """

    lexeme: str
    position: int
    start: int
    end: int
    first_end: int
    cjk: bool


def _split_alnum(word: str) -> list[tuple[int, int]]:
    """Split a word where letters meet digits; returns (start, end) pairs inside `word`."""
    pieces: list[tuple[int, int]] = []
    start = 0
    for k in range(1, len(word)):
        prev_digit = word[k - 1].isdigit()
        cur_digit = word[k].isdigit()
        if unicodedata.category(word[k]).startswith("M"):
            continue
        if prev_digit != cur_digit:
            pieces.append((start, k))
            start = k
    pieces.append((start, len(word)))
    return pieces


def tokenize(raw: str, *, for_query: bool = False, first_position: int = 0) -> list[Token]:
    """Tokens of `raw` in order.

    With `for_query`, a CJK run of two or more characters yields its bigrams only (the run's
    final unigram exists to make single characters findable in documents; a query of two or more
    characters is fully covered by its bigrams).
    """
    norm = normalize(raw)
    text = norm.text
    tokens: list[Token] = []
    pos = first_position
    i = 0
    n = len(text)

    def orig(a: int, b: int) -> tuple[int, int, int]:
        return norm.starts[a], norm.ends[b - 1], norm.ends[a]

    while i < n:
        ch = text[i]
        if is_cjk(ch):
            j = i + 1
            while j < n and is_cjk(text[j]):
                j += 1
            run_len = j - i
            for k in range(i, j - 1):
                s, e, fe = orig(k, k + 2)
                tokens.append(Token(text[k : k + 2], pos, s, e, fe, True))
                pos += 1
            if run_len == 1 or not for_query:
                s, e, fe = orig(j - 1, j)
                tokens.append(Token(text[j - 1], pos, s, e, fe, True))
                pos += 1
            elif for_query:
                # Keep positions aligned with documents, where the unigram takes a slot.
                pos += 1
            i = j
        elif _is_word_char(ch):
            j = i + 1
            while j < n and _is_word_char(text[j]) and not is_cjk(text[j]):
                j += 1
            word = text[i:j]
            for a, b in _split_alnum(word):
                lexeme = word[a:b][:MAX_TOKEN_CHARS]
                s, e, fe = orig(i + a, i + b)
                tokens.append(Token(lexeme, pos, s, e, fe, False))
                pos += 1
            i = j
        else:
            i += 1
    return tokens
