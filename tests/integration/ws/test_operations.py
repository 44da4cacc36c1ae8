"""Edit, delete, reactions, typing, presence, health, live permissions, since_time sync."""

from __future__ import annotations

import asyncio
import uuid

import websockets

from tests.support.clients import Api, WsClient


async def _pair(api: Api) -> tuple[object, object, str, WsClient, WsClient]:
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    a, b = await api.connect(owner, room_id), await api.connect(editor, room_id)
    await a.next("presence")
    return owner, editor, room_id, a, b


async def test_edit_own_message_broadcasts_and_keeps_the_original(api: Api) -> None:
    owner, editor, room_id, a, b = await _pair(api)
    ack = await a.send_message("Equipment temperature rising to 85°C")
    await b.next("message")
    await a.send(
        {
            "type": "edit_message",
            "message_id": ack["message_id"],
            "content": "Updated: Equipment temperature stabilized at 75°C",
        }
    )
    edited = await b.next("message_edited")
    assert (
        edited["content"].startswith("Updated")
        and edited["edited_at"] is not None
        and edited["sequence_number"] == ack["sequence_number"]
    )
    r = await api.http.get(
        f"/api/rooms/{room_id}/messages/{ack['message_id']}/history", headers=owner.headers
    )  # type: ignore[attr-defined]
    versions = r.json()["versions"]
    assert [v["content"] for v in versions] == [
        "Equipment temperature rising to 85°C",
        "Updated: Equipment temperature stabilized at 75°C",
    ]
    assert versions[0]["by"] == owner.user_id  # type: ignore[attr-defined]
    # The editor (not sender, not OWNER) may not read the history.
    r = await api.http.get(
        f"/api/rooms/{room_id}/messages/{ack['message_id']}/history", headers=editor.headers
    )  # type: ignore[attr-defined]
    assert r.status_code == 403


async def test_edit_rules(api: Api, server_factory, database_url: str) -> None:
    owner, _editor, room_id, a, b = await _pair(api)
    ack = await a.send_message("mine")
    other_room = await api.room(owner)  # type: ignore[arg-type]
    c = await api.connect(owner, other_room)  # type: ignore[arg-type]
    foreign = await c.send_message("elsewhere")
    cases = [
        (b, {"type": "edit_message", "message_id": ack["message_id"], "content": "hijack"}, "forbidden"),
        (a, {"type": "edit_message", "message_id": str(uuid.uuid4()), "content": "x"}, "not_found"),
        (a, {"type": "edit_message", "message_id": foreign["message_id"], "content": "x"}, "not_found"),
        (a, {"type": "edit_message", "message_id": "nope", "content": "x"}, "invalid"),
        (a, {"type": "edit_message", "message_id": ack["message_id"], "content": 7}, "invalid"),
        (a, {"type": "edit_message", "message_id": ack["message_id"], "content": "y" * 10_001}, "too_large"),
    ]
    for ws, frame, code in cases:
        await ws.send(frame)
        err = await ws.next("error")
        assert err["code"] == code, (frame, err)
    history = (await api.history(owner, room_id))["messages"]  # type: ignore[arg-type]
    assert history[0]["content"] == "mine" and history[0]["edited_at"] is None
    # System messages cannot be edited.
    system_id = history[-1]["message_id"]
    await a.send({"type": "edit_message", "message_id": system_id, "content": "x"})
    assert (await a.next("error"))["code"] == "forbidden"
    # A short window, measured by the database clock.
    srv = server_factory(EDIT_WINDOW_SECONDS="1")
    short = Api(srv.base_url, database_url)
    try:
        u = await short.user("quick")
        rid = await short.room(u)
        ws = await short.connect(u, rid)
        sent = await ws.send_message("typo")
        await ws.send({"type": "edit_message", "message_id": sent["message_id"], "content": "fixed"})
        assert (await ws.next("message_edited"))["content"] == "fixed"
        await asyncio.sleep(1.2)  # the window itself is what is under test
        await ws.send({"type": "edit_message", "message_id": sent["message_id"], "content": "too late"})
        assert (await ws.next("error"))["code"] == "edit_window_expired"
    finally:
        await short.aclose()


