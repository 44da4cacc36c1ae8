"""Highlighting: the content HTML-escaped, `<mark>` around each match, and no other markup.

Matches are found on the RAW text (through the shared tokenizer, whose tokens carry original
offsets); the text between and inside matches is escaped piece by piece and the marks are
added around the escaped pieces. Escaping never sees a mark and no mark is placed inside an
escape sequence, whatever the content holds (`<script>`, `&amp;`, a lone `<`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from search.base import QueryTerm
from search.tokens import Token, query_pieces, tokenize

MARK_OPEN = "<mark>"
MARK_CLOSE = "</mark>"


def _matches(token: Token, lexeme: str, prefix: bool) -> bool:
    return token.lexeme == lexeme or (prefix and token.lexeme.startswith(lexeme))


def match_spans(content: str, terms: Sequence[QueryTerm]) -> list[tuple[int, int]]:
    """The (start, end) offsets in `content` of every match of any term, merged and sorted."""
    if not content or not terms:
        return []
    doc = tokenize(content)
    # A CJK position holds a unigram and a bigram.
    by_position: dict[int, list[Token]] = {}
    for token in doc:
        by_position.setdefault(token.position, []).append(token)
    spans: list[tuple[int, int]] = []
    for term in terms:
        parts = query_pieces(term.text, term.prefix)
        if not parts:
            continue
        head = parts[0]
        for token in doc:
            if not _matches(token, head.lexeme, head.prefix):
                continue
            start, end = token.start, token.end
            origin = token.position - head.offset
            for part in parts[1:]:
                other = next(
                    (
                        t
                        for t in by_position.get(origin + part.offset, ())
                        if _matches(t, part.lexeme, part.prefix)
                    ),
                    None,
                )
                if other is None:
                    break
                start, end = min(start, other.start), max(end, other.end)
            else:
                spans.append((start, end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def render_marked(content: str, spans: Sequence[tuple[int, int]]) -> str:
    """Escape `content` and wrap each (start, end) span, given in raw offsets, in `<mark>`."""
    out: list[str] = []
    cursor = 0
    for start, end in spans:
        if start < cursor or end <= start:
            continue
        out.append(html.escape(content[cursor:start], quote=True))
        out.append(MARK_OPEN)
        out.append(html.escape(content[start:end], quote=True))
        out.append(MARK_CLOSE)
        cursor = end
    out.append(html.escape(content[cursor:], quote=True))
    return "".join(out)


def highlight(content: str, terms: Sequence[QueryTerm]) -> str:
    """`content` HTML-escaped with `<mark>`...`</mark>` around every matched word or substring."""
    return render_marked(content, match_spans(content, terms))
