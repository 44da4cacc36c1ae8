"""History paging: every message exactly once in both directions, also when timestamps tie."""

from __future__ import annotations

import uuid

import asyncpg

from tests.support.clients import Api


async def _room_with_messages(api: Api, n: int) -> tuple[object, str]:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    ws = await api.connect(owner, room_id)
    for i in range(n):
        await ws.send_message(f"reading {i}")
    await ws.close()
    return owner, room_id


async def test_paging_backwards_by_sequence_visits_each_message_once(api: Api) -> None:
    owner, room_id = await _room_with_messages(api, 23)
    seen: list[int] = []
    params: dict[str, object] = {"limit": 5}
    while True:
        page = await api.history(owner, room_id, **params)  # type: ignore[arg-type]
        seqs = [m["sequence_number"] for m in page["messages"]]
        assert seqs == sorted(seqs, reverse=True)
        seen += seqs
        if not page["has_more"]:
            break
        params = {"limit": 5, "before_sequence": page["next_before_sequence"]}
    assert seen == list(range(23, 0, -1))


async def test_paging_forward_after_sequence(api: Api) -> None:
    owner, room_id = await _room_with_messages(api, 12)
    seen: list[int] = []
    after = 0
    while True:
        page = await api.history(owner, room_id, after_sequence=after, limit=5)
        seqs = [m["sequence_number"] for m in page["messages"]]
        seen += seqs
        if not page["has_more"]:
            break
        after = seqs[-1]
    assert seen == list(range(1, 13))


async def test_before_timestamp_with_ties_is_exact_through_the_sequence_cursor(
    api: Api, database_url: str
) -> None:
    owner, room_id = await _room_with_messages(api, 10)
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        # Make every timestamp tie: only the sequence cursor can page exactly.
        await conn.execute(
            "UPDATE messages SET created_at = '2025-11-17T10:00:00Z' WHERE room_id = $1", uuid.UUID(room_id)
        )
    finally:
        await conn.close()
    first = await api.history(owner, room_id, limit=4, before="2025-11-17T10:00:01Z")
    assert [m["sequence_number"] for m in first["messages"]] == [10, 9, 8, 7]
    assert first["next_before"] == "2025-11-17T10:00:00.000Z"
    seen = [m["sequence_number"] for m in first["messages"]]
    cursor = first["next_before_sequence"]
    while cursor is not None:
        page = await api.history(owner, room_id, limit=4, before_sequence=cursor)
        seen += [m["sequence_number"] for m in page["messages"]]
        cursor = page["next_before_sequence"]
    assert seen == list(range(10, 0, -1))
    # `before` is exclusive: nothing is strictly before the tied timestamp.
    assert (await api.history(owner, room_id, before="2025-11-17T10:00:00Z"))["messages"] == []


async def test_limit_is_clamped_and_below_one_is_422(api: Api) -> None:
    owner, room_id = await _room_with_messages(api, 3)
    assert len((await api.history(owner, room_id, limit=10_000))["messages"]) == 3
    r = await api.http.get(f"/api/rooms/{room_id}/messages", params={"limit": 0}, headers=owner.headers)  # type: ignore[attr-defined]
    assert r.status_code == 422
    r = await api.http.get(
        f"/api/rooms/{room_id}/messages", params={"before": "yesterday"}, headers=owner.headers
    )  # type: ignore[attr-defined]
    assert r.status_code == 422


async def test_display_name_falls_back_to_sender_id(api: Api, database_url: str) -> None:
    owner, room_id = await _room_with_messages(api, 1)
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute(
            "UPDATE incident_rooms SET last_seq = last_seq + 1 WHERE room_id = $1;", uuid.UUID(room_id)
        )
        await conn.execute(
            "INSERT INTO messages (message_id, room_id, sequence_number, sender_id, message_type, content) "
            "VALUES ($1, $2, 2, 'ghost@legacy.example', 'text', 'imported')",
            uuid.uuid4(),
            uuid.UUID(room_id),
        )
    finally:
        await conn.close()
    messages = (await api.history(owner, room_id))["messages"]
    assert messages[0]["sender_display_name"] == "ghost@legacy.example"
    assert messages[1]["sender_display_name"] == owner.display_name  # type: ignore[attr-defined]
    assert set(messages[1]) >= {
        "message_id",
        "room_id",
        "sender_id",
        "sender_display_name",
        "content",
        "message_type",
        "mentions",
        "file_id",
        "file_url",
        "client_id",
        "created_at",
        "edited_at",
        "deleted_at",
        "sequence_number",
        "reactions",
    }


async def test_history_tells_each_reader_which_reactions_are_theirs(api: Api) -> None:
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    a = await api.connect(owner, room_id)
    b = await api.connect(editor, room_id)
    first = await a.send_message("pressure 4.2 bar")
    second = await a.send_message("valve closed")
    for ws, emoji in ((a, "👍"), (b, "👍"), (b, "🔥")):
        await ws.send({"type": "add_reaction", "message_id": first["message_id"], "emoji": emoji})
        await ws.next("reaction_added")
    await b.send({"type": "remove_reaction", "message_id": first["message_id"], "emoji": "👍"})
    await b.next("reaction_removed")

    def mine(page: dict, message_id: str) -> list[str]:
        (m,) = [m for m in page["messages"] if m["message_id"] == message_id]
        return m["my_reactions"]

    for params in ({}, {"after_sequence": 0}):
        owners = await api.history(owner, room_id, **params)
        editors = await api.history(editor, room_id, **params)
        assert mine(owners, first["message_id"]) == ["👍"]
        assert mine(editors, first["message_id"]) == ["🔥"]
        assert mine(owners, second["message_id"]) == [] == mine(editors, second["message_id"])
        # The counts are everyone's, as before.
        (m,) = [m for m in owners["messages"] if m["message_id"] == first["message_id"]]
        assert m["reactions"] == {"👍": 1, "🔥": 1}
