"""A room list names the people of a system event: stored events keep their names, and a
system preview carries the event (`preview.system`) with them, alike on `GET /api/rooms`, the
user stream's `connected` and its live `room_activity` (docs/user-stream.md)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from tests.integration.ws.test_bot_previews import _activity, _rest_preview
from tests.support.clients import Api, User, WsClient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alerts"


async def _snapshot_preview(api: Api, user: User, room_id: str) -> dict[str, Any]:
    stream = await api.stream(user)
    try:
        assert stream.connected is not None
        entry = next(e for e in stream.connected["rooms"] if e["room_id"] == room_id)
        preview: dict[str, Any] = entry["preview"]
        return preview
    finally:
        await stream.close()


async def _same_everywhere(api: Api, user: User, room_id: str, live: dict[str, Any]) -> None:
    """REST and a new stream's snapshot (the read-back after a reconnect) say what the live frame said."""
    assert await _rest_preview(api, user, room_id) == live
    assert await _snapshot_preview(api, user, room_id) == live


async def _live_after(api: Api, stream: WsClient, user: User, room_id: str, response: Any, status: int) -> dict[str, Any]:
    """The live preview once the change `response` answered has reached the stream."""
    assert response.status_code == status, response.text
    seq = (await api.history(user, room_id, limit=1))["messages"][0]["sequence_number"]
    preview: dict[str, Any] = (await _activity(stream, room_id, seq))["preview"]
    return preview


async def test_system_previews_name_people_on_every_path(api: Api) -> None:
    owner = await api.user("owner", display_name="Ana Wu")
    me = await api.user("me", display_name="Bob Chen")
    carol = await api.user("carol", display_name="Carol 林")
    room = await api.room_with(owner, (me, "EDITOR"))
    stream = await api.stream(me)
    try:
        # member_added: the live system frame itself carries the names.
        ws = await api.connect(me, room)
        await api.add_member(owner, room, carol, "VIEWER")
        frame = await ws.next("system")
        assert (frame["user_display_name"], frame["actor_display_name"]) == ("Carol 林", "Ana Wu")
        await ws.close()
        live = (await _activity(stream, room, frame["sequence_number"]))["preview"]
        assert live["message_type"] == "system" and live["sender_id"] == owner.user_id
        assert live["sender_display_name"] == "Ana Wu" and live["sender_is_bot"] is False
        assert live["content"] == "Carol 林 was added as VIEWER by Ana Wu"
        assert live["system"] == {
            "event": "member_added",
            "user_id": carol.user_id,
            "actor_id": owner.user_id,
            "role": "VIEWER",
            "user_display_name": "Carol 林",
            "actor_display_name": "Ana Wu",
        }
        await _same_everywhere(api, me, room, live)

        # member_role_changed
        r = await api.http.patch(f"/api/rooms/{room}/members/{carol.user_id}", json={"role": "EDITOR"}, headers=owner.headers)
        live = await _live_after(api, stream, me, room, r, 200)
        assert live["content"] == "Carol 林 is now EDITOR (changed by Ana Wu)"
        assert live["system"]["event"] == "member_role_changed" and live["system"]["role"] == "EDITOR"
        await _same_everywhere(api, me, room, live)

        # member_removed: the removed member's name stays on the event.
        r = await api.http.delete(f"/api/rooms/{room}/members/{carol.user_id}", headers=owner.headers)
        live = await _live_after(api, stream, me, room, r, 204)
        assert live["content"] == "Carol 林 was removed by Ana Wu"
        assert live["system"]["user_display_name"] == "Carol 林"
        await _same_everywhere(api, me, room, live)

        # room_status_changed
        r = await api.http.patch(f"/api/rooms/{room}", json={"status": "resolved"}, headers=owner.headers)
        live = await _live_after(api, stream, me, room, r, 200)
        assert live["content"] == "Ana Wu changed the room status from active to resolved"
        assert live["system"]["old_status"] == "active" and live["system"]["new_status"] == "resolved"
        assert live["sender_display_name"] == "Ana Wu"
        await _same_everywhere(api, me, room, live)
    finally:
        await stream.close()


async def test_an_event_stored_without_names_is_named_from_the_users_table(api: Api, database_url: str) -> None:
    owner = await api.user("owner", display_name="Ana Wu")
    me = await api.user("me", display_name="Bob Chen")
    carol = await api.user("carol", display_name="Carol 林")
    room = await api.room_with(owner, (me, "EDITOR"), (carol, "VIEWER"))
    r = await api.http.delete(f"/api/rooms/{room}/members/{carol.user_id}", headers=owner.headers)
    assert r.status_code == 204, r.text
    removed = (await api.history(me, room, limit=1))["messages"][0]
    # As an event stored before events carried names.
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute(
            "UPDATE messages SET data = data - 'user_display_name' - 'actor_display_name' WHERE message_id = $1",
            uuid.UUID(removed["message_id"]),
        )
    finally:
        await conn.close()
    preview = await _rest_preview(api, me, room)
    assert preview["content"] == "Carol 林 was removed by Ana Wu"
    assert preview["sender_display_name"] == "Ana Wu"
    assert preview["system"] == {
        "event": "member_removed",
        "user_id": carol.user_id,
        "actor_id": owner.user_id,
        "user_display_name": "Carol 林",
        "actor_display_name": "Ana Wu",
    }
    assert await _snapshot_preview(api, me, room) == preview


async def test_a_resolved_alert_previews_its_title_not_its_text(api: Api) -> None:
    owner = await api.user("owner", display_name="Ana Wu")
    me = await api.user("me")
    room = await api.room_with(owner, (me, "EDITOR"))
    r = await api.http.post(f"/api/rooms/{room}/webhooks", json={"name": "Line 3 PLC"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    stream = await api.stream(me)
    try:
        resolved = json.loads((FIXTURES / "alertmanager_resolved.json").read_text())
        r = await api.http.post(url, json=resolved)
        assert r.status_code == 200, r.text
        live = (await _activity(stream, room, max(r.json()["sequence_numbers"])))["preview"]
        assert live["system"]["title"] and live["content"] == f"Resolved: {live['system']['title']}"
        assert live["sender_display_name"] == "Line 3 PLC" and live["sender_is_bot"] is False
        assert live["system"]["event"] == "alert_resolved" and "text" not in live["system"]
        assert live["system"]["actor_display_name"] == "Line 3 PLC"
        await _same_everywhere(api, me, room, live)
    finally:
        await stream.close()
