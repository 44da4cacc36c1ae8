"""The user stream `/ws`: the room list, mentions and read markers live across rooms (docs/user-stream.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import websockets

from tests.support.clients import Api, User, WsClient
from tests.support.servers import ServerProcess


def _room(frame: dict[str, Any], room_id: str) -> dict[str, Any]:
    return next(r for r in frame["rooms"] if r["room_id"] == room_id)


async def _activity(stream: WsClient, room_id: str, seq: int, timeout: float = 10.0) -> dict[str, Any]:
    """The first room_activity of `room_id` that reached `seq` (bursts may be coalesced)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await stream.next("room_activity", timeout=max(0.01, deadline - loop.time()))
        if frame["room_id"] == room_id and frame["last_sequence_number"] >= seq:
            return frame


async def test_connected_lists_my_rooms_with_counts_and_previews(api: Api) -> None:
    owner = await api.user("owner", display_name="Shift Lead")
    me = await api.user("me")
    busy = await api.room_with(owner, (me, "EDITOR"))
    quiet = await api.room_with(owner, (me, "VIEWER"))
    foreign = await api.room(owner)
    ws = await api.connect(owner, busy)
    await ws.send_message("first")
    await ws.send_message(f"@{me.user_id} please check line 3", mentions=[me.user_id])
    await ws.close()

    stream = await api.stream(me)
    connected = stream.connected
    assert connected is not None
    assert connected["user_id"] == me.user_id
    assert connected["server_time"].endswith("Z")
    ids = [r["room_id"] for r in connected["rooms"]]
    assert set(ids) == {busy, quiet}
    assert foreign not in ids
    assert ids[0] == busy  # most recently active first
    entry = _room(connected, busy)
    # member_added (me) is a system event: it counts, and so do the two messages.
    assert entry["last_sequence_number"] == 3
    assert entry["unread_count"] == 3
    assert entry["unread_mentions"] == 1
    assert entry["role"] == "EDITOR"
    assert entry["status"] == "active"
    assert entry["preview"]["content"].endswith("please check line 3")
    assert entry["preview"]["sender_display_name"] == "Shift Lead"
    assert _room(connected, quiet)["role"] == "VIEWER"
    # The REST room list agrees.
    rooms = (await api.http.get("/api/rooms", headers=me.headers)).json()["rooms"]
    rest = next(r for r in rooms if r["room_id"] == busy)
    assert rest["unread_count"] == 3 and rest["unread_mentions"] == 1
    assert rest["preview"] == entry["preview"]
    await stream.close()


async def test_activity_and_mention_from_another_room_reach_the_stream(api: Api) -> None:
    owner = await api.user("owner")
    me = await api.user("me")
    room = await api.room_with(owner, (me, "EDITOR"))
    stream = await api.stream(me)
    ws = await api.connect(owner, room)
    ack = await ws.send_message("plain news")
    first = await _activity(stream, room, ack["sequence_number"])
    assert first["unread_count"] == 2  # member_added + the message
    assert first["unread_mentions"] == 0
    assert first["preview"]["content"] == "plain news"
    assert first["preview"]["message_id"] == ack["message_id"]
    assert first["last_message_at"] == ack["created_at"]

    ack = await ws.send_message(f"@{me.user_id} valve 7", mentions=[me.user_id])
    # Both arrive, in either order: the activity (local fan-out) and the mention (user channel).
    frames = [await stream.next("mention", "room_activity") for _ in range(2)]
    mention = next(f for f in frames if f["type"] == "mention")
    assert mention["room_id"] == room and mention["message_id"] == ack["message_id"]
    activity = next(f for f in frames if f["type"] == "room_activity")
    assert activity["last_sequence_number"] == ack["sequence_number"]
    assert activity["unread_count"] == 3 and activity["unread_mentions"] == 1

    # My own message in the room counts nothing for me.
    mine = await api.connect(me, room)
    own = await mine.send_message("on my way")
    activity = await _activity(stream, room, own["sequence_number"])
    assert activity["unread_count"] == 3
    assert activity["preview"]["sender_id"] == me.user_id
    await asyncio.gather(ws.close(), mine.close(), stream.close())


