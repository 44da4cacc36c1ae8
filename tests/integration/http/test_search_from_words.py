"""`from:` takes any word of a display name, and a rejected query says why (422)."""

from __future__ import annotations

from typing import Any

from tests.integration.http.test_search_endpoint import _index_room
from tests.support.clients import Api


async def test_from_accepts_any_word_of_a_display_name(api: Api, database_url: str) -> None:
    alice = await api.user("alice", display_name="Alice Wang")
    maint = await api.user("maint", display_name="Maintenance Team")
    chen = await api.user("chen", display_name="王大明")
    room = await api.room_with(alice, (maint, "EDITOR"), (chen, "EDITOR"))
    for user, text in (
        (alice, "pump inspected by alice"),
        (maint, "pump bearing replaced"),
        (chen, "pump 壓力 normal"),
    ):
        ws = await api.connect(user, room)
        await ws.send_message(text)
        await ws.close()
    await _index_room(database_url, room)

    async def senders(q: str) -> list[str]:
        r = await api.http.get("/api/search/messages", params={"q": q}, headers=alice.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return sorted(h["sender_id"] for h in body["hits"])

    assert await senders("from:Maintenance pump") == [maint.user_id]
    assert await senders("from:team pump") == [maint.user_id]
    assert await senders('from:"Maintenance Team" pump') == [maint.user_id]
    assert await senders("from:大明 pump") == [chen.user_id]
    assert await senders("from:maint pump") == []  # a word, not a prefix
    assert await senders("from:wang from:team pump") == sorted([alice.user_id, maint.user_id])
    assert await senders("from:%") == []  # LIKE wildcards are literal


async def test_a_rejected_query_is_a_422_with_a_readable_reason(api: Api) -> None:
    alice = await api.user("alice")
    r = await api.http.get("/api/search/messages", params={"q": "has:video pump"}, headers=alice.headers)
    assert r.status_code == 422
    assert "has: takes image, file or data" in r.json()["detail"]
