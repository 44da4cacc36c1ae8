"""Urgent messages on the wire (docs/alerts.md): `priority` validated, stored and returned;
`ack_urgent` / `POST /api/messages/{id}/acknowledge` idempotent and members only; every member's
room sockets and user streams get `urgent_acknowledged`; the room's paging settings and the
member opt-in over REST. The repeats themselves are tested with a worker in tests/workers."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clients import Api

pytestmark = pytest.mark.asyncio


async def test_bad_priorities_are_refused_and_store_nothing(api: Api) -> None:
    alice = await api.user("alice")
    room = await api.room(alice)
    ws = await api.connect(alice, room)
    for bad in ("URGENT", "high", 1, True, [], {"p": 1}, ""):
        await ws.send({"type": "message", "content": "pump 3 down", "priority": bad, "client_id": f"c{bad!r}"})
        err = await ws.next("error", "ack")
        assert err["type"] == "error" and err["code"] == "invalid", (bad, err)
        assert "priority" in err["message"]
    assert (await api.history(alice, room))["messages"] == []
    await ws.close()


async def test_priority_is_stored_and_returned_live_and_in_history(api: Api) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    room = await api.room_with(alice, (bob, "EDITOR"))
    a = await api.connect(alice, room)
    b = await api.connect(bob, room)
    urgent_ack = await a.send_message("line 3 stopped: come now", priority="urgent", mentions=[bob.user_id])
    normal_ack = await a.send_message("update: fitter on the way")
    default_ack = await a.send_message("explicit normal", priority="normal")
    null_ack = await a.send_message("null is normal", priority=None)
    live = await b.sequenced(4)
    assert [(f["priority"], f.get("acknowledgements")) for f in live] == [
        ("urgent", []),
        ("normal", None),
        ("normal", None),
        ("normal", None),
    ]
    history = {m["message_id"]: m for m in (await api.history(bob, room))["messages"]}
    assert history[urgent_ack["message_id"]]["priority"] == "urgent"
    assert history[urgent_ack["message_id"]]["acknowledgements"] == []
    for ack in (normal_ack, default_ack, null_ack):
        assert history[ack["message_id"]]["priority"] == "normal"
        assert "acknowledgements" not in history[ack["message_id"]]
    # Replay (resume with since) carries it too.
    c = await api.connect(bob, room, since=0)
    await c.next("sync_complete")
    replayed = [f for f in c.frames if f.get("type") == "message"]
    assert [f["priority"] for f in replayed] == ["urgent", "normal", "normal", "normal"]
    for ws in (a, b, c):
        await ws.close()


async def test_acknowledgement_reaches_every_member_and_is_idempotent(api: Api) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    carol = await api.user("carol")
    room = await api.room_with(alice, (bob, "EDITOR"), (carol, "VIEWER"))
    a = await api.connect(alice, room)
    carol_stream = await api.stream(carol)
    sent = await a.send_message("@bob pump 3 down", priority="urgent", mentions=[bob.user_id])
    mid = sent["message_id"]
    b = await api.connect(bob, room)

    # Bob acknowledges on his room socket (a VIEWER may acknowledge too: any member).
    await b.send({"type": "ack_urgent", "message_id": mid})
    for ws in (a, b, carol_stream):
        frame = await ws.next("urgent_acknowledged")
        assert frame["message_id"] == mid and frame["user_id"] == bob.user_id
        assert frame["room_id"] == room and frame["display_name"] == bob.display_name
        assert frame["at"].endswith("Z")
    at = frame["at"]

    # Again, by REST: the same acknowledgement, and nothing broadcast.
    r = await api.http.post(f"/api/messages/{mid}/acknowledge", headers=bob.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "message_id": mid,
        "room_id": room,
        "user_id": bob.user_id,
        "display_name": bob.display_name,
        "at": at,
    }
    # Carol (VIEWER) acknowledges by REST: 201, and everyone sees it.
    r = await api.http.post(f"/api/messages/{mid}/acknowledge", headers=carol.headers)
    assert r.status_code == 201, r.text
    frame = await a.next("urgent_acknowledged")
    assert frame["user_id"] == carol.user_id  # not a second frame for Bob's repeat
    history = {m["message_id"]: m for m in (await api.history(alice, room))["messages"]}
    acks = history[mid]["acknowledgements"]
    assert [(x["user_id"], x["display_name"]) for x in acks] == [
        (bob.user_id, bob.display_name),
        (carol.user_id, carol.display_name),
    ]
    assert acks[0]["at"] == at
    for ws in (a, b, carol_stream):
        await ws.close()


async def test_acknowledging_what_cannot_be_acknowledged(api: Api) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    outsider = await api.user("outsider")
    room = await api.room_with(alice, (bob, "EDITOR"))
    other_room = await api.room(alice)
    a = await api.connect(alice, room)
    plain = (await a.send_message("normal update"))["message_id"]
    urgent = (await a.send_message("urgent", priority="urgent"))["message_id"]
    gone = (await a.send_message("urgent, deleted", priority="urgent"))["message_id"]
    await a.send({"type": "delete_message", "message_id": gone})
    await a.next("message_deleted")

    b = await api.connect(bob, room)
    cases = [
        ({"type": "ack_urgent", "message_id": plain}, "invalid"),
        ({"type": "ack_urgent"}, "invalid"),
        ({"type": "ack_urgent", "message_id": "not-a-uuid"}, "invalid"),
        ({"type": "ack_urgent", "message_id": "6f1c7d1e-0000-4000-8000-000000000000"}, "not_found"),
        ({"type": "ack_urgent", "message_id": gone}, "forbidden"),
    ]
    for frame, code in cases:
        await b.send(frame)
        err = await b.next("error")
        assert err["code"] == code, (frame, err)
    # A message of another room, on this room's socket: not_found.
    o = await api.connect(alice, other_room)
    elsewhere = (await o.send_message("other room", priority="urgent"))["message_id"]
    await b.send({"type": "ack_urgent", "message_id": elsewhere})
    assert (await b.next("error"))["code"] == "not_found"

    # REST: a non-member is refused, an unknown message is 404, a plain one 400.
    r = await api.http.post(f"/api/messages/{urgent}/acknowledge", headers=outsider.headers)
    assert r.status_code == 403
    r = await api.http.post("/api/messages/6f1c7d1e-0000-4000-8000-000000000000/acknowledge", headers=bob.headers)
    assert r.status_code == 404
    r = await api.http.post(f"/api/messages/{plain}/acknowledge", headers=bob.headers)
    assert r.status_code == 400
    r = await api.http.post(f"/api/messages/{urgent}/acknowledge")
    assert r.status_code == 401
    # Nothing was stored by any of these.
    history = {m["message_id"]: m for m in (await api.history(alice, room))["messages"]}
    assert history[urgent]["acknowledgements"] == []
    for ws in (a, b, o):
        await ws.close()


async def test_room_settings_and_opt_in(api: Api, base_env: dict[str, str]) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    outsider = await api.user("outsider")
    room = await api.room_with(alice, (bob, "EDITOR"))
    r = await api.http.get(f"/api/rooms/{room}/urgent", headers=bob.headers)
    assert r.status_code == 200
    defaults = r.json()
    assert defaults["room_id"] == room and defaults["alerts"] is False
    assert defaults["max_repeats"] >= 0 and defaults["repeat_seconds"] >= 1
    assert defaults["escalate_after"] is None and defaults["escalate_to"] is None

    # Only the OWNER changes the schedule; bad values change nothing.
    r = await api.http.patch(f"/api/rooms/{room}/urgent", json={"repeat_seconds": 300}, headers=bob.headers)
    assert r.status_code == 403
    for bad in ({"repeat_seconds": 0}, {"repeat_seconds": "60"}, {"max_repeats": -1}, {"max_repeats": 10_000},
                {"repeat_seconds": 10**9}, {"colour": "red"}, {}):
        r = await api.http.patch(f"/api/rooms/{room}/urgent", json=bad, headers=alice.headers)
        assert r.status_code == 400, (bad, r.text)
    r = await api.http.get(f"/api/rooms/{room}/urgent", headers=alice.headers)
    assert {k: v for k, v in r.json().items() if k != "alerts"} == {
        k: v for k, v in defaults.items() if k != "alerts"
    }
    r = await api.http.patch(
        f"/api/rooms/{room}/urgent", json={"repeat_seconds": 300, "max_repeats": 2}, headers=alice.headers
    )
    assert r.status_code == 200 and (r.json()["repeat_seconds"], r.json()["max_repeats"]) == (300, 2)

    # Escalation: a member or a role; anything else changes nothing.
    for bad in ({"escalate_after": 0}, {"escalate_to": outsider.user_id}, {"escalate_to": "role:ADMIN"},
                {"escalate_to": 5}, {"escalate_to": ""}):
        r = await api.http.patch(f"/api/rooms/{room}/urgent", json=bad, headers=alice.headers)
        assert r.status_code == 400, (bad, r.text)
    r = await api.http.patch(
        f"/api/rooms/{room}/urgent", json={"escalate_after": 1, "escalate_to": bob.user_id.upper()}, headers=alice.headers
    )
    assert r.status_code == 200
    assert (r.json()["escalate_after"], r.json()["escalate_to"]) == (1, bob.user_id)
    r = await api.http.patch(f"/api/rooms/{room}/urgent", json={"escalate_to": "role:OWNER"}, headers=alice.headers)
    assert r.json()["escalate_to"] == "role:OWNER" and r.json()["repeat_seconds"] == 300
    r = await api.http.patch(f"/api/rooms/{room}/urgent", json={"escalate_after": None}, headers=alice.headers)
    assert r.json()["escalate_after"] is None and r.json()["escalate_to"] == "role:OWNER"

    # Each member opts in for themselves.
    r = await api.http.put(f"/api/rooms/{room}/urgent/alerts", json={"alerts": True}, headers=bob.headers)
    assert r.status_code == 200 and r.json()["alerts"] is True
    assert (await api.http.get(f"/api/rooms/{room}/urgent", headers=alice.headers)).json()["alerts"] is False
    for bad in ({"alerts": "yes"}, {}, {"alerts": True, "x": 1}):
        r = await api.http.put(f"/api/rooms/{room}/urgent/alerts", json=bad, headers=bob.headers)
        assert r.status_code == 400
    r = await api.http.put(f"/api/rooms/{room}/urgent/alerts", json={"alerts": True}, headers=outsider.headers)
    assert r.status_code == 403
    assert (await api.http.get(f"/api/rooms/{room}/urgent", headers=outsider.headers)).status_code == 403


async def test_sync_since_time_replays_acknowledgements_made_while_away(api: Api) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    carol = await api.user("carol")
    room = await api.room_with(alice, (bob, "EDITOR"), (carol, "VIEWER"))
    a = await api.connect(alice, room)
    early = (await a.send_message("@bob pump 3 down", priority="urgent", mentions=[bob.user_id]))["message_id"]
    late = (await a.send_message("@bob pump 4 down", priority="urgent", mentions=[bob.user_id]))["message_id"]
    r = await api.http.post(f"/api/messages/{early}/acknowledge", headers=carol.headers)
    assert r.status_code == 201, r.text

    # Given Carol's client caught up (after her own acknowledgement) and then went away,
    c = await api.connect(carol, room)
    await c.send({"type": "sync", "since": 0})
    checkpoint = (await c.next("sync_complete"))["server_time"]
    last_seen = max(f["sequence_number"] for f in c.frames if f.get("type") == "message")
    await c.close()
    # when Bob acknowledges both pages while she is away,
    for mid in (early, late):
        r = await api.http.post(f"/api/messages/{mid}/acknowledge", headers=bob.headers)
        assert r.status_code == 201, r.text
    # then her catch-up sync brings exactly those two acknowledgements, before sync_complete.
    back = await api.connect(carol, room)
    await back.send({"type": "sync", "since": last_seen, "since_time": checkpoint})
    await back.next("sync_complete")
    replayed = [f for f in back.frames if f.get("type") == "urgent_acknowledged"]
    assert sorted((f["message_id"], f["user_id"]) for f in replayed) == sorted(
        [(early, bob.user_id), (late, bob.user_id)]
    )
    history = {m["message_id"]: m for m in (await api.history(carol, room))["messages"]}
    for f in replayed:
        assert f["room_id"] == room and f["display_name"] == bob.display_name
        ack = next(x for x in history[f["message_id"]]["acknowledgements"] if x["user_id"] == bob.user_id)
        assert f["at"] == ack["at"]
    # Nothing else changed, so nothing else is replayed.
    changes = {"message", "message_edited", "message_deleted", "reaction_added", "reaction_removed", "urgent_acknowledged"}
    assert [f["type"] for f in back.frames if f.get("type") in changes] == ["urgent_acknowledged"] * 2, back.frames
    for ws in (a, back):
        await ws.close()


async def test_members_acknowledging_at_once_all_succeed(api: Api) -> None:
    # Each acknowledgement also moves the message's updated_at: under a shared row lock two of
    # them would each wait for the other's (a deadlock, one 500); the update lock queues them.
    alice = await api.user("alice")
    crew = [await api.user(f"fitter{i}") for i in range(6)]
    room = await api.room_with(alice, *((u, "EDITOR") for u in crew))
    a = await api.connect(alice, room)
    mid = (await a.send_message("all hands: line 3 stopped", priority="urgent"))["message_id"]
    answers = await asyncio.gather(
        *(api.http.post(f"/api/messages/{mid}/acknowledge", headers=u.headers) for u in crew)
    )
    assert [r.status_code for r in answers] == [201] * len(crew), [r.text for r in answers]
    history = {m["message_id"]: m for m in (await api.history(alice, room))["messages"]}
    assert sorted(x["user_id"] for x in history[mid]["acknowledgements"]) == sorted(u.user_id for u in crew)
    await a.close()
