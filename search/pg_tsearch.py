"""The tsvector and tsquery texts of the PostgreSQL backend, built from `search.tokens`.

PostgreSQL's parsers do not segment Chinese, so documents and queries are tokenized here and
handed to PostgreSQL as literals (`CAST(:text AS tsvector)`); no text reaches its parser.

A document's tsvector holds:

- every token at its position, weight A for the content and D for the sender's name (after a
  gap, so no phrase runs from one into the other);
- for each word piece, its edge grams without positions: `~te`, `~tem`, `~temp` for
  `temperature`. A prefix query (the last word) then looks up one exact key, where a `:*`
  prefix would make GIN gather every match in the whole table before the room filter applies.

A query becomes two tsqueries. The index query is what GIN evaluates: exact lexemes, phrases
where no prefix is involved, and for a prefix its edge gram (its first four characters). The
full query states the exact meaning (`'pj' <1> '34':*`); it is checked per row, outside the
index, only when the index query is looser, and it is what results are ranked by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from search.base import QueryTerm
from search.tokens import QueryPiece, query_pieces, tokenize

# tsvector positions stop at 16383; the display name sits after a gap so that no phrase
# (whose span is bounded by the 1,000-character query) can run from the content into it.
MAX_POSITION = 16383
NAME_GAP = 1024
# Edge grams: a mark no token can contain (tokens are letters and digits), and their lengths.
EDGE_MARK = "~"
EDGE_MIN = 2
EDGE_MAX = 4
# A phrase longer than this is given to the index as its distinct pieces (at most
# MAX_INDEX_KEYS of them) and checked as a phrase per row.
MAX_INDEX_PHRASE = 8
MAX_INDEX_KEYS = 32


def quote_lexeme(lexeme: str) -> str:
    """A lexeme quoted for tsvector / tsquery input."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def edge_grams(lexeme: str) -> list[str]:
    """The prefix keys of a word piece: `~` plus its first 2, 3 and 4 characters."""
    return [EDGE_MARK + lexeme[:k] for k in range(EDGE_MIN, min(len(lexeme), EDGE_MAX) + 1)]


def tsvector_literal(content: str, display_name: str = "") -> str:
    """The tsvector, in PostgreSQL's text form, for a document's content and sender name."""
    positions: dict[tuple[str, str], list[int]] = {}
    grams: set[str] = set()
    last = 0
    for tok in tokenize(content, first_position=1):
        pos = min(tok.position, MAX_POSITION)
        positions.setdefault((tok.lexeme, "A"), []).append(pos)
        if not tok.cjk:
            grams.update(edge_grams(tok.lexeme))
        last = pos
    if display_name:
        for tok in tokenize(display_name, first_position=last + NAME_GAP):
            pos = min(tok.position, MAX_POSITION)
            positions.setdefault((tok.lexeme, "D"), []).append(pos)
            if not tok.cjk:
                grams.update(edge_grams(tok.lexeme))
    # A lexeme under two weights gives two entries: PostgreSQL merges them on input.
    parts = [
        quote_lexeme(lexeme) + ":" + ",".join(f"{p}{weight}" for p in pos_list)
        for (lexeme, weight), pos_list in positions.items()
    ]
    parts.extend(quote_lexeme(g) for g in sorted(grams))
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class TsQueries:
    """The tsqueries of one search (texts to CAST to tsquery)."""

    index: str
    """What GIN evaluates: the full query, or a looser one that `recheck` then narrows."""
    full: str
    """The exact meaning; ranks the results."""
    recheck: bool
    """Whether `full` must be checked per row because `index` matches more."""
    exact: str | None
    """`full` without the last word's prefix (an exact last word ranks first), if different."""


def _phrase(pieces: Sequence[QueryPiece]) -> str:
    out: list[str] = []
    previous = 0
    for k, piece in enumerate(pieces):
        operand = quote_lexeme(piece.lexeme) + (":*" if piece.prefix else "")
        out.append(operand if k == 0 else f" <{piece.offset - previous}> {operand}")
        previous = piece.offset
    body = "".join(out)
    return f"({body})" if len(pieces) > 1 else body


def _index_part(pieces: Sequence[QueryPiece]) -> tuple[str, bool]:
    prefix = pieces[-1] if pieces[-1].prefix else None
    if prefix is None and len(pieces) <= MAX_INDEX_PHRASE:
        return _phrase(pieces), False
    if prefix is not None and len(pieces) == 1:
        return quote_lexeme(EDGE_MARK + prefix.lexeme[:EDGE_MAX]), len(prefix.lexeme) > EDGE_MAX
    # The index checks that the pieces are present (edge grams have no positions, and a
    # phrase of hundreds of pieces costs GIN dearly); the full query checks their order.
    keys = [quote_lexeme(p.lexeme) for p in pieces if not p.prefix]
    keys = list(dict.fromkeys(keys))[:MAX_INDEX_KEYS]
    if prefix is not None:
        keys.append(quote_lexeme(EDGE_MARK + prefix.lexeme[:EDGE_MAX]))
    return "(" + " & ".join(keys) + ")", True


def build_tsqueries(terms: Sequence[QueryTerm]) -> TsQueries | None:
    """The tsqueries for `terms` (all must match), or None if no term has a searchable piece."""
    index_parts: list[str] = []
    full_parts: list[str] = []
    exact_parts: list[str] = []
    recheck = False
    for term in terms:
        pieces = query_pieces(term.text, term.prefix)
        if not pieces:
            continue
        part, loose = _index_part(pieces)
        index_parts.append(part)
        recheck = recheck or loose
        full_parts.append(_phrase(pieces))
        exact_parts.append(_phrase(query_pieces(term.text, False)))
    if not full_parts:
        return None
    full = " & ".join(dict.fromkeys(full_parts))
    exact = " & ".join(dict.fromkeys(exact_parts))
    return TsQueries(
        index=" & ".join(dict.fromkeys(index_parts)),
        full=full,
        recheck=recheck,
        exact=exact if exact != full else None,
    )
