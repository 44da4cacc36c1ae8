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
from search.tokens import Token, tokenize

MARK_OPEN = "<mark>"
MARK_CLOSE = "</mark>"


class _Pattern:
    """A term as a sequence of (relative position, lexeme, prefix) to find in a document."""

    __slots__ = ("parts",)

    def __init__(self, term: QueryTerm) -> None:
        tokens = tokenize(term.text, for_query=True)
        base = tokens[0].position if tokens else 0
        last = len(tokens) - 1
        self.parts = [
            (
                t.position - base,
                t.lexeme,
                # A lone CJK character is a substring of a bigram; a term's last word piece may
                # be a prefix.
                (t.cjk and len(t.lexeme) == 1) or (term.prefix and k == last),
            )
            for k, t in enumerate(tokens)
        ]


def _token_span(token: Token, lexeme: str, prefix: bool) -> tuple[int, int] | None:
    if token.lexeme == lexeme:
        return token.start, token.end
    if prefix and token.lexeme.startswith(lexeme):
        if token.cjk:
            # Only the matched characters of a bigram: `度` in `度上` marks `度`.
            return (token.start, token.first_end) if len(lexeme) == 1 else (token.start, token.end)
        return token.start, token.end
    return None


def match_spans(content: str, terms: Sequence[QueryTerm]) -> list[tuple[int, int]]:
    """The (start, end) offsets in `content` of every match of any term, merged and sorted."""
    if not content or not terms:
        return []
    doc = tokenize(content)
    by_position = {t.position: t for t in doc}
    spans: list[tuple[int, int]] = []
    for term in terms:
        parts = _Pattern(term).parts
        if not parts:
            continue
        first_rel, first_lexeme, first_prefix = parts[0]
        for token in doc:
            head = _token_span(token, first_lexeme, first_prefix)
            if head is None:
                continue
            start, end = head
            origin = token.position - first_rel
            for rel, lexeme, prefix in parts[1:]:
                other = by_position.get(origin + rel)
                span = None if other is None else _token_span(other, lexeme, prefix)
                if span is None:
                    break
                start, end = min(start, span[0]), max(end, span[1])
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