async def test_read_marker_on_another_device_updates_the_count(api: Api) -> None:
    owner = await api.user("owner")
    me = await api.user("me")
    room = await api.room_with(owner, (me, "EDITOR"))
    ws = await api.connect(owner, room)
    ack = await ws.send_message(f"@{me.user_id} hi", mentions=[me.user_id])
    stream = await api.stream(me)
    assert _room(stream.connected or {}, room)["unread_count"] == 2
    r = await api.http.post(
        f"/api/rooms/{room}/read", json={"sequence_number": ack["sequence_number"]}, headers=me.headers
    )
    assert r.status_code == 204
    frame = await stream.next("room_activity")
    assert frame["room_id"] == room
    assert frame["unread_count"] == 0 and frame["unread_mentions"] == 0
    assert frame["last_sequence_number"] == ack["sequence_number"]
    assert frame["preview"]["message_id"] == ack["message_id"]
    await asyncio.gather(ws.close(), stream.close())


async def test_membership_role_and_status_changes(api: Api) -> None:
    owner = await api.user("owner")
    me = await api.user("me")
    other = await api.room(owner, "Other line")
    stream = await api.stream(me)
    assert stream.connected is not None and stream.connected["rooms"] == []

    room = await api.room(owner, "Press 4")
    await api.add_member(owner, room, me, "VIEWER")
    added = await stream.next("room_added")
    assert added["room_id"] == room and added["title"] == "Press 4" and added["role"] == "VIEWER"

    r = await api.http.patch(f"/api/rooms/{room}/members/{me.user_id}", json={"role": "EDITOR"}, headers=owner.headers)
    assert r.status_code == 200
    changed = await stream.next("role_changed")
    assert changed == {"type": "role_changed", "room_id": room, "role": "EDITOR"}

    r = await api.http.patch(f"/api/rooms/{room}", json={"status": "resolved"}, headers=owner.headers)
    assert r.status_code == 200
    status = await stream.next("room_status_changed")
    assert status == {"type": "room_status_changed", "room_id": room, "status": "resolved"}

    r = await api.http.delete(f"/api/rooms/{room}/members/{me.user_id}", headers=owner.headers)
    assert r.status_code == 204
    removed = await stream.next("room_removed")
    assert removed == {"type": "room_removed", "room_id": room}

    # Nothing more about that room: traffic there, then in a room I join, shows only the latter.
    ws = await api.connect(owner, room)
    await ws.send_message(f"@{me.user_id} are you there?", mentions=[me.user_id])
    await api.add_member(owner, other, me, "EDITOR")
    other_ws = await api.connect(owner, other)
    ack = await other_ws.send_message("elsewhere")
    while True:
        frame = await stream.next()
        assert frame.get("room_id") != room, frame
        if frame["type"] == "room_activity" and frame["last_sequence_number"] >= ack["sequence_number"]:
            break
    await asyncio.gather(ws.close(), other_ws.close(), stream.close())


async def test_deleting_the_newest_message_rereads_the_preview(api: Api) -> None:
    owner = await api.user("owner")
    me = await api.user("me")
    room = await api.room_with(owner, (me, "EDITOR"))
    ws = await api.connect(owner, room)
    await ws.send_message("keep me")
    gone = await ws.send_message("delete me")
    stream = await api.stream(me)
    assert _room(stream.connected or {}, room)["unread_count"] == 3
    await ws.send({"type": "delete_message", "message_id": gone["message_id"]})
    frame = await stream.next("room_activity")
    assert frame["unread_count"] == 2
    assert frame["preview"]["content"] == "keep me"
    await asyncio.gather(ws.close(), stream.close())


async def test_ping_pong_errors_and_refusals(api: Api, server: ServerProcess) -> None:
    me = await api.user("me")
    stream = await api.stream(me)
    await stream.send({"type": "ping", "id": "hb-1"})
    pong = await stream.next("pong")
    assert pong["id"] == "hb-1" and pong["server_time"].endswith("Z")
    await stream.send({"type": "message", "content": "no room here"})
    error = await stream.next("error")
    assert error["code"] == "invalid"
    await stream.ws.send("not json")
    assert (await stream.next("error"))["code"] == "invalid"
    await stream.close()

    async with websockets.connect(f"{server.ws_url}/ws", open_timeout=10) as ws:
        with_code = await _close_code(ws)
    assert with_code == 4401
    headers = {**me.headers, "Origin": "http://evil.example"}
    async with websockets.connect(f"{server.ws_url}/ws", additional_headers=headers, open_timeout=10) as ws:
        assert await _close_code(ws) == 4403


async def test_room_socket_answers_ping(api: Api) -> None:
    owner = await api.user("owner")
    room = await api.room(owner)
    ws = await api.connect(owner, room)
    await ws.send({"type": "ping"})
    pong = await ws.next("pong")
    assert "id" not in pong
    await ws.close()


