"""Sending messages: validation, roles, ack and broadcast, idempotency, limits."""

from __future__ import annotations

import asyncio
import io
import uuid

from tests.support.clients import Api


async def test_ack_then_own_message_then_others_receive(api: Api) -> None:
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    a, b = await api.connect(owner, room_id), await api.connect(editor, room_id)
    await a.send(
        {
            "type": "message",
            "content": "Equipment temperature rising to 85°C",
            "message_type": "text",
            "client_id": "k1",
        }
    )
    ack = await a.next("ack", "message")
    assert ack["type"] == "ack" and ack["client_id"] == "k1" and ack["sequence_number"] == 2
    own = await a.next("message")
    assert own["message_id"] == ack["message_id"]
    seen = await b.next("message")
    assert seen["content"] == "Equipment temperature rising to 85°C"
    assert seen["sender_display_name"] == owner.display_name and seen["sequence_number"] == 2
    uuid.UUID(seen["message_id"])
    assert seen["created_at"].endswith("Z") and len(seen["created_at"]) == 24


async def test_viewer_cannot_send_and_archived_room_refuses(api: Api) -> None:
    owner, viewer = await api.user("owner"), await api.user("vi")
    room_id = await api.room_with(owner, (viewer, "VIEWER"))
    v = await api.connect(viewer, room_id)
    await v.send({"type": "message", "content": "hi", "client_id": "v1"})
    err = await v.next("error")
    assert err["code"] == "forbidden" and err["client_id"] == "v1"
    a = await api.connect(owner, room_id)
    await api.http.patch(f"/api/rooms/{room_id}", json={"status": "archived"}, headers=owner.headers)
    await a.next("system")
    await a.send({"type": "message", "content": "too late", "client_id": "late"})
    err = await a.next("error")
    assert err["code"] == "forbidden"
    assert [m["sequence_number"] for m in (await api.history(owner, room_id))["messages"]] == [2, 1]
    # The refused batch reserved no number: reopened, the room goes on without a gap.
    await api.http.patch(f"/api/rooms/{room_id}", json={"status": "active"}, headers=owner.headers)
    ack = await a.send_message("back on line", client_id="late")
    assert ack["sequence_number"] == 4
    assert [m["sequence_number"] for m in (await api.history(owner, room_id))["messages"]] == [4, 3, 2, 1]


async def test_bad_frames_get_error_frames_and_the_socket_stays_open(api: Api) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    a = await api.connect(owner, room_id)
    cases = [
        ("{not json", "invalid"),
        ('{"type": "launch_rockets"}', "invalid"),
        ('{"type": "message", "content": 5}', "invalid"),
        ('{"type": "message", "content": ""}', "invalid"),
        ('{"type": "message", "content": "x", "message_type": "system"}', "invalid"),
        ('{"type": "message", "content": "x", "message_type": "image_ref"}', "invalid"),
        (
            '{"type": "message", "content": "x", "message_type": "file_ref", "file_id": "'
            + str(uuid.uuid4())
            + '"}',
            "invalid",
        ),
        ('{"type": "message", "content": "' + "x" * 10_001 + '"}', "too_large"),
        (
            '{"type": "message", "content": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "message_type": "incident_data"}',
            "invalid",
        ),
        ('{"type": "message", "content": "x", "client_id": "' + "c" * 65 + '"}', "invalid"),
        ('{"type": "message", "content": "x", "mentions": "bob"}', "invalid"),
        ("[" * 10_000 + "]" * 10_000, "invalid"),
        ("[1, 2]", "invalid"),
    ]
    for raw, code in cases:
        await a.ws.send(raw)
        err = await a.next("error", "ack")
        assert err["type"] == "error" and err["code"] == code, (raw[:60], err)
    ok = await a.send_message("still here")
    assert ok["sequence_number"] == 1


async def test_incident_data_is_stored_as_json(api: Api) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    a = await api.connect(owner, room_id)
    data = {"temperature": 85, "pressure": 120, "production_rate": 450, "timestamp": "2025-11-17T10:15:00Z"}
    ack = await a.send_message(data, message_type="incident_data")
    msg = await a.next("message")
    assert (
        msg["content"] == data
        and msg["message_type"] == "incident_data"
        and msg["message_id"] == ack["message_id"]
    )
    assert (await api.history(owner, room_id))["messages"][0]["content"] == data
    big = {"k": "x" * (16 * 1024)}
    await a.send({"type": "message", "content": big, "message_type": "incident_data"})
    assert (await a.next("error"))["code"] == "too_large"


