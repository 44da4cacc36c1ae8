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
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime

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
    IndexedEntry,
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
)
from search.highlight import highlight
from search.pg_plan import RoomStats, Saturated, SearchPlan
from search.pg_tsearch import build_tsqueries, tsvector_literal

STATEMENT_TIMEOUT_MS = 10_000
# A room the planner's statistics put at this many documents or more gets a branch (and a
# plan) of its own; all other rooms of a search share one branch. At most this many branches.
BIG_ROOM_DOCUMENTS = 20_000
MAX_OWN_BRANCHES = 8
# A branch of small rooms holding at most this many documents is counted exactly.
EXACT_GROUP_DOCUMENTS = 50_000
# How long room sizes (from pg_stats) are reused.
ROOM_STATS_TTL_S = 300.0
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

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        rank_window: int = DEFAULT_RANK_WINDOW,
        big_room_documents: int = BIG_ROOM_DOCUMENTS,
        exact_count_documents: int = EXACT_GROUP_DOCUMENTS,
    ) -> None:
        """Use `engine` (owned by the caller, who disposes of it).

        `rank_window`: how many of the newest matches are ranked by relevance (and how many
        matches a branch must reach before its count may be an estimate).
        `big_room_documents`: rooms this big (per ANALYZE) get their own branch.
        `exact_count_documents`: branches whose rooms hold at most this many documents are
        counted exactly, whatever the number of matches. docs/search.md explains all three.
        """
        if rank_window < 1:
            raise ValueError("rank_window must be positive")
        self._engine = engine
        self._rank_window = rank_window
        self._big_room = big_room_documents
        self._exact_count = exact_count_documents
        self._stats_cache: tuple[float, RoomStats] | None = None

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

        The newest `window` matches are fetched per branch (each big room alone, so the planner
        can walk its (room_id, created_at) index newest first and stop early, the other rooms
        together); the newest `window` of those are ranked by relevance, older ones follow
        newest first. `total` is exact unless a branch holds `window` matches or more; that
        branch's share is then extrapolated (`total_exact` False).
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
        try:
            async with self._engine.connect() as conn:
                await self._bound_statement(conn)
                stats = await self._room_stats(conn)
                own = [r for r in room_ids if stats.size(r) >= self._big_room][:MAX_OWN_BRANCHES]
                rest = [r for r in room_ids if r not in set(own)]
                groups = [[r] for r in own] + ([rest] if rest else [])
                # A branch is counted exactly when its rooms are few enough documents to visit.
                counted = [sum(stats.size(r) for r in g) <= self._exact_count for g in groups]
                plan = SearchPlan(query, groups, counted, tsq, self._rank_window)
                rows = (await conn.execute(text(plan.sql()), plan.params)).all()
                first = rows[0]
                total = int(first.exact_part)
                saturated = [Saturated(*row) for row in json.loads(first.saturated or "[]")]
                total_exact = not saturated
                for branch in saturated:
                    total += await self._extrapolate(conn, branch, groups[branch.branch], query)
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

    async def _room_stats(self, conn: AsyncConnection) -> RoomStats:
        """Room sizes as ANALYZE saw them (cached for ROOM_STATS_TTL_S).

        The most common room ids and their frequencies name the big rooms; the rest share what
        is left of the table evenly. Without statistics yet, every room counts as small.
        """
        now = time.monotonic()
        if self._stats_cache is not None and now - self._stats_cache[0] < ROOM_STATS_TTL_S:
            return self._stats_cache[1]
        row = (
            await conn.execute(
                text(
                    "SELECT s.most_common_vals::text AS vals, s.most_common_freqs AS freqs,"
                    " s.n_distinct AS n_distinct, c.reltuples AS reltuples"
                    " FROM pg_class c LEFT JOIN pg_stats s ON s.tablename = 'search_documents'"
                    " AND s.attname = 'room_id' AND s.schemaname = current_schema()"
                    " WHERE c.oid = to_regclass('search_documents')"
                )
            )
        ).one_or_none()
        stats = RoomStats.from_pg(row)
        self._stats_cache = (now, stats)
        return stats

    @staticmethod
    async def _extrapolate(
        conn: AsyncConnection, branch: Saturated, rooms: list[str], query: SearchQuery
    ) -> int:
        """Estimate a saturated branch's matches from how far back its newest ones reach.

        The branch found `n` matches between `oldest` and the room's newest message; assuming
        matches spread evenly over time, the room's whole time span holds proportionally more.
        Two index probes (the room's first and last message); never below `n`.
        """
        # Per room, each end is one probe of (room_id, created_at); min()/max() over
        # `room_id = ANY(...)` would read the whole room instead.
        row = (
            await conn.execute(
                text(
                    "SELECT min(e.first) AS first, max(e.last) AS last"
                    " FROM unnest(CAST(:rooms AS uuid[])) AS r(room_id) CROSS JOIN LATERAL (SELECT"
                    "  (SELECT d.created_at FROM search_documents d WHERE d.room_id = r.room_id"
                    "   AND NOT d.deleted ORDER BY d.created_at ASC LIMIT 1) AS first,"
                    "  (SELECT d.created_at FROM search_documents d WHERE d.room_id = r.room_id"
                    "   AND NOT d.deleted ORDER BY d.created_at DESC LIMIT 1) AS last) e"
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


__all__ = ["PostgresSearchBackend", "search_documents"]
