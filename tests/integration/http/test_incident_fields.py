"""Flexible incident data: `_units` beside the readings, the room's numeric fields, units in series."""

from __future__ import annotations

from typing import Any

from tests.support.clients import Api


async def test_units_are_stored_listed_and_returned_with_the_series(api: Api) -> None:
    alice, stranger = await api.user("alice"), await api.user("stranger")
    room_id = await api.room(alice)
    ws = await api.connect(alice, room_id)
    await ws.send_message(
        {"temperature": 85, "line": "L3", "_units": {"temperature": "°C"}}, message_type="incident_data"
    )
    await ws.send_message(
        {"temperature": 88, "振動": 4.2, "pressure": 120, "_units": {"temperature": "K", "振動": "mm/s"}},
        message_type="incident_data",
    )
    gone = await ws.send_message({"humidity": 50}, message_type="incident_data")
    await ws.send({"type": "delete_message", "message_id": gone["message_id"]})
    await ws.next("message_deleted")

    r = await api.http.get(f"/api/rooms/{room_id}/incident-data/fields", headers=alice.headers)
    assert r.status_code == 200, r.text
    fields = {f["field"]: f for f in r.json()["fields"]}
    # Numbers only (`line` is text), deleted messages left out, the latest unit wins.
    assert set(fields) == {"temperature", "pressure", "振動"}
    assert fields["temperature"]["count"] == 2 and fields["temperature"]["unit"] == "K"
    assert fields["振動"]["unit"] == "mm/s" and fields["pressure"]["unit"] is None

    series = await api.http.get(
        f"/api/rooms/{room_id}/incident-data", params={"field": "振動"}, headers=alice.headers
    )
    assert series.status_code == 200, series.text
    body: dict[str, Any] = series.json()
    assert body["unit"] == "mm/s" and [p["value"] for p in body["points"]] == [4.2]

    for path in ("incident-data/fields", "incident-data?field=temperature"):
        r = await api.http.get(f"/api/rooms/{room_id}/{path}", headers=stranger.headers)
        assert r.status_code in (403, 404)


async def test_malformed_units_are_refused_and_change_nothing(api: Api) -> None:
    alice = await api.user("alice")
    room_id = await api.room(alice)
    ws = await api.connect(alice, room_id)
    for bad in (
        {"temperature": 85, "_units": "°C"},
        {"temperature": 85, "_units": {"pressure": "kPa"}},  # a field the data does not have
        {"temperature": 85, "_units": {"temperature": 3}},
        {"temperature": 85, "_units": {"temperature": "x" * 33}},
        {"temperature": 85, "_units": {"temperature": " "}},
    ):
        await ws.send({"type": "message", "message_type": "incident_data", "content": bad, "client_id": "c"})
        frame = await ws.next("ack", "error")
        assert frame["type"] == "error" and frame["code"] == "invalid", (bad, frame)
    ok = await ws.send_message(
        {"temperature": 85, "_units": {"temperature": "°C"}}, message_type="incident_data"
    )
    # An edit is validated the same way.
    await ws.send({"type": "edit_message", "message_id": ok["message_id"], "content": {"t": 1, "_units": []}})
    frame = await ws.next("message_edited", "error")
    assert frame["type"] == "error" and frame["code"] == "invalid"
    history = await api.http.get(f"/api/rooms/{room_id}/messages", headers=alice.headers)
    [message] = history.json()["messages"]
    assert message["content"] == {"temperature": 85, "_units": {"temperature": "°C"}}