async def test_logout_closes_the_stream(api: Api) -> None:
    me = await api.user("me")
    stream = await api.stream(me)
    r = await api.http.post("/api/auth/logout", headers=me.headers)
    assert r.status_code == 204
    assert await stream.closed_with() == 4401


async def test_streams_across_two_processes_stay_ordered_and_authorised(
    api: Api, server_factory: Any, database_url: str
) -> None:
    """Senders on one process, streams on another: every room's activity in order, none after removal."""
    other = server_factory()
    remote = Api(other.base_url, database_url)
    try:
        owner = await api.user("owner")
        users = [await api.user(f"u{i}") for i in range(3)]
        rooms = [await api.room_with(owner, *((u, "EDITOR") for u in users)) for _ in range(3)]
        streams = [await remote.stream(u) for u in users]
        senders = [await api.connect(owner, r) for r in rooms]
        last: dict[str, int] = {}
        for n in range(10):
            for room, ws in zip(rooms, senders, strict=True):
                await ws.send({"type": "message", "content": f"m{n}", "client_id": f"{room}-{n}"})
        for room, ws in zip(rooms, senders, strict=True):
            acks = [await ws.next("ack") for _ in range(10)]
            last[room] = max(a["sequence_number"] for a in acks)
        # Remove u0 from the first room, then send once more there.
        r = await api.http.delete(f"/api/rooms/{rooms[0]}/members/{users[0].user_id}", headers=owner.headers)
        assert r.status_code == 204
        after = await senders[0].send_message("after removal")
        for i, stream in enumerate(streams):
            seen: dict[str, int] = {}
            removed = False
            want = dict(last)
            if i == 0:
                want.pop(rooms[0])
            else:
                want[rooms[0]] = after["sequence_number"]
            while any(seen.get(r, 0) < s for r, s in want.items()) or (i == 0 and not removed):
                frame = await stream.next(timeout=15)
                if frame["type"] == "room_removed":
                    assert i == 0 and frame["room_id"] == rooms[0]
                    removed = True
                    continue
                if frame["type"] != "room_activity":
                    continue
                room_id = frame["room_id"]
                assert not (i == 0 and removed and room_id == rooms[0]), "activity after removal"
                assert frame["last_sequence_number"] > seen.get(room_id, 0), "out of order"
                seen[room_id] = frame["last_sequence_number"]
            if i == 0:
                assert seen.get(rooms[0], 0) < after["sequence_number"]
        await asyncio.gather(*(s.close() for s in streams), *(w.close() for w in senders))
    finally:
        await remote.aclose()


async def _close_code(ws: Any) -> int | None:
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


async def test_history_around_a_sequence_number(api: Api) -> None:
    owner = await api.user("owner")
    room = await api.room(owner)
    ws = await api.connect(owner, room)
    for i in range(30):
        await ws.send({"type": "message", "content": f"m{i}", "client_id": f"c{i}"})
    acks = [await ws.next("ack") for _ in range(30)]
    await ws.close()
    target = acks[14]["sequence_number"]
    page = await api.history(owner, room, around_sequence=target, limit=10)
    seqs = [m["sequence_number"] for m in page["messages"]]
    assert seqs == list(range(target - 4, target + 6))
    assert page["has_more_before"] and page["has_more_after"] and page["has_more"]
    older = await api.history(owner, room, before_sequence=page["next_before_sequence"], limit=200)
    assert older["messages"][0]["sequence_number"] == target - 5
    newer = await api.history(owner, room, after_sequence=page["next_after_sequence"], limit=200)
    assert newer["messages"][0]["sequence_number"] == target + 6
    edge = await api.history(owner, room, around_sequence=acks[-1]["sequence_number"], limit=10)
    assert not edge["has_more_after"] and edge["messages"][-1]["sequence_number"] == acks[-1]["sequence_number"]
    for bad in ("-1", "x", str(2**70)):
        r = await api.http.get(f"/api/rooms/{room}/messages", params={"around_sequence": bad}, headers=owner.headers)
        assert r.status_code == 422, (bad, r.text)
    r = await api.http.get(
        f"/api/rooms/{room}/messages", params={"around_sequence": "3", "after_sequence": "1"}, headers=owner.headers
    )
    assert r.status_code == 422


