"""Input PostgreSQL cannot store is refused up front, and never fails another sender's message."""

from __future__ import annotations

import asyncio
import json

from tests.support.clients import Api


async def test_nul_in_a_message_is_refused_and_the_batch_goes_through(api: Api) -> None:
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    a, b = await api.connect(owner, room_id), await api.connect(editor, room_id)
    bad_frames = [
        {"type": "message", "content": "a\u0000b", "client_id": "bad-content"},
        {"type": "message", "content": "fine", "client_id": "bad\u0000id"},
        {"type": "message", "message_type": "incident_data", "content": {"k\u0000": 1}, "client_id": "bad-key"},
        {"type": "message", "message_type": "incident_data", "content": {"k": ["\u0000"]}, "client_id": "bad-val"},
    ]
    # Interleaved with good messages from another sender, so they would share batches.
    for i, bad in enumerate(bad_frames):
        await asyncio.gather(
            a.ws.send(json.dumps(bad)),
            b.send({"type": "message", "content": f"good {i}", "client_id": f"good-{i}"}),
        )
    errors = [await a.next("error") for _ in bad_frames]
    assert all(e["code"] == "invalid" and "NUL" in e["message"] for e in errors), errors
    acks = [await b.next("ack") for _ in bad_frames]
    assert [x["client_id"] for x in acks] == [f"good-{i}" for i in range(len(bad_frames))]
    ack = await a.send_message("still open")
    assert ack["type"] == "ack"
    # An edit to NUL content is refused the same way.
    await a.send({"type": "edit_message", "message_id": ack["message_id"], "content": "x\u0000"})
    assert (await a.next("error"))["code"] == "invalid"
    history = (await api.history(owner, room_id))["messages"]
    assert sorted(m["content"] for m in history if m["message_type"] == "text") == sorted(
        [f"good {i}" for i in range(len(bad_frames))] + ["still open"]
    )
    await a.close()
    await b.close()


async def test_nul_and_huge_numbers_in_rest_are_422(api: Api) -> None:
    owner = await api.user("owner")
    r = await api.http.post("/api/rooms", json={"title": "a\u0000b"}, headers=owner.headers)
    assert r.status_code == 422, r.text
    r = await api.http.post("/api/auth/login", json={"email": "x\u0000@y.z", "password": "whatever1"})
    assert r.status_code == 422, r.text
    room_id = await api.room(owner)
    for params in ({"after_sequence": str(2**64)}, {"before_sequence": str(-(2**70))}):
        r = await api.http.get(f"/api/rooms/{room_id}/messages", params=params, headers=owner.headers)
        assert r.status_code == 422, (params, r.text)
    r = await api.http.post(f"/api/rooms/{room_id}/read", json={"sequence_number": 2**70}, headers=owner.headers)
    assert r.status_code == 422, r.text
    rooms = (await api.http.get("/api/rooms", headers=owner.headers)).json()["rooms"]
    assert all("\u0000" not in r["title"] for r in rooms)