async def test_repeated_client_id_is_stored_once(api: Api) -> None:
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    a = await api.connect(owner, room_id)
    first = await a.send_message("once", client_id="same-id")
    second = await a.send_message("once again", client_id="same-id")
    assert (
        second["message_id"] == first["message_id"] and second["sequence_number"] == first["sequence_number"]
    )
    # Another connection of the same user, and concurrently, still stores it once.
    b = await api.connect(owner, room_id)
    await asyncio.gather(
        *(c.send({"type": "message", "content": "race", "client_id": "race-id"}) for c in (a, b, a, b))
    )
    acks = [await c.next("ack") for c in (a, a, b, b)]
    assert len({ack["message_id"] for ack in acks}) == 1
    history = (await api.history(owner, room_id))["messages"]
    assert [m["client_id"] for m in history].count("race-id") == 1
    assert [m["client_id"] for m in history].count("same-id") == 1
    # The same client_id from another sender is another message.
    e = await api.connect(editor, room_id)
    other = await e.send_message("mine", client_id="same-id")
    assert other["message_id"] != first["message_id"]


async def test_mentions_keep_members_only_and_parse_display_names(api: Api) -> None:
    owner = await api.user("owner")
    maint = await api.user("maint", display_name="Maintenance Team")
    outsider = await api.user("out")
    room_id = await api.room_with(owner, (maint, "VIEWER"))
    m = await api.connect(maint, room_id)
    a = await api.connect(owner, room_id)
    await a.send_message("@Maintenance Team please check Line 3", mentions=[outsider.user_id, "NOT-AN-ID"])
    msg = await a.next("message")
    assert msg["mentions"] == [maint.user_id]
    mention = await m.next("mention")
    assert mention["room_id"] == room_id and mention["message_id"] == msg["message_id"]
    assert mention["sender_display_name"] == owner.display_name and "Line 3" in mention["preview"]
    mentioned = await api.http.get(f"/api/rooms/{room_id}/messages", headers=owner.headers)
    assert mentioned.json()["messages"][0]["mentions"] == [maint.user_id]


async def test_oversized_frame_closes_with_1009(api: Api) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    a = await api.connect(owner, room_id)
    await a.ws.send('{"type":"message","content":"' + "x" * (70 * 1024) + '"}')
    assert await a.closed_with() == 1009


async def test_rate_limit_refuses_then_closes_with_1008(api: Api, server_factory) -> None:
    srv = server_factory(RATE_LIMIT_PER_SECOND="2", RATE_LIMIT_BURST="3")
    from tests.support.clients import Api as _Api

    local = _Api(srv.base_url, api._db.engine.url.render_as_string(hide_password=False))
    try:
        owner = await local.user("owner")
        room_id = await local.room(owner)
        a = await local.connect(owner, room_id)
        for i in range(3):
            await a.send_message(f"ok {i}")
        await a.send({"type": "message", "content": "one too many", "client_id": "x"})
        err = await a.next("error")
        assert err["code"] == "rate_limited" and err["client_id"] == "x"
        for i in range(15):
            await a.send({"type": "message", "content": f"flood {i}", "client_id": f"f{i}"})
        # Every frame answered before the close reaches the client, then the 1008.
        answers: list[dict] = []
        try:
            while True:
                answers.append(await a.next("ack", "error"))
        except Exception:
            pass
        assert a.ws.close_code == 1008
        stored = (await local.history(owner, room_id))["messages"]
        acked = {f["client_id"] for f in answers if f["type"] == "ack"}
        assert acked == {m["client_id"] for m in stored if m["content"].startswith("flood")}
        refused = [f for f in answers if f["type"] == "error"]
        assert refused and all(f["code"] == "rate_limited" for f in refused)
        assert len(refused) >= 5 * 2, "the refusals that led to the close were answered"
        # Refill at 2/s during a sub-second flood admits at most a couple.
        assert len([m for m in stored if m["content"].startswith("flood")]) <= 3
    finally:
        await local.aclose()