async def test_delete_by_sender_owner_or_admin(api: Api) -> None:
    owner, _editor, room_id, a, b = await _pair(api)
    admin = await api.user("root", admin=True)
    mine = await b.send_message("editor's message")
    await b.next("message")
    await b.send({"type": "delete_message", "message_id": (await a.send_message("owner's"))["message_id"]})
    assert (await b.next("error"))["code"] == "forbidden"
    await a.send({"type": "delete_message", "message_id": mine["message_id"]})
    deleted = await b.next("message_deleted")
    assert deleted["message_id"] == mine["message_id"] and deleted["deleted_by"] == owner.user_id  # type: ignore[attr-defined]
    assert deleted["sequence_number"] == mine["sequence_number"] and deleted["room_id"] == room_id
    await a.send({"type": "delete_message", "message_id": mine["message_id"]})
    assert (await a.next("error"))["code"] == "forbidden"
    history = (await api.history(owner, room_id))["messages"]  # type: ignore[arg-type]
    placeholder = next(m for m in history if m["message_id"] == mine["message_id"])
    assert placeholder["content"] is None and placeholder["deleted_at"] is not None
    third = await b.send_message("admin will delete")
    adm = await api.connect(admin, room_id)
    await adm.send({"type": "delete_message", "message_id": third["message_id"]})
    assert (await adm.next("message_deleted"))["message_id"] == third["message_id"]
    system_id = history[-1]["message_id"]
    await a.send({"type": "delete_message", "message_id": system_id})
    assert (await a.next("error"))["code"] == "forbidden"


async def test_reactions_aggregate_and_repeat_is_a_no_op(api: Api) -> None:
    owner, editor, room_id, a, b = await _pair(api)
    ack = await a.send_message("react to me")
    await b.next("message")
    await b.send({"type": "add_reaction", "message_id": ack["message_id"], "emoji": "👍"})
    added = await a.next("reaction_added")
    assert added == {
        "type": "reaction_added",
        "message_id": ack["message_id"],
        "emoji": "👍",
        "user_id": editor.user_id,
        "reactions": {"👍": 1},
    }  # type: ignore[attr-defined]
    assert (await b.next("reaction_added"))["reactions"] == {"👍": 1}  # its own, broadcast to all
    await a.send({"type": "add_reaction", "message_id": ack["message_id"], "emoji": "👍"})
    assert (await b.next("reaction_added"))["reactions"] == {"👍": 2}
    # A repeat changes nothing and broadcasts nothing: the next frame b sees is the ❤️.
    await a.send({"type": "add_reaction", "message_id": ack["message_id"], "emoji": "👍"})
    await a.send({"type": "add_reaction", "message_id": ack["message_id"], "emoji": "👨‍👩‍👧"})
    nxt = await b.next("reaction_added", "reaction_removed")
    assert nxt["emoji"] == "👨‍👩‍👧" and nxt["reactions"] == {"👍": 2, "👨‍👩‍👧": 1}
    await b.send({"type": "remove_reaction", "message_id": ack["message_id"], "emoji": "🎉"})
    await b.send({"type": "remove_reaction", "message_id": ack["message_id"], "emoji": "👍"})
    removed = await a.next("reaction_removed")
    assert removed["emoji"] == "👍" and removed["reactions"] == {"👍": 1, "👨‍👩‍👧": 1}
    for bad in ("", "ab", "👍👍", "x" * 40, 5, "<script>"):
        await b.send({"type": "add_reaction", "message_id": ack["message_id"], "emoji": bad})
        assert (await b.next("error"))["code"] == "invalid", bad
    history = (await api.history(owner, room_id))["messages"]  # type: ignore[arg-type]
    assert history[0]["reactions"] == {"👍": 1, "👨‍👩‍👧": 1}


async def test_typing_is_broadcast_to_others_and_cleared(api: Api, server_factory, database_url: str) -> None:
    srv = server_factory(TYPING_TIMEOUT="0.5")
    local = Api(srv.base_url, database_url)
    try:
        owner, editor = await local.user("owner"), await local.user("ed")
        room_id = await local.room_with(owner, (editor, "EDITOR"))
        a, b = await local.connect(owner, room_id), await local.connect(editor, room_id)
        await a.send({"type": "typing"})
        on = await b.next("typing")
        assert on == {
            "type": "typing",
            "user_id": owner.user_id,
            "display_name": owner.display_name,
            "is_typing": True,
        }
        off = await b.next("typing", timeout=5)
        assert off["is_typing"] is False and off["user_id"] == owner.user_id
        # Typing then sending: the message clears it.
        await a.send({"type": "typing", "is_typing": True})
        assert (await b.next("typing"))["is_typing"] is True
        await a.send_message("done typing")
        cleared = await b.next("typing", "message")
        if cleared["type"] == "message":
            cleared = await b.next("typing")
        assert cleared["is_typing"] is False
        # The typist never receives its own typing frames.
        assert all(f.get("type") != "typing" for f in a.frames)
        v = await local.user("viewer")
        await local.add_member(owner, room_id, v, "VIEWER")
        vs = await local.connect(v, room_id)
        await vs.send({"type": "typing"})
        assert (await vs.next("error"))["code"] == "forbidden"
    finally:
        await local.aclose()


