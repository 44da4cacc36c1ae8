"""Parse the user's `q`: words, "quoted phrases" and the `from:` / `in:` / `has:` operators.

Pure: no I/O, no knowledge of users or rooms. `from:` values are returned raw (a user id or
a display name); the caller resolves them. Errors are `QuerySyntaxError`s, which the API turns
into a 400 (or an empty result).
"""

from __future__ import annotations

import msgspec

from search.base import QueryTerm
from search.tokens import tokenize

MAX_QUERY_CHARS = 1000

# `has:` values and the message types they select.
HAS_TYPES: dict[str, tuple[str, ...]] = {
    "image": ("image_ref",),
    "file": ("file_ref",),
    "data": ("incident_data",),
}

# Quote characters that open a phrase, and the one that closes each. Chinese input methods
# type curly quotes or corner brackets rather than ASCII ".
_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201d": "\u201d", "\u300c": "\u300d", "\u300e": "\u300f"}


class QuerySyntaxError(ValueError):
    """`q` cannot be searched; the message is safe to show to the user."""


class EmptyQuery(QuerySyntaxError):
    """`q` holds nothing to search for (no words, phrases or operators)."""


class QueryTooLong(QuerySyntaxError):
    """`q` is longer than MAX_QUERY_CHARS characters."""


class ParsedQuery(msgspec.Struct, frozen=True, kw_only=True):
    """The parts of `q`. Repeated operators of one kind are alternatives (OR)."""

    terms: tuple[QueryTerm, ...] = ()
    from_users: tuple[str, ...] = ()
    in_rooms: tuple[str, ...] = ()
    has_types: tuple[str, ...] = ()


def _split(q: str) -> list[tuple[str, bool]]:
    """Split into (chunk, quoted) pairs: whitespace-separated chunks, quotes kept together.

    `from:"Chen Wei"` stays one chunk (an operator with a quoted value); an unclosed quote runs
    to the end of the text.
    """
    chunks: list[tuple[str, bool]] = []
    i = 0
    n = len(q)
    while i < n:
        ch = q[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _QUOTES:
            close = _QUOTES[ch]
            end = q.find(close, i + 1)
            if end < 0:
                end = n
            chunks.append((q[i + 1 : end], True))
            i = end + 1
            continue
        j = i
        while j < n and not q[j].isspace():
            if q[j] in _QUOTES and j > i and q[j - 1] == ":":
                close = _QUOTES[q[j]]
                end = q.find(close, j + 1)
                j = n if end < 0 else end + 1
                break
            j += 1
        chunks.append((q[i:j], False))
        i = j
    return chunks


def _unquote(value: str) -> str:
    if value and value[0] in _QUOTES:
        close = _QUOTES[value[0]]
        value = value[1:]
        if value.endswith(close):
            value = value[: -len(close)]
    return value.strip()


def parse_query(q: str) -> ParsedQuery:
    """Parse `q`.

    Words must all match, the last one (when the query ends with a word) as a prefix; phrases
    match as phrases. `from:USER`, `in:ROOM_ID` and `has:image|file|data` become filters; any
    other `name:value` stays a plain word. Raises `QueryTooLong` over 1,000 characters,
    `EmptyQuery` when nothing searchable is left, `QuerySyntaxError` for an unknown `has:`.
    """
    if len(q) > MAX_QUERY_CHARS:
        raise QueryTooLong(f"the query is longer than {MAX_QUERY_CHARS} characters")
    terms: list[QueryTerm] = []
    from_users: list[str] = []
    in_rooms: list[str] = []
    has_types: list[str] = []
    for chunk, quoted in _split(q):
        if not quoted:
            name, sep, value = chunk.partition(":")
            key = name.lower()
            if sep and key in ("from", "in", "has"):
                value = _unquote(value)
                if value:
                    if key == "from":
                        from_users.append(value)
                    elif key == "in":
                        in_rooms.append(value)
                    else:
                        types = HAS_TYPES.get(value.lower())
                        if types is None:
                            raise QuerySyntaxError("has: takes image, file or data, not " + repr(value[:40]))
                        has_types.extend(t for t in types if t not in has_types)
                    continue
        if tokenize(chunk, for_query=True):
            terms.append(QueryTerm(chunk, phrase=quoted))
    if terms and not terms[-1].phrase:
        terms[-1] = QueryTerm(terms[-1].text, phrase=False, prefix=True)
    if not (terms or from_users or in_rooms or has_types):
        raise EmptyQuery("the query has no words to search for")
    return ParsedQuery(
        terms=tuple(terms),
        from_users=tuple(dict.fromkeys(from_users)),
        in_rooms=tuple(dict.fromkeys(in_rooms)),
        has_types=tuple(has_types),
    )