async def test_mentions_carry_room_title_and_unread(api: Api) -> None:
    owner = await api.user("owner")
    me: User = await api.user("me")
    room = await api.room_with(owner, (me, "EDITOR"))
    ws = await api.connect(owner, room)
    first = await ws.send_message(f"@{me.user_id} one", mentions=[me.user_id])
    await ws.send_message(f"@{me.user_id} two", mentions=[me.user_id])
    await ws.close()
    body = (await api.http.get("/api/mentions", headers=me.headers)).json()
    assert body["unread_total"] == 2
    assert [m["unread"] for m in body["messages"]] == [True, True]
    assert body["messages"][0]["room_title"] == "Line 3 incident"
    await api.http.post(f"/api/rooms/{room}/read", json={"sequence_number": first["sequence_number"]}, headers=me.headers)
    body = (await api.http.get("/api/mentions", headers=me.headers)).json()
    assert body["unread_total"] == 1
    assert [m["unread"] for m in body["messages"]] == [True, False]


async def test_a_lost_membership_message_is_repaired_by_the_periodic_check(
    server_factory, database_url: str
) -> None:
    """A membership written without its pub/sub message (as if Redis dropped it) still reaches the stream."""
    import uuid as uuidlib

    import asyncpg

    srv = server_factory(WS_PING_INTERVAL="1")
    local = Api(srv.base_url, database_url)
    try:
        owner, me = await local.user("owner"), await local.user("me")
        room = await local.room(owner, "Silent add")
        gone = await local.room_with(owner, (me, "EDITOR"))
        stream = await local.stream(me)
        assert [r["room_id"] for r in (stream.connected or {})["rooms"]] == [gone]
        pg = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            await pg.execute(
                "INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, 'VIEWER')",
                uuidlib.UUID(room),
                me.user_id,
            )
            await pg.execute(
                "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2", uuidlib.UUID(gone), me.user_id
            )
        finally:
            await pg.close()
        frames = [await stream.next("room_added", "room_removed", timeout=10) for _ in range(2)]
        assert {(f["type"], f["room_id"]) for f in frames} == {("room_added", room), ("room_removed", gone)}
        await stream.close()
    finally:
        await local.aclose()


async def test_mentions_page_exactly_with_the_cursor_when_timestamps_tie(api: Api) -> None:
    """A burst stored together shares its timestamp: paging by `before` skipped some; `cursor` does not."""
    owner, me = await api.user("owner"), await api.user("me")
    room = await api.room_with(owner, (me, "EDITOR"))
    ws = await api.connect(owner, room)
    for i in range(25):
        await ws.send({"type": "message", "content": f"@{me.user_id} m{i}", "mentions": [me.user_id], "client_id": f"c{i}"})
    acks = [await ws.next("ack") for _ in range(25)]
    await ws.close()
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        body = (await api.http.get("/api/mentions", params=params, headers=me.headers)).json()
        seen += [m["message_id"] for m in body["messages"]]
        cursor = body["next_cursor"]
        assert (cursor is None) == (not body["has_more"])
        if cursor is None:
            break
    by_seq = sorted(acks, key=lambda a: -a["sequence_number"])
    assert seen == [a["message_id"] for a in by_seq], "every mention once, newest first"
    r = await api.http.get("/api/mentions", params={"cursor": "not-a-cursor"}, headers=me.headers)
    assert r.status_code == 422


async def test_a_new_member_hears_nothing_from_before_joining_even_when_its_process_lags(
    api: Api, server_factory, database_url: str
) -> None:
    """The process holding the new member's stream has not yet delivered a message committed just
    before the membership (its publish was lost): room_added must still start at the join."""
    from tests.integration.ws.test_ordering import _commit_without_publish

    other = server_factory()
    remote = Api(other.base_url, database_url)
    try:
        owner, watcher, carol = await api.user("owner"), await api.user("w"), await api.user("carol")
        room = await api.room_with(owner, (watcher, "EDITOR"))
        follower = await remote.stream(watcher)  # the other process follows the room
        ws = await api.connect(owner, room)
        last = (await ws.send_message("before anything"))["sequence_number"]
        await _activity(follower, room, last)
        stream = await remote.stream(carol)
        # Committed, never published: the other process learns of it only from its gap fill.
        await _commit_without_publish(database_url, room, owner.user_id, "before carol joined")
        await api.add_member(owner, room, carol, "EDITOR")
        joined = last + 2  # the unpublished message, then member_added
        added = await stream.next("room_added")
        assert added["room_id"] == room and added["last_sequence_number"] >= joined, added
        assert added["unread_count"] == 1, "history from before the membership is not unread"
        assert added["preview"]["message_type"] == "system"
        ack = await ws.send_message("welcome")
        while True:
            frame = await stream.next("room_activity")
            assert frame["last_sequence_number"] > joined - 1
            if frame["last_sequence_number"] >= ack["sequence_number"]:
                break
        await asyncio.gather(ws.close(), stream.close(), follower.close())
    finally:
        await remote.aclose()
