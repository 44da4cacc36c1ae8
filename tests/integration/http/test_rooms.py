"""Rooms and members: role rules, bad input, stored system events."""

from __future__ import annotations

import uuid

from tests.support.clients import Api


async def test_create_and_list_rooms(api: Api) -> None:
    alice = await api.user("alice")
    r = await api.http.post(
        "/api/rooms", json={"title": "Line 3 reflow oven", "description": "temp alarm"}, headers=alice.headers
    )
    assert r.status_code == 201
    room = r.json()
    assert room["role"] == "OWNER" and room["status"] == "active" and room["unread_count"] == 0
    rooms = (await api.http.get("/api/rooms", headers=alice.headers)).json()["rooms"]
    assert [x["room_id"] for x in rooms] == [room["room_id"]]
    assert set(rooms[0]) >= {
        "room_id",
        "title",
        "description",
        "status",
        "role",
        "created_at",
        "last_message_at",
        "unread_count",
    }


async def test_room_input_is_validated(api: Api) -> None:
    alice = await api.user("alice")
    for body in ({}, {"title": ""}, {"title": "x" * 201}, {"title": 5}, {"title": "ok", "description": 3}):
        r = await api.http.post("/api/rooms", json=body, headers=alice.headers)
        assert r.status_code == 400, body
    assert (await api.http.get("/api/rooms", headers=alice.headers)).json()["rooms"] == []


async def test_non_members_get_no_room_data(api: Api) -> None:
    alice, mallory = await api.user("alice"), await api.user("mallory")
    room_id = await api.room(alice)
    for path in ("", "/members", "/messages"):
        r = await api.http.get(f"/api/rooms/{room_id}{path}", headers=mallory.headers)
        assert r.status_code in (403, 404)
        assert "title" not in r.text
    assert (await api.http.get(f"/api/rooms/{uuid.uuid4()}", headers=alice.headers)).status_code == 404
    assert (await api.http.get("/api/rooms/not-a-uuid", headers=alice.headers)).status_code in (400, 404)


async def test_only_owner_or_admin_manages_members_and_status(api: Api) -> None:
    owner, editor, viewer, admin = (
        await api.user("owner"),
        await api.user("ed"),
        await api.user("vi"),
        await api.user("adm", admin=True),
    )
    room_id = await api.room_with(owner, (editor, "EDITOR"), (viewer, "VIEWER"))
    newcomer = await api.user("new")
    for who in (editor, viewer):
        assert (
            await api.http.post(
                f"/api/rooms/{room_id}/members",
                json={"user_id": newcomer.user_id, "role": "VIEWER"},
                headers=who.headers,
            )
        ).status_code == 403
        assert (
            await api.http.patch(f"/api/rooms/{room_id}", json={"status": "resolved"}, headers=who.headers)
        ).status_code == 403
        assert (
            await api.http.delete(f"/api/rooms/{room_id}/members/{owner.user_id}", headers=who.headers)
        ).status_code == 403
    r = await api.http.post(
        f"/api/rooms/{room_id}/members",
        json={"user_id": newcomer.user_id, "role": "VIEWER"},
        headers=admin.headers,
    )
    assert r.status_code == 201
    assert (
        await api.http.patch(
            f"/api/rooms/{room_id}/members/{newcomer.user_id}", json={"role": "EDITOR"}, headers=owner.headers
        )
    ).json()["role"] == "EDITOR"
    assert (
        await api.http.delete(f"/api/rooms/{room_id}/members/{newcomer.user_id}", headers=owner.headers)
    ).status_code == 204
    assert (await api.http.get(f"/api/rooms/{room_id}", headers=admin.headers)).json()["role"] == "OWNER"


async def test_member_input_errors(api: Api) -> None:
    owner, other = await api.user("owner"), await api.user("other")
    room_id = await api.room(owner)
    cases = [
        ({"user_id": "not-an-email", "role": "EDITOR"}, 400),
        ({"user_id": other.user_id, "role": "GOD"}, 400),
        ({"user_id": "ghost@example.com", "role": "EDITOR"}, 404),
    ]
    for body, status in cases:
        assert (
            await api.http.post(f"/api/rooms/{room_id}/members", json=body, headers=owner.headers)
        ).status_code == status
    await api.add_member(owner, room_id, other)
    dup = await api.http.post(
        f"/api/rooms/{room_id}/members",
        json={"user_id": other.user_id, "role": "EDITOR"},
        headers=owner.headers,
    )
    assert dup.status_code == 409
    last_owner = await api.http.delete(f"/api/rooms/{room_id}/members/{owner.user_id}", headers=owner.headers)
    assert last_owner.status_code == 409


async def test_status_change_posts_a_sequenced_system_message(api: Api) -> None:
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    r = await api.http.patch(f"/api/rooms/{room_id}", json={"status": "resolved"}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert (
        await api.http.patch(f"/api/rooms/{room_id}", json={"status": "bogus"}, headers=owner.headers)
    ).status_code == 400
    messages = (await api.history(owner, room_id))["messages"]
    assert [m["sequence_number"] for m in messages] == [2, 1]
    status_msg = messages[0]
    assert status_msg["message_type"] == "system" and status_msg["sender_id"] == owner.user_id
    assert status_msg["content"] == {
        "event": "room_status_changed",
        "user_id": owner.user_id,
        "actor_id": owner.user_id,
        "old_status": "active",
        "new_status": "resolved",
    }
    # The names at the time of the event (an extension beside `content`, which keeps the
    # contract's keys): for lists that do not know the room's members.
    assert messages[0]["names"] == {owner.user_id: owner.display_name}
    added = messages[1]["content"]
    assert added == {"event": "member_added", "user_id": editor.user_id, "actor_id": owner.user_id, "role": "EDITOR"}
    assert messages[1]["names"] == {editor.user_id: editor.display_name, owner.user_id: owner.display_name}


async def test_unread_count_and_read_marker(api: Api) -> None:
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    ws = await api.connect(owner, room_id)
    for i in range(3):
        await ws.send_message(f"reading {i}")
    await ws.close()
    rooms = {
        r["room_id"]: r for r in (await api.http.get("/api/rooms", headers=editor.headers)).json()["rooms"]
    }
    # member_added (system) + 3 messages from the owner
    assert rooms[room_id]["unread_count"] == 4
    assert (
        await api.http.post(f"/api/rooms/{room_id}/read", json={"sequence_number": 3}, headers=editor.headers)
    ).status_code == 204
    assert (
        await api.http.post(f"/api/rooms/{room_id}/read", json={"sequence_number": 1}, headers=editor.headers)
    ).status_code == 204
    rooms = {
        r["room_id"]: r for r in (await api.http.get("/api/rooms", headers=editor.headers)).json()["rooms"]
    }
    assert rooms[room_id]["unread_count"] == 1
    assert (
        await api.http.post(
            f"/api/rooms/{room_id}/read", json={"sequence_number": "x"}, headers=editor.headers
        )
    ).status_code == 400
