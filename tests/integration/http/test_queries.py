"""GET /api/mentions and GET /api/rooms/{id}/incident-data."""

from __future__ import annotations

from tests.support.clients import Api


async def test_mentions_across_rooms_and_only_readable_ones(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob", display_name="Bob Chen")
    r1 = await api.room_with(alice, (bob, "EDITOR"))
    r2 = await api.room_with(alice, (bob, "VIEWER"))
    a1, a2 = await api.connect(alice, r1), await api.connect(alice, r2)
    m1 = await a1.send_message("@Bob Chen check Line 3")
    await a1.send_message("no mention here")
    m2 = await a2.send_message("pinging you", mentions=[bob.user_id])
    r = await api.http.get("/api/mentions", headers=bob.headers)
    assert r.status_code == 200
    ids = [m["message_id"] for m in r.json()["messages"]]
    assert ids == [m2["message_id"], m1["message_id"]]
    page = (await api.http.get("/api/mentions", params={"limit": 1}, headers=bob.headers)).json()
    assert page["has_more"] is True and len(page["messages"]) == 1
    rest = (
        await api.http.get("/api/mentions", params={"before": page["next_before"]}, headers=bob.headers)
    ).json()
    assert [m["message_id"] for m in rest["messages"]] == [m1["message_id"]]
    # Removed from room 2: its mention disappears.
    await api.http.delete(f"/api/rooms/{r2}/members/{bob.user_id}", headers=alice.headers)
    ids = [
        m["message_id"] for m in (await api.http.get("/api/mentions", headers=bob.headers)).json()["messages"]
    ]
    assert ids == [m1["message_id"]]
    assert (await api.http.get("/api/mentions", headers=alice.headers)).json()["messages"] == []


async def test_incident_data_series(api: Api) -> None:
    alice, stranger = await api.user("alice"), await api.user("stranger")
    room_id = await api.room(alice)
    ws = await api.connect(alice, room_id)
    for t, p in ((80, 110), (85, 120), (91, 130)):
        await ws.send_message(
            {"temperature": t, "pressure": p, "oven": {"zone1": t + 1}}, message_type="incident_data"
        )
    await ws.send_message({"temperature": "hot"}, message_type="incident_data")
    await ws.send_message("temperature 99 in text does not count")
    r = await api.http.get(
        f"/api/rooms/{room_id}/incident-data", params={"field": "temperature"}, headers=alice.headers
    )
    assert r.status_code == 200
    points = r.json()["points"]
    assert [p["value"] for p in points] == [80, 85, 91]
    assert set(points[0]) == {"message_id", "sequence_number", "created_at", "value"}
    r = await api.http.get(
        f"/api/rooms/{room_id}/incident-data",
        params={"field": "temperature", "gte": 85, "lte": 90},
        headers=alice.headers,
    )
    assert [p["value"] for p in r.json()["points"]] == [85]
    r = await api.http.get(
        f"/api/rooms/{room_id}/incident-data", params={"field": "oven.zone1"}, headers=alice.headers
    )
    assert [p["value"] for p in r.json()["points"]] == [81, 86, 92]
    r = await api.http.get(
        f"/api/rooms/{room_id}/incident-data",
        params={"field": "temperature", "after": points[0]["created_at"]},
        headers=alice.headers,
    )
    assert [p["value"] for p in r.json()["points"]] == [85, 91]
    for bad in (
        {"field": "x'); DROP TABLE messages;--"},
        {},
        {"field": "temperature", "gte": "nan"},
        {"field": "temperature", "after": "soon"},
    ):
        assert (
            await api.http.get(f"/api/rooms/{room_id}/incident-data", params=bad, headers=alice.headers)
        ).status_code == 422
    assert (
        await api.http.get(
            f"/api/rooms/{room_id}/incident-data", params={"field": "temperature"}, headers=stranger.headers
        )
    ).status_code in (403, 404)
