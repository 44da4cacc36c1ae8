"""A room list shows a bot sender as such: `sender_is_bot` on the previews of the user stream
(`connected`, `room_activity`) and of `GET /api/rooms` (docs/user-stream.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.support.clients import Api, User, WsClient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alerts"


async def _activity(stream: WsClient, room_id: str, seq: int, timeout: float = 10.0) -> dict[str, Any]:
    """The first room_activity of `room_id` that reached `seq` (bursts may be coalesced)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await stream.next("room_activity", timeout=max(0.01, deadline - loop.time()))
        if frame["room_id"] == room_id and frame["last_sequence_number"] >= seq:
            return frame


async def _rest_preview(api: Api, user: User, room_id: str) -> dict[str, Any]:
    rooms = (await api.http.get("/api/rooms", headers=user.headers)).json()["rooms"]
    preview: dict[str, Any] = next(r for r in rooms if r["room_id"] == room_id)["preview"]
    return preview


async def test_previews_say_whether_the_sender_is_a_bot(api: Api) -> None:
    owner = await api.user("owner")
    me = await api.user("me")
    room = await api.room_with(owner, (me, "EDITOR"))
    r = await api.http.post(f"/api/rooms/{room}/webhooks", json={"name": "Line 3 PLC", "resolve_room": True}, headers=owner.headers)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    stream = await api.stream(me)

    # A person's message: not a bot, live and in the list.
    ws = await api.connect(owner, room)
    ack = await ws.send_message("checking the press")
    person = (await _activity(stream, room, ack["sequence_number"]))["preview"]
    assert person["sender_is_bot"] is False and person["sender_id"] == owner.user_id
    assert (await _rest_preview(api, me, room))["sender_is_bot"] is False

    # The webhook's bot: `sender_is_bot` true on the live preview, the REST list and a new stream.
    r = await api.http.post(url, json={"title": "Press 4 pressure high", "text": "212 bar"})
    assert r.status_code == 200, r.text
    live = (await _activity(stream, room, max(r.json()["sequence_numbers"])))["preview"]
    assert live["sender_is_bot"] is True and live["sender_display_name"] == "Line 3 PLC"
    rest = await _rest_preview(api, me, room)
    assert rest == live
    again = await api.stream(me)
    assert again.connected is not None
    entry = next(e for e in again.connected["rooms"] if e["room_id"] == room)
    assert entry["preview"] == live

    # A system event the bot posts (the alert resolved, the room resolved) is listed without a
    # sender: false, live and in the list alike.
    resolved = json.loads((FIXTURES / "alertmanager_resolved.json").read_text())
    r = await api.http.post(url, json=resolved)
    assert r.status_code == 200 and r.json()["room_resolved"] is True, r.text
    reader = await api.history(me, room, limit=1)
    last = reader["messages"][0]
    assert last["message_type"] == "system" and last["sender_is_bot"] is True
    status = (await _activity(stream, room, last["sequence_number"]))["preview"]
    assert status["message_type"] == "system" and status["sender_is_bot"] is False
    rest = await _rest_preview(api, me, room)
    assert (rest["message_id"], rest["sender_is_bot"]) == (status["message_id"], False)
    await asyncio.gather(ws.close(), stream.close(), again.close())