async def test_unanswered_pings_close_the_socket_and_presence_drops(
    api: Api, server_factory, database_url: str
) -> None:
    srv = server_factory(WS_PING_INTERVAL="0.3", WS_PONG_TIMEOUT="0.3")
    local = Api(srv.base_url, database_url)
    try:
        owner, editor = await local.user("owner"), await local.user("ed")
        room_id = await local.room_with(owner, (editor, "EDITOR"))
        a = await local.connect(owner, room_id)
        # A raw client that never answers pings (automatic pongs off by not reading: ping_interval None, and
        # a transport that ignores pings is emulated by pausing reading).
        silent = await websockets.connect(
            f"{local.ws_base}/ws/{room_id}", additional_headers=editor.headers, ping_interval=None
        )
        silent.transport.pause_reading()  # type: ignore[attr-defined]
        await a.next("presence")
        left = await a.next("system", timeout=15)
        assert left["event"] == "user_left" and left["user_id"] == editor.user_id
        presence = await a.next("presence", timeout=10)
        assert [u["user_id"] for u in presence["online"]] == [owner.user_id]
        members = (await local.http.get(f"/api/rooms/{room_id}/members", headers=owner.headers)).json()[
            "members"
        ]
        assert {m["user_id"]: m["online"] for m in members} == {owner.user_id: True, editor.user_id: False}
        # The connected client answers pings and stays.
        await asyncio.sleep(1.0)  # several ping intervals pass; the live socket must survive them
        await a.send_message("still alive")
        silent.transport.resume_reading()  # type: ignore[attr-defined]
        await silent.close()
    finally:
        await local.aclose()


async def test_removed_member_is_closed_with_4403_and_role_change_applies_next_frame(api: Api) -> None:
    owner, editor, room_id, a, b = await _pair(api)
    r = await api.http.patch(
        f"/api/rooms/{room_id}/members/{editor.user_id}", json={"role": "VIEWER"}, headers=owner.headers
    )  # type: ignore[attr-defined]
    assert r.status_code == 200
    changed = await b.next("system")
    while changed.get("event") == "user_joined":  # the owner's, when its publish lagged b's connect
        changed = await b.next("system")
    assert changed["event"] == "member_role_changed" and changed["role"] == "VIEWER"
    await b.send({"type": "message", "content": "can I still write?"})
    assert (await b.next("error"))["code"] == "forbidden"
    await api.http.delete(f"/api/rooms/{room_id}/members/{editor.user_id}", headers=owner.headers)  # type: ignore[attr-defined]
    assert await b.closed_with() == 4403
    removal = await a.next("system")
    while removal.get("event") != "member_removed":
        removal = await a.next("system")
    assert removal["event"] == "member_removed" and removal["user_id"] == editor.user_id  # type: ignore[attr-defined]
    await a.send_message("after removal")
    assert all(f.get("content") != "after removal" for f in b.frames)


async def test_logout_closes_open_sockets_with_4401(api: Api) -> None:
    _owner, editor, _room_id, _a, b = await _pair(api)
    await api.http.post("/api/auth/logout", headers=editor.headers)  # type: ignore[attr-defined]
    assert await b.closed_with() == 4401


