"""GET /api/search/messages over the built-in PostgreSQL backend."""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

from search.documents import document_from_message
from search.postgres import PostgresSearchBackend
from tests.support.clients import Api


async def _index_room(database_url: str, room_id: str) -> None:
    """What the worker's index task does, for one room's messages."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            "SELECT m.*, u.display_name FROM messages m LEFT JOIN tr_users u ON u.user_id = m.sender_id WHERE room_id = $1",
            uuid.UUID(room_id),
        )
    finally:
        await conn.close()
    engine = create_async_engine(database_url)
    backend = PostgresSearchBackend(engine)
    try:
        docs = []
        for row in rows:
            data = dict(row)
            doc = document_from_message(data, data["display_name"])
            if doc is not None:
                docs.append(doc)
        await backend.index(docs)
    finally:
        await engine.dispose()


async def test_search_highlights_respects_access_and_operators(api: Api, database_url: str) -> None:
    alice = await api.user("alice", display_name="Alice Wang")
    bob = await api.user("bob")
    outsider = await api.user("eve")
    room = await api.room_with(alice, (bob, "EDITOR"))
    secret = await api.room(outsider)
    a = await api.connect(alice, room)
    await a.send_message("Pump PJ-3401 pressure dropped <script>alert(1)</script>")
    await a.send_message("設備溫度上升到85度")
    img = await a.send_message("pump housing cracked")
    b = await api.connect(bob, room)
    await b.send_message("pump restarted by maintenance")
    e = await api.connect(outsider, secret)
    await e.send_message("pump secret in another room")
    await _index_room(database_url, room)
    await _index_room(database_url, secret)

    async def search(user, **params):  # type: ignore[no-untyped-def]
        r = await api.http.get("/api/search/messages", params=params, headers=user.headers)
        assert r.status_code == 200, r.text
        return r.json()

    found = await search(alice, q="pump")
    assert found["total"] == 3
    assert all(h["room_id"] == room for h in found["hits"])
    first = next(h for h in found["hits"] if "PJ-3401" in h["content"])
    assert "<mark>" in first["highlighted_content"].lower() or "<mark>" in first["highlighted_content"]
    assert "<script>" not in first["highlighted_content"] and "&lt;script&gt;" in first["highlighted_content"]
    assert set(first) >= {"message_id", "sender_display_name", "sequence_number", "highlighted_content"}
    assert (await search(alice, q="溫度"))["total"] == 1
    assert "<mark>溫度</mark>" in (await search(alice, q="溫度"))["hits"][0]["highlighted_content"]
    assert (await search(alice, q="PJ-3401"))["total"] == 1
    assert (await search(alice, q="pum"))["total"] == 3  # last word as a prefix
    assert (await search(alice, q=f"from:{bob.user_id} pump"))["total"] == 1
    assert (await search(alice, q='from:"alice wang" pump'))["total"] == 2  # display name, any case
    assert (await search(alice, q="pump", sender_id=bob.user_id))["total"] == 1
    assert (await search(alice, q=f"in:{secret} pump"))["total"] == 0
    assert (await search(alice, q="pump", room_id=secret))["total"] == 0
    page = await search(alice, q="pump", limit=1, offset=1)
    assert page["total"] == 3 and len(page["hits"]) == 1
    # Deleted messages never show, even before the index catches up.
    await a.send({"type": "delete_message", "message_id": img["message_id"]})
    await a.next("message_deleted")
    assert img["message_id"] not in {h["message_id"] for h in (await search(alice, q="housing"))["hits"]}
    # A member removed now finds nothing of that room.
    await api.http.delete(f"/api/rooms/{room}/members/{bob.user_id}", headers=alice.headers)
    assert (await search(bob, q="pump"))["total"] == 0


async def test_search_bad_input(api: Api) -> None:
    alice = await api.user("alice")
    for params, ok in (
        ({"q": ""}, {200}),
        ({"q": "x" * 1000}, {200, 422}),
        ({"q": "x" * 5000}, {422}),
        ({"q": "pump'; DROP TABLE messages; --"}, {200}),
        ({"q": 'room_id = "x" OR 1=1'}, {200}),
        ({"q": "pump", "limit": "0"}, {422}),
        ({"q": "pump", "message_type": "bogus"}, {422}),
        ({"q": "pump", "after": "yesterday"}, {422}),
        ({"q": "pump", "room_id": "not-a-room"}, {200}),
    ):
        r = await api.http.get("/api/search/messages", params=params, headers=alice.headers)
        assert r.status_code in ok, (params, r.status_code, r.text)
        if r.status_code == 200:
            assert r.json()["hits"] == []
    assert (await api.http.get("/api/search/messages", params={"q": "pump"})).status_code == 401
