"""The built-in search backend: a `search_documents` table in the application's PostgreSQL.

PostgreSQL's text parsers do not segment Chinese, so the tsvector is built here, in Python,
by `search.tokens` (CJK as character bigrams, words split at letter/digit boundaries) and stored
as a literal; queries are turned into tsqueries by the same tokenizer. A Chinese substring is a
phrase of adjacent bigrams, a part number a phrase of its pieces. One GIN index over
(room_id, tsv) answers "these words in these rooms" inside the index. Everything user-supplied
is a bound parameter; lexemes are quoted inside the tsquery text, and contain only letters and
digits anyway. See docs/search.md.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import UserDefinedType

from search.base import (
    MAX_RESULT_WINDOW,
    IndexedEntry,
    QueryTerm,
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
)
from search.highlight import highlight
from search.tokens import Token, tokenize

# tsvector positions stop at 16383; the display name sits after a gap so that no phrase
# (whose span is bounded by the 1,000-character query) can run from the content into it.
MAX_POSITION = 16383
NAME_GAP = 1024
# Weights for ts_rank, in the order {D, C, B, A}: content is A, the sender's name D.
_WEIGHTS: ColumnElement[Any] = literal_column("'{0.1, 0.2, 0.4, 1.0}'::float4[]")
# An exact match of the query's last word (rather than a longer word it prefixes) ranks first.
EXACT_BONUS = 1.0
STATEMENT_TIMEOUT_MS = 10_000
WRITE_CHUNK = 500

metadata = MetaData()

search_documents = Table(
    "search_documents",
    metadata,
    Column("message_id", UUID(as_uuid=False), primary_key=True),
    Column("room_id", UUID(as_uuid=False)),
    Column("sender_id", String(254)),
    Column("sender_display_name", Text),
    Column("message_type", String(16)),
    Column("content", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("sequence_number", BigInteger),
    Column("version", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("tsv", TSVECTOR, nullable=False),
    Column("indexed_at", DateTime(timezone=True)),
)


class _TsQuery(UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "tsquery"


def _quote_lexeme(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(content: str, display_name: str = "") -> str:
    """The tsvector, in PostgreSQL's text form, for a document's content and sender name."""
    positions: dict[tuple[str, str], list[int]] = {}
    last = 0
    for tok in tokenize(content, first_position=1):
        pos = min(tok.position, MAX_POSITION)
        positions.setdefault((tok.lexeme, "A"), []).append(pos)
        last = pos
    if display_name:
        for tok in tokenize(display_name, first_position=last + NAME_GAP):
            pos = min(tok.position, MAX_POSITION)
            positions.setdefault((tok.lexeme, "D"), []).append(pos)
    # A lexeme with two weights keeps one entry: PostgreSQL merges them on input anyway.
    parts = []
    for (lexeme, weight), pos_list in positions.items():
        parts.append(_quote_lexeme(lexeme) + ":" + ",".join(f"{p}{weight}" for p in pos_list))
    return " ".join(parts)


def _term_tsquery(tokens: list[Token], prefix_last: bool) -> str:
    pieces: list[str] = []
    previous = 0
    last = len(tokens) - 1
    for k, tok in enumerate(tokens):
        operand = _quote_lexeme(tok.lexeme)
        if (tok.cjk and len(tok.lexeme) == 1) or (prefix_last and k == last):
            operand += ":*"
        if k == 0:
            pieces.append(operand)
        else:
            pieces.append(f" <{tok.position - previous}> " + operand)
        previous = tok.position
    body = "".join(pieces)
    return f"({body})" if len(tokens) > 1 else body


def tsquery_text(terms: Sequence[QueryTerm], *, exact: bool = False) -> str | None:
    """The tsquery text for `terms` (all must match); `exact` drops the last-word prefix."""
    parts: list[str] = []
    for term in terms:
        tokens = tokenize(term.text, for_query=True)
        if tokens:
            parts.append(_term_tsquery(tokens, term.prefix and not exact))
    if not parts:
        return None
    return " & ".join(dict.fromkeys(parts))


def _valid_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def _uuids(values: Iterable[str]) -> list[str]:
    return [v for v in (_valid_uuid(x) for x in values) if v is not None]


class PostgresSearchBackend:
    """`SearchBackend` over the `search_documents` table (created by migration 0002_search)."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Use `engine` (owned by the caller, who disposes of it)."""
        self._engine = engine

    async def ensure_ready(self) -> None:
        """Check that the migration has created the table (the schema belongs to migrations)."""
        try:
            async with self._engine.connect() as conn:
                found = await conn.scalar(text("SELECT to_regclass('search_documents') IS NOT NULL"))
        except (sa_exc.DBAPIError, OSError) as exc:
            raise SearchUnavailable(f"database unreachable: {exc.__class__.__name__}") from exc
        if not found:
            raise SearchUnavailable("table search_documents missing: run `andon migrate`")

    async def health(self) -> bool:
        """Whether the database answers and the table exists."""
        try:
            await self.ensure_ready()
        except SearchUnavailable:
            return False
        return True

    async def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""

    async def index(self, docs: Sequence[SearchDocument]) -> None:
        """Upsert documents; a row with a higher version, or a tombstone, is left alone."""
        latest: dict[str, SearchDocument] = {}
        for doc in docs:
            message_id = _valid_uuid(doc.message_id)
            room_id = _valid_uuid(doc.room_id)
            if message_id is None or room_id is None:
                raise ValueError(f"message_id and room_id must be UUIDs: {doc.message_id!r}")
            if doc.created_at.tzinfo is None:
                raise ValueError("created_at must be timezone-aware")
            held = latest.get(message_id)
            if held is None or held.version <= doc.version:
                latest[message_id] = doc
        if not latest:
            return
        rows = [
            {
                "message_id": message_id,
                "room_id": str(uuid.UUID(doc.room_id)),
                "sender_id": doc.sender_id,
                "sender_display_name": doc.sender_display_name,
                "message_type": doc.message_type,
                "content": doc.content,
                "created_at": doc.created_at.astimezone(UTC),
                "sequence_number": doc.sequence_number,
                "version": doc.version,
                "deleted": False,
                "tsv": tsvector_literal(doc.content, doc.sender_display_name),
            }
            for message_id, doc in sorted(latest.items())
        ]
        t = search_documents
        async with self._engine.begin() as conn:
            for start in range(0, len(rows), WRITE_CHUNK):
                stmt = insert(t).values(rows[start : start + WRITE_CHUNK])
                excluded = stmt.excluded
                stmt = stmt.on_conflict_do_update(
                    index_elements=[t.c.message_id],
                    set_={
                        "room_id": excluded.room_id,
                        "sender_id": excluded.sender_id,
                        "sender_display_name": excluded.sender_display_name,
                        "message_type": excluded.message_type,
                        "content": excluded.content,
                        "created_at": excluded.created_at,
                        "sequence_number": excluded.sequence_number,
                        "version": excluded.version,
                        "tsv": excluded.tsv,
                        "indexed_at": func.now(),
                    },
                    # Equal versions rewrite (a changed display name), older ones never do.
                    where=and_(t.c.deleted.is_(False), t.c.version <= excluded.version),
                )
                await conn.execute(stmt)

    async def delete(self, message_ids: Sequence[str]) -> None:
        """Turn the messages into tombstones (inserting one for a message never indexed)."""
        ids = sorted(set(_uuids(message_ids)))
        if not ids:
            return
        t = search_documents
        async with self._engine.begin() as conn:
            for start in range(0, len(ids), WRITE_CHUNK):
                chunk = ids[start : start + WRITE_CHUNK]
                stmt = insert(t).values(
                    [{"message_id": m, "version": 0, "deleted": True, "tsv": ""} for m in chunk]
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=[t.c.message_id],
                    set_={
                        "deleted": True,
                        "content": None,
                        "sender_display_name": None,
                        "tsv": "",
                        "indexed_at": func.now(),
                    },
                )
                await conn.execute(stmt)

    async def iter_indexed_ids(
        self, batch_size: int = 1000, after: str | None = None
    ) -> AsyncIterator[list[IndexedEntry]]:
        """Live documents' (message_id, version), ordered by message id, resumable with `after`."""
        t = search_documents
        cursor = _valid_uuid(after) if after is not None else None
        while True:
            stmt = select(t.c.message_id, t.c.version).where(t.c.deleted.is_(False))
            if cursor is not None:
                stmt = stmt.where(t.c.message_id > cursor)
            stmt = stmt.order_by(t.c.message_id).limit(batch_size)
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
            if not rows:
                return
            yield [IndexedEntry(str(r.message_id), int(r.version)) for r in rows]
            cursor = str(rows[-1].message_id)
            if len(rows) < batch_size:
                return

    async def search(self, query: SearchQuery) -> SearchResults:
        """Ranked by relevance (ts_rank, exact last word first), then newest; exact total."""
        room_ids = _uuids(query.room_ids)
        if not room_ids or query.limit < 1 or query.offset < 0:
            return SearchResults(hits=[], total=0)
        if query.message_types is not None and not query.message_types:
            return SearchResults(hits=[], total=0)
        if query.sender_ids is not None and not query.sender_ids:
            return SearchResults(hits=[], total=0)
        tsq = tsquery_text(query.terms)
        if query.terms and tsq is None:
            return SearchResults(hits=[], total=0)

        t = search_documents
        where = [
            t.c.deleted.is_(False),
            t.c.room_id == any_(bindparam("room_ids", room_ids, type_=ARRAY(UUID(as_uuid=False)))),
        ]
        if query.sender_ids is not None:
            where.append(
                t.c.sender_id == any_(bindparam("sender_ids", list(query.sender_ids), type_=ARRAY(String)))
            )
        if query.message_types is not None:
            where.append(
                t.c.message_type
                == any_(bindparam("message_types", list(query.message_types), type_=ARRAY(String)))
            )
        if query.after is not None:
            where.append(t.c.created_at > query.after)
        if query.before is not None:
            where.append(t.c.created_at < query.before)

        if tsq is not None:
            tsquery = cast(bindparam("tsq", tsq, type_=Text), _TsQuery())
            where.append(t.c.tsv.op("@@")(tsquery))
            score: ColumnElement[Any] = func.ts_rank(_WEIGHTS, t.c.tsv, tsquery, 1)
            exact = tsquery_text(query.terms, exact=True)
            if exact is not None and exact != tsq:
                exact_q = cast(bindparam("tsq_exact", exact, type_=Text), _TsQuery())
                score = score + case((t.c.tsv.op("@@")(exact_q), EXACT_BONUS), else_=0.0)
        else:
            score = literal(0.0)

        window = min(query.limit, max(0, MAX_RESULT_WINDOW - query.offset))
        scored = score.label("score")
        stmt = (
            select(
                t.c.message_id,
                t.c.room_id,
                t.c.content,
                scored,
                func.count().over().label("total"),
            )
            .where(*where)
            .order_by(scored.desc(), t.c.created_at.desc(), t.c.message_id.desc())
            .limit(window)
            .offset(query.offset)
        )
        count_stmt = select(func.count()).select_from(t).where(*where)
        try:
            async with self._engine.connect() as conn:
                await self._bound_statement(conn)
                rows = (await conn.execute(stmt)).all() if window > 0 else []
                if rows:
                    total = int(rows[0].total)
                else:
                    total = int(await conn.scalar(count_stmt) or 0)
        except sa_exc.DBAPIError as exc:
            raise SearchUnavailable(f"search failed: {exc.__class__.__name__}") from exc
        hits = [
            SearchHit(
                message_id=str(r.message_id),
                room_id=str(r.room_id),
                highlighted_content=highlight(r.content or "", query.terms),
                score=float(r.score),
            )
            for r in rows
        ]
        return SearchResults(hits=hits, total=total)

    @staticmethod
    async def _bound_statement(conn: AsyncConnection) -> None:
        # JIT compilation costs more than these short queries take; a runaway query is cut off.
        await conn.execute(
            text("SELECT set_config('jit', 'off', true), set_config('statement_timeout', :ms, true)"),
            {"ms": str(STATEMENT_TIMEOUT_MS)},
        )


__all__ = ["PostgresSearchBackend", "search_documents", "tsquery_text", "tsvector_literal"]
