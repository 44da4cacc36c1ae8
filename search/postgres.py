"""The built-in search backend: a `search_documents` table in the application's PostgreSQL.

Documents carry a tsvector built in Python (`search.pg_tsearch`: CJK bigrams and unigrams, word
pieces, edge grams for prefixes); queries become tsqueries by the same tokenizer. Each room the
caller can read gets its own branch of one statement, so the planner can pick, per room, the
GIN index over (room_id, tsv) for rare words or a newest-first walk of (room_id, created_at)
that stops early for common words in a big room. Everything user-supplied is a bound parameter;
the SQL text is assembled from fixed fragments only. See docs/search.md.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

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
    func,
    not_,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import TSVECTOR, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from search.base import (
    MAX_RESULT_WINDOW,
    IndexedEntry,
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
)
from search.highlight import highlight
from search.pg_tsearch import TsQueries, build_tsqueries, tsvector_literal

# Weights for ts_rank, in the order {D, C, B, A}: content is A, the sender's name D.
RANK_WEIGHTS = "'{0.1, 0.2, 0.4, 1.0}'::float4[]"
# An exact match of the query's last word (rather than a longer word it prefixes) ranks first.
EXACT_BONUS = 1.0
STATEMENT_TIMEOUT_MS = 10_000
# Up to this many rooms, each gets its own branch (and its own plan); beyond, one branch.
MAX_ROOM_BRANCHES = 64
# The newest matches that are ranked by relevance, and the per-room count kept exact.
DEFAULT_RANK_WINDOW = 1000
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


def _valid_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def _uuids(values: Iterable[str]) -> list[str]:
    return [v for v in (_valid_uuid(x) for x in values) if v is not None]


class PostgresSearchBackend:
    """`SearchBackend` over the `search_documents` table (created by migration 0002_search)."""

    def __init__(self, engine: AsyncEngine, *, rank_window: int = DEFAULT_RANK_WINDOW) -> None:
        """Use `engine` (owned by the caller, who disposes of it).

        `rank_window`: how many of the newest matches are ranked by relevance (and how many
        matches per room are counted exactly before `total` becomes an estimate).
        """
        if rank_window < 1:
            raise ValueError("rank_window must be positive")
        self._engine = engine
        self._rank_window = rank_window

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
        rows = []
        for message_id, doc in sorted(latest.items()):
            rows.append(
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
            )
        t = search_documents
        async with self._engine.begin() as conn:
            # Rows go in message id order, so concurrent indexers lock them in one order.
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
                    where=and_(not_(t.c.deleted), t.c.version <= excluded.version),
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
            stmt = select(t.c.message_id, t.c.version).where(not_(t.c.deleted))
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
        """Ranked by relevance, then newest first; see docs/search.md for the plan.

        The newest `window` matches of each room are fetched (per room, so the planner can walk
        a big room's (room_id, created_at) index newest first and stop, or use the GIN index for
        rare words); the newest `window` of those are ranked by relevance, older ones follow
        newest first. `total` is exact unless some room holds `window` matches or more, in
        which case that room's share is the planner's estimate (`total_exact` False).
        """
        room_ids = list(dict.fromkeys(_uuids(query.room_ids)))
        empty = SearchResults(hits=[], total=0)
        if not room_ids or query.limit < 1 or query.offset < 0:
            return empty
        if query.message_types is not None and not query.message_types:
            return empty
        if query.sender_ids is not None and not query.sender_ids:
            return empty
        tsq = build_tsqueries(query.terms)
        if query.terms and tsq is None:
            return empty
        plan = _SearchPlan(query, room_ids, tsq, self._rank_window)
        try:
            async with self._engine.connect() as conn:
                await self._bound_statement(conn)
                rows = (await conn.execute(text(plan.sql()), plan.params)).all()
                first = rows[0]
                total = int(first.exact_part)
                saturated = [_Saturated(*row) for row in json.loads(first.saturated or "[]")]
                total_exact = not saturated
                for branch in saturated:
                    rooms = room_ids if plan.grouped else [room_ids[branch.branch]]
                    total += await self._extrapolate(conn, branch, rooms, query)
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
            if r.message_id is not None
        ]
        return SearchResults(hits=hits, total=total, total_exact=total_exact)

    @staticmethod
    async def _extrapolate(
        conn: AsyncConnection, branch: _Saturated, rooms: list[str], query: SearchQuery
    ) -> int:
        """Estimate a saturated branch's matches from how far back its newest ones reach.

        The branch found `n` matches between `oldest` and the room's newest message; assuming
        matches spread evenly over time, the room's whole time span holds proportionally more.
        Two index probes (the room's first and last message); never below `n`.
        """
        row = (
            await conn.execute(
                text(
                    "SELECT min(d.created_at) AS first, max(d.created_at) AS last FROM search_documents d"
                    " WHERE d.room_id = ANY(CAST(:rooms AS uuid[])) AND NOT d.deleted"
                ),
                {"rooms": rooms},
            )
        ).one()
        if row.first is None:
            return branch.n
        first, last = row.first, row.last
        if query.after is not None:
            first = max(first, query.after)
        if query.before is not None:
            last = min(last, query.before)
        oldest = datetime.fromisoformat(branch.oldest)
        covered = (last - oldest).total_seconds()
        span = (last - first).total_seconds()
        if covered <= 0 or span <= covered:
            return branch.n
        # n matches mark n - 1 intervals over `covered`.
        return max(branch.n, round((branch.n - 1) * span / covered) + 1)

    @staticmethod
    async def _bound_statement(conn: AsyncConnection) -> None:
        # JIT costs more than these short queries take; plans must see the actual rooms (a
        # generic plan cannot tell the 200,000-message room from the others); the candidate
        # set is sorted in memory; a runaway query is cut off.
        await conn.execute(
            text(
                "SELECT set_config('jit', 'off', true),"
                " set_config('plan_cache_mode', 'force_custom_plan', true),"
                " set_config('work_mem', '16MB', true),"
                " set_config('statement_timeout', :ms, true)"
            ),
            {"ms": str(STATEMENT_TIMEOUT_MS)},
        )


class _Saturated(NamedTuple):
    """A branch that found `window` matches or more; `oldest` is its oldest one (ISO text)."""

    branch: int
    n: int
    oldest: str


class _SearchPlan:
    """The SQL text and bound parameters of one search (no user text ever enters the SQL)."""

    def __init__(
        self, query: SearchQuery, room_ids: list[str], tsq: TsQueries | None, rank_window: int
    ) -> None:
        self.room_ids = room_ids
        self.grouped = len(room_ids) > MAX_ROOM_BRANCHES
        end = min(query.offset + query.limit, MAX_RESULT_WINDOW)
        self.window = max(rank_window, end)
        self.params: dict[str, Any] = {
            "window": self.window,
            "rank_window": rank_window,
            "offset": query.offset,
            "limit": max(0, end - query.offset),
        }
        conditions = ["NOT d.deleted"]
        if tsq is not None:
            conditions.append("d.tsv @@ CAST(:tsq AS tsquery)")
            self.params["tsq"] = tsq.index
            self.params["tsq_full"] = tsq.full
            if tsq.recheck:
                # A function call, not the operator: the planner cannot take it to the index,
                # so it only ever narrows rows the index query found.
                conditions.append("ts_match_vq(d.tsv, CAST(:tsq_full AS tsquery))")
        if query.sender_ids is not None:
            senders = list(dict.fromkeys(query.sender_ids))
            if len(senders) == 1:
                conditions.append("d.sender_id = :sender_id")
                self.params["sender_id"] = senders[0]
            else:
                conditions.append("d.sender_id = ANY(CAST(:sender_ids AS varchar[]))")
                self.params["sender_ids"] = senders
        if query.message_types is not None:
            types = list(dict.fromkeys(query.message_types))
            if len(types) == 1:
                conditions.append("d.message_type = :message_type")
                self.params["message_type"] = types[0]
            else:
                conditions.append("d.message_type = ANY(CAST(:message_types AS varchar[]))")
                self.params["message_types"] = types
        if query.after is not None:
            conditions.append("d.created_at > :after")
            self.params["after"] = query.after
        if query.before is not None:
            conditions.append("d.created_at < :before")
            self.params["before"] = query.before
        self.conditions = conditions
        self.score = "0.0"
        if tsq is not None:
            self.score = f"ts_rank({RANK_WEIGHTS}, t.tsv, CAST(:tsq_full AS tsquery), 1)"
            if tsq.exact is not None:
                self.params["tsq_exact"] = tsq.exact
                self.score += (
                    f" + CASE WHEN t.tsv @@ CAST(:tsq_exact AS tsquery) THEN {EXACT_BONUS} ELSE 0 END"
                )

    def _branch(self, index: int, room_condition: str) -> str:
        where = " AND ".join([room_condition, *self.conditions])
        return (
            f"(SELECT {index} AS branch, d.message_id, d.room_id, d.created_at, d.tsv"
            f" FROM search_documents d WHERE {where}"
            " ORDER BY d.created_at DESC, d.message_id DESC LIMIT :window)"
        )

    def sql(self) -> str:
        """The statement: candidates per room, ranked window, page, content and counts."""
        if self.grouped:
            self.params["rooms"] = self.room_ids
            branches = [self._branch(0, "d.room_id = ANY(CAST(:rooms AS uuid[]))")]
        else:
            branches = []
            for i, room_id in enumerate(self.room_ids):
                self.params[f"room_{i}"] = room_id
                branches.append(self._branch(i, f"d.room_id = CAST(:room_{i} AS uuid)"))
        order = "(s.recency > :rank_window), s.score DESC, s.created_at DESC, s.message_id DESC"
        return (
            "WITH cand AS MATERIALIZED (" + " UNION ALL ".join(branches) + "),"
            " per_branch AS (SELECT branch, count(*) AS n, min(created_at) AS oldest FROM cand GROUP BY branch),"
            " top AS (SELECT c.message_id, c.room_id, c.created_at, c.tsv,"
            "   row_number() OVER (ORDER BY c.created_at DESC, c.message_id DESC) AS recency"
            "   FROM cand c ORDER BY c.created_at DESC, c.message_id DESC LIMIT :window),"
            " scored AS (SELECT t.message_id, t.room_id, t.created_at, t.recency,"
            f"   CASE WHEN t.recency <= :rank_window THEN {self.score} ELSE 0 END AS score FROM top t),"
            f" page AS (SELECT s.* FROM scored s ORDER BY {order} OFFSET :offset LIMIT :limit)"
            " SELECT s.message_id, s.room_id, s.score, d.content,"
            "   (SELECT coalesce(sum(n), 0) FROM per_branch WHERE n < :window) AS exact_part,"
            "   (SELECT json_agg(json_build_array(branch, n, oldest)) FROM per_branch WHERE n >= :window)::text"
            "     AS saturated"
            " FROM (SELECT 1) AS one"
            " LEFT JOIN (page s JOIN search_documents d ON d.message_id = s.message_id) ON true"
            f" ORDER BY {order}"
        )


__all__ = ["PostgresSearchBackend", "search_documents"]
