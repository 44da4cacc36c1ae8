"""PostgreSQL backend beyond its ranking window (made tiny here): order, paging, totals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from search.base import SearchDocument, SearchQuery
from search.postgres import PostgresSearchBackend
from search.query_syntax import parse_query

T0 = datetime(2026, 4, 1, tzinfo=UTC)


def doc(room: str, content: str, minute: int) -> SearchDocument:
    return SearchDocument(
        message_id=str(uuid.uuid4()),
        room_id=room,
        sender_id="op@example.com",
        sender_display_name="Operator",
        message_type="text",
        content=content,
        created_at=T0 + timedelta(minutes=minute),
        sequence_number=minute + 1,
        version=1,
    )


async def test_beyond_the_window_hits_follow_newest_first_and_pages_never_overlap(
    pg_engine: AsyncEngine,
) -> None:
    backend = PostgresSearchBackend(pg_engine, rank_window=5, exact_count_documents=-1)
    room = str(uuid.uuid4())
    docs = [doc(room, f"valve check {i}", i) for i in range(30)]
    docs.append(doc(room, "valve", 29))  # the most relevant, among the newest
    await backend.index(docs)
    terms = parse_query("valve").terms

    pages = [
        await backend.search(SearchQuery(room_ids=[room], terms=terms, limit=4, offset=o))
        for o in range(0, 36, 4)
    ]

    seen = [h.message_id for p in pages for h in p.hits]
    assert len(seen) == len(set(seen)) == 31
    assert seen[0] == docs[-1].message_id
    by_id = {d.message_id: d for d in docs}
    tail = [by_id[m].created_at for m in seen[5:]]
    assert tail == sorted(tail, reverse=True)
    # 31 matches evenly spread over time: the estimate lands close, and says it is one.
    assert not pages[0].total_exact
    assert 25 <= pages[0].total <= 40


async def test_rooms_under_the_window_are_counted_exactly(pg_engine: AsyncEngine) -> None:
    backend = PostgresSearchBackend(pg_engine, rank_window=5, exact_count_documents=-1)
    small, big = str(uuid.uuid4()), str(uuid.uuid4())
    await backend.index([doc(small, f"gasket leak {i}", i) for i in range(3)])
    await backend.index([doc(big, f"gasket leak {i}", i) for i in range(12)])

    only_small = await backend.search(SearchQuery(room_ids=[small], terms=parse_query("gasket").terms))
    both = await backend.search(
        SearchQuery(room_ids=[small, big], terms=parse_query("gasket").terms, limit=2)
    )

    assert (only_small.total, only_small.total_exact) == (3, True)
    assert not both.total_exact
    assert both.total >= 3 + 5


async def test_small_rooms_are_counted_exactly_beyond_the_window(pg_engine: AsyncEngine) -> None:
    backend = PostgresSearchBackend(pg_engine, rank_window=5)
    rooms = [str(uuid.uuid4()) for _ in range(3)]
    await backend.index([doc(r, f"coolant low {i}", i) for r in rooms for i in range(9)])

    results = await backend.search(SearchQuery(room_ids=rooms, terms=parse_query("coolant").terms, limit=2))

    assert (results.total, results.total_exact) == (27, True)


async def test_many_rooms_share_one_branch(pg_engine: AsyncEngine) -> None:
    backend = PostgresSearchBackend(pg_engine)
    rooms = [str(uuid.uuid4()) for _ in range(70)]
    await backend.index([doc(r, "spindle alarm", i) for i, r in enumerate(rooms)])

    results = await backend.search(SearchQuery(room_ids=rooms, terms=parse_query("spindle").terms, limit=50))

    assert results.total == 70 and results.total_exact
    assert len(results.hits) == 50
    assert [h.room_id for h in results.hits] == list(reversed(rooms))[:50]