async def test_rate_limit_holds_across_processes(api: Api, server_factory, database_url: str) -> None:
    """One user sending to one room through two processes shares one bucket, not one per process."""
    from tests.support.clients import Api as _Api

    first = server_factory(RATE_LIMIT_PER_SECOND="1", RATE_LIMIT_BURST="6")
    second = server_factory(RATE_LIMIT_PER_SECOND="1", RATE_LIMIT_BURST="6")
    one, two = _Api(first.base_url, database_url), _Api(second.base_url, database_url)
    try:
        owner = await one.user("owner")
        room_id = await one.room(owner)
        a, b = await one.connect(owner, room_id), await two.connect(owner, room_id)
        for ws, name in ((a, "a"), (b, "b")):
            for i in range(4):  # each process alone would take all four
                await ws.send({"type": "message", "content": f"{name}{i}", "client_id": f"{name}{i}"})
        outcomes = [await ws.next("ack", "error") for ws in (a, b) for _ in range(4)]
        acked = [f for f in outcomes if f["type"] == "ack"]
        refused = [f for f in outcomes if f["type"] == "error"]
        assert all(f["code"] == "rate_limited" for f in refused)
        # The burst (6) plus at most one token refilled at 1/s while the eight were sent.
        assert 6 <= len(acked) <= 7, outcomes
        stored = (await one.history(owner, room_id))["messages"]
        assert len(stored) == len(acked)
        # A resend of a stored client_id is answered with its ack, and costs no token.
        await a.send({"type": "message", "content": "a0", "client_id": "a0"})
        again = await a.next("ack", "error")
        assert again["type"] == "ack" and again["message_id"] == next(
            m["message_id"] for m in stored if m["client_id"] == "a0"
        )
        await a.close()
        await b.close()
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_steady_senders_lease_is_held_in_redis_and_given_back_when_the_server_stops(
    api: Api, server_factory, database_url: str, redis_prefix: str
) -> None:
    """A sender who keeps sending is served from a lease, which the shared bucket records as this
    process's holding; no holding outlives the process (a stopped server gives it back)."""
    from redis.asyncio import Redis

    from tests.conftest import redis_url
    from tests.support.clients import Api as _Api

    srv = server_factory(RATE_LIMIT_PER_SECOND="100", RATE_LIMIT_BURST="400")
    local = _Api(srv.base_url, database_url)
    redis = Redis.from_url(redis_url(), decode_responses=True)
    try:
        owner = await local.user("owner")
        room_id = await local.room(owner)
        key = f"{redis_prefix}:rl:{{{room_id}}}:{owner.user_id}"
        a = await local.connect(owner, room_id)
        held: list[str] = []
        for i in range(50):  # each waits for its ack: a steady sender, seen again within 0.3 s
            await a.send_message(f"m{i}")
            held = [f for f in await redis.hkeys(key) if f.startswith("l:")]
            if held:
                break
        assert held, "a steady sender's takes lease tokens"
        await a.close()
        await asyncio.to_thread(srv.stop)
        fields = await redis.hgetall(key)
        # Redis leaves a lapsed holding in the hash until the next script call: gone means given back.
        assert not [f for f in fields if f.startswith("l:")], fields
        assert float(fields["tk"]) >= 400 - 50
    finally:
        await redis.aclose()
        await local.aclose()


async def test_upload_file_and_reference_it(api: Api) -> None:
    owner, other_owner = await api.user("owner"), await api.user("other")
    room_id = await api.room(owner)
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 40
    r = await api.http.post(
        f"/api/rooms/{room_id}/files",
        files={"file": ("defect.png", io.BytesIO(png), "text/plain")},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["content_type"] == "image/png" and info["file_url"] == f"/api/files/{info['file_id']}"
    a = await api.connect(owner, room_id)
    await a.send_message("Defect found on product", message_type="image_ref", file_id=info["file_id"])
    msg = await a.next("message")
    assert msg["file_url"] == f"/api/files/{info['file_id']}"
    got = await api.http.get(msg["file_url"], headers=owner.headers)
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png"
    assert (
        got.headers["content-disposition"].startswith("inline")
        and got.headers["x-content-type-options"] == "nosniff"
    )
    assert (await api.http.get(msg["file_url"], headers=other_owner.headers)).status_code in (403, 404)
    html = b"<html><script>alert(1)</script></html>"
    r2 = await api.http.post(
        f"/api/rooms/{room_id}/files",
        files={"file": ("報告.html", io.BytesIO(html), "image/png")},
        headers=owner.headers,
    )
    assert r2.status_code == 201 and r2.json()["content_type"] == "text/plain"
    got2 = await api.http.get(r2.json()["file_url"], headers=owner.headers)
    assert (
        got2.headers["content-disposition"].startswith("attachment")
        and "filename*=UTF-8''%E5%A0%B1%E5%91%8A.html" in got2.headers["content-disposition"]
    )
    assert got2.headers["content-type"] == "application/octet-stream"
    other_room = await api.room(other_owner)
    b = await api.connect(other_owner, other_room)
    await b.send(
        {"type": "message", "content": "steal", "message_type": "image_ref", "file_id": info["file_id"]}
    )
    assert (await b.next("error"))["code"] == "invalid"
