"""Search quality on a hand-written incident corpus: recall@10 per backend.

tests/search/corpus.json holds 208 messages of factory incident chat (English, Traditional
Chinese and both, in six rooms) and 52 queries with the messages each must find: English words
and prefixes, phrases, part and lot numbers however they are typed, Chinese words and
substrings of longer runs, mixed scripts. recall@10 of a query is the share of its expected
messages (at most 10 counted) among the first 10 hits; the test prints the mean per backend.

Floors: PostgreSQL implements the contract's matching rules exactly, so only ranking could
push an expected message out of the first 10 and only for queries with more than 10 matches,
all of which are matches anyway: its floor is 0.95 (two queries' worth of slack). Meilisearch
segments Chinese into dictionary words rather than substrings and its engine ranks by its own
rules; its floor is 0.80 until it has been measured against a real server.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from search.base import SearchBackend, SearchDocument, SearchQuery
from search.postgres import PostgresSearchBackend
from search.query_syntax import parse_query

CORPUS = Path(__file__).with_name("corpus.json")
T0 = datetime(2026, 2, 2, 6, 0, tzinfo=UTC)
FLOORS = {"PostgresSearchBackend": 0.95, "MeilisearchSearchBackend": 0.80}


def load_corpus() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CORPUS.read_text(encoding="utf-8"))
    return data


def test_corpus_is_big_enough() -> None:
    corpus = load_corpus()
    assert len(corpus["messages"]) >= 200
    assert len(corpus["queries"]) >= 40
    contents = " ".join(m["content"] for m in corpus["messages"])
    assert any("\u4e00" <= ch <= "\u9fff" for ch in contents)
    ids = {m["id"] for m in corpus["messages"]}
    assert all(set(q["expected"]) <= ids and q["expected"] for q in corpus["queries"])


async def test_recall_at_10(backend: SearchBackend) -> None:
    corpus = load_corpus()
    rooms = {name: str(uuid.uuid4()) for name in sorted({m["room"] for m in corpus["messages"]})}
    key_of: dict[str, str] = {}
    docs = []
    for m in corpus["messages"]:
        message_id = str(uuid.uuid4())
        key_of[message_id] = m["id"]
        docs.append(
            SearchDocument(
                message_id=message_id,
                room_id=rooms[m["room"]],
                sender_id=m["sender_id"],
                sender_display_name=m["sender_display_name"],
                message_type=m["message_type"],
                content=m["content"],
                created_at=T0 + timedelta(minutes=m["minute"]),
                sequence_number=m["minute"] + 1,
                version=1,
            )
        )
    await backend.index(docs)

    per_query: list[tuple[str, float]] = []
    for query in corpus["queries"]:
        parsed = parse_query(query["q"])
        results = await backend.search(
            SearchQuery(room_ids=list(rooms.values()), terms=parsed.terms, limit=10)
        )
        found = {key_of.get(h.message_id) for h in results.hits}
        expected = query["expected"]
        recall = len(found & set(expected)) / min(len(expected), 10)
        per_query.append((query["q"], recall))

    name = type(backend).__name__
    mean = sum(r for _, r in per_query) / len(per_query)
    misses = [f"{q!r}={r:.2f}" for q, r in per_query if r < 1]
    print(f"\nrecall@10 {name}: {mean:.3f} over {len(per_query)} queries; below 1: {misses or 'none'}")
    assert mean >= FLOORS[name], misses


def test_postgres_floor_is_declared() -> None:
    assert PostgresSearchBackend.__name__ in FLOORS
    pytest.importorskip("meilisearch_python_sdk")