async def test_sync_since_time_brings_a_returning_client_to_the_server_state(api: Api) -> None:
    _owner, editor, room_id, a, b = await _pair(api)
    first = await a.send_message("to be edited")
    second = await a.send_message("to be deleted")
    third = await a.send_message("to get reactions")
    await b.sequenced(3)
    # The client's last `server_time`: the one of its sync_complete after catching up.
    await b.send({"type": "sync", "since": third["sequence_number"]})
    checkpoint = (await b.next("sync_complete"))["server_time"]
    last_seen = third["sequence_number"]
    await b.close()
    await a.send({"type": "edit_message", "message_id": first["message_id"], "content": "edited while away"})
    await a.send({"type": "delete_message", "message_id": second["message_id"]})
    await a.send({"type": "add_reaction", "message_id": third["message_id"], "emoji": "🔥"})
    await a.next("reaction_added")
    new = await a.send_message("new while away")
    back = await api.connect(editor, room_id)  # type: ignore[arg-type]
    await back.send({"type": "sync", "since": last_seen, "since_time": checkpoint})
    frames = []
    while True:
        f = await back.next(
            "message",
            "message_edited",
            "message_deleted",
            "reaction_added",
            "reaction_removed",
            "sync_complete",
        )
        if f["type"] == "sync_complete":
            break
        frames.append(f)
    by_type = {(f["type"], f.get("message_id")) for f in frames}
    assert ("message", new["message_id"]) in by_type
    assert ("message_edited", first["message_id"]) in by_type
    assert ("message_deleted", second["message_id"]) in by_type
    reaction = next(f for f in frames if f["type"] == "reaction_added")
    assert reaction["message_id"] == third["message_id"] and reaction["reactions"] == {"🔥": 1}
    # Nothing else: one frame per change, none for untouched messages.
    assert len(frames) == 4, frames


async def test_event_replay_matches_a_fresh_fetch(api: Api) -> None:
    """Zulip's verify_action: fetch state, act, apply the events, compare with a fresh fetch."""
    owner, _editor, room_id, a, b = await _pair(api)
    await a.send_message("seed")
    await b.sequenced(1)
    state = {m["message_id"]: m for m in (await api.history(owner, room_id, limit=200))["messages"]}  # type: ignore[arg-type]

    def apply(frame: dict) -> None:
        t = frame["type"]
        if t == "message":
            state[frame["message_id"]] = {k: v for k, v in frame.items() if k != "type"}
        elif t == "system" and "message_id" in frame:
            state[frame["message_id"]] = None  # compared by presence only; content shape differs by design
        elif t == "message_edited":
            state[frame["message_id"]] = {k: v for k, v in frame.items() if k != "type"}
        elif t == "message_deleted":
            m = state[frame["message_id"]]
            m.update(content=None, deleted_at=frame["deleted_at"])
        elif t in ("reaction_added", "reaction_removed"):
            state[frame["message_id"]]["reactions"] = frame["reactions"]

    acts = [
        ("message", {"type": "message", "content": "one"}),
        ("message", {"type": "message", "content": {"temperature": 85}, "message_type": "incident_data"}),
    ]
    acked = []
    for _, frame in acts:
        acked.append(
            await a.send_message(
                frame["content"], **{k: v for k, v in frame.items() if k not in ("type", "content")}
            )
        )
    await a.send({"type": "edit_message", "message_id": acked[0]["message_id"], "content": "one, edited"})
    await a.send({"type": "add_reaction", "message_id": acked[0]["message_id"], "emoji": "👍"})
    await b.send({"type": "add_reaction", "message_id": acked[0]["message_id"], "emoji": "👍"})
    await b.send({"type": "remove_reaction", "message_id": acked[0]["message_id"], "emoji": "👍"})
    await a.send({"type": "delete_message", "message_id": acked[1]["message_id"]})
    await api.http.patch(f"/api/rooms/{room_id}", json={"status": "resolved"}, headers=owner.headers)  # type: ignore[attr-defined]
    expected_events = 2 + 1 + 3 + 1 + 1
    seen = 0
    while seen < expected_events:
        frame = await b.next(
            "message", "message_edited", "message_deleted", "reaction_added", "reaction_removed", "system"
        )
        if frame["type"] == "system" and "message_id" not in frame:
            continue
        apply(frame)
        seen += 1
    fresh = {m["message_id"]: m for m in (await api.history(owner, room_id, limit=200))["messages"]}  # type: ignore[arg-type]
    assert set(fresh) == set(state)
    # The owner's own reaction is named in history (a per-reader extension), and so is who
    # reacted (history only: a client follows it from the frames' user_id); frames carry counts.
    assert fresh[acked[0]["message_id"]]["my_reactions"] == ["👍"]
    assert fresh[acked[0]["message_id"]]["reacted_by"] == {
        "👍": [{"user_id": owner.user_id, "display_name": owner.display_name}]  # type: ignore[attr-defined]
    }

    def counts_only(obj: dict) -> dict:
        return {k: v for k, v in obj.items() if k not in ("my_reactions", "reacted_by")}

    for mid, m in fresh.items():
        if m["message_type"] == "system":
            continue
        assert counts_only(state[mid]) == counts_only(m), mid
