"""Incoming webhooks on a real server: documented Alertmanager and Grafana payloads (fixtures in
tests/fixtures/alerts), a generic body, rooms per alert group, resolution, retries, refusals."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.integration.ops.support import wait_for_log
from tests.support.clients import Api, User

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alerts"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


async def make_hook(api: Api, owner: User, room_id: str, **body: Any) -> dict[str, Any]:
    r = await api.http.post(
        f"/api/rooms/{room_id}/webhooks", json={"name": "Prometheus", **body}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    hook: dict[str, Any] = r.json()
    return hook


async def deliver(api: Api, url: str, body: Any, **headers: str) -> Any:
    return await api.http.post(url, json=body, headers=headers)


async def posted(api: Api, user: User, room_id: str) -> list[dict[str, Any]]:
    """The room's messages from bots, oldest first (membership events left out)."""
    page = await api.history(user, room_id, limit=200)
    return [m for m in reversed(page["messages"]) if m["sender_is_bot"]]


async def db_rows(database_url: str, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_owner_creates_lists_and_revokes_and_the_secret_is_only_shown_once(
    api: Api, database_url: str
) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    hook = await make_hook(api, owner, room_id, mode="room_per_alert", resolve_room=True)
    assert set(hook) >= {"webhook_id", "name", "mode", "url"}
    assert hook["mode"] == "room_per_alert" and hook["resolve_room"] is True and hook["name"] == "Prometheus"
    secret = hook["url"].rsplit("/", 1)[1]
    assert hook["url"] == f"/api/hooks/{hook['webhook_id']}/{secret}" and len(secret) >= 40

    listed = (await api.http.get(f"/api/rooms/{room_id}/webhooks", headers=owner.headers)).json()["webhooks"]
    assert [h["webhook_id"] for h in listed] == [hook["webhook_id"]]
    assert "url" not in listed[0] and secret not in json.dumps(listed)
    stored = await db_rows(database_url, "SELECT secret_hash FROM webhooks WHERE webhook_id = $1", uuid.UUID(hook["webhook_id"]))
    assert secret.encode() not in bytes(stored[0]["secret_hash"]) and len(bytes(stored[0]["secret_hash"])) == 32

    r = await api.http.delete(f"/api/rooms/{room_id}/webhooks/{hook['webhook_id']}", headers=owner.headers)
    assert r.status_code == 204
    assert (await deliver(api, hook["url"], {"text": "after revocation"})).status_code == 404
    assert (await api.http.get(f"/api/rooms/{room_id}/webhooks", headers=owner.headers)).json()["webhooks"] == []
    again = await api.http.delete(f"/api/rooms/{room_id}/webhooks/{hook['webhook_id']}", headers=owner.headers)
    assert again.status_code == 404


async def test_only_owner_or_admin_manages_webhooks(api: Api) -> None:
    owner, editor, viewer, outsider, admin = (
        await api.user("owner"),
        await api.user("ed"),
        await api.user("vi"),
        await api.user("out"),
        await api.user("adm", admin=True),
    )
    room_id = await api.room_with(owner, (editor, "EDITOR"), (viewer, "VIEWER"))
    hook = await make_hook(api, owner, room_id)
    for who in (editor, viewer, outsider):
        base = f"/api/rooms/{room_id}/webhooks"
        assert (await api.http.post(base, json={"name": "x"}, headers=who.headers)).status_code == 403
        assert (await api.http.get(base, headers=who.headers)).status_code == 403
        assert (await api.http.delete(f"{base}/{hook['webhook_id']}", headers=who.headers)).status_code == 403
    listed = (await api.http.get(f"/api/rooms/{room_id}/webhooks", headers=owner.headers)).json()["webhooks"]
    assert len(listed) == 1
    made = await make_hook(api, admin, room_id)
    assert (
        await api.http.delete(f"/api/rooms/{room_id}/webhooks/{made['webhook_id']}", headers=admin.headers)
    ).status_code == 204
    for body in ({}, {"name": ""}, {"name": "x", "mode": "other"}, {"name": "x", "resolve_room": "yes"}, {"name": "x", "extra": 1}):
        r = await api.http.post(f"/api/rooms/{room_id}/webhooks", json=body, headers=owner.headers)
        assert r.status_code == 400, body
    assert len((await api.http.get(f"/api/rooms/{room_id}/webhooks", headers=owner.headers)).json()["webhooks"]) == 1


async def test_alertmanager_firing_posts_summary_and_incident_data_as_the_bot(api: Api, database_url: str) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    hook = await make_hook(api, owner, room_id)
    ws = await api.connect(owner, room_id)
    try:
        r = await deliver(api, hook["url"], payload("alertmanager_firing"))
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["duplicate"] is False and answer["room_id"] == room_id and answer["room_created"] is False
        live = await ws.sequenced(2)
    finally:
        await ws.close()
    assert [f["message_id"] for f in live] == answer["message_ids"]
    summary, data = live
    assert summary["message_type"] == "text" and data["message_type"] == "incident_data"
    assert data["sequence_number"] == summary["sequence_number"] + 1
    for frame in live:
        assert frame["sender_is_bot"] is True and frame["sender_display_name"] == "Prometheus"
    assert summary["content"].startswith("[FIRING:1] ProbeFailure: BlackBox Probe Failure: https://server.example.org")
    content = data["content"]
    assert content["source"] == "alertmanager" and content["status"] == "firing"
    assert content["severity"] == "critical" and content["group_key"] == payload("alertmanager_firing")["groupKey"]
    assert content["alerts"][0]["labels"]["instance"] == "https://server.example.org"
    assert content["alerts"][0]["annotations"]["summary"] == "BlackBox Probe Failure: https://server.example.org"
    assert content["alerts"][0]["fingerprint"] == "1a30ba71cca2921f" and "ends_at" not in content["alerts"][0]

    history = (await api.history(owner, room_id))["messages"]
    assert [m["message_id"] for m in reversed(history)] == answer["message_ids"]
    assert all(m["sender_is_bot"] is True for m in history)
    # Stored through the writer like any message: one outbox row carries both to search, push and audit.
    rows = await db_rows(
        database_url, "SELECT payload FROM outbox WHERE kind = 'messages.created' AND payload->>'room_id' = $1", room_id
    )
    assert [json.loads(r["payload"])["message_ids"] for r in rows] in ([answer["message_ids"]], [[i] for i in answer["message_ids"]])


async def test_retried_delivery_is_not_posted_twice(api: Api) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    hook = await make_hook(api, owner, room_id)
    first = (await deliver(api, hook["url"], payload("alertmanager_firing"))).json()
    # Alertmanager retrying the same notification, several times at once.
    retries = await asyncio.gather(*(deliver(api, hook["url"], payload("alertmanager_firing")) for _ in range(4)))
    for r in retries:
        assert r.status_code == 200
        assert r.json()["duplicate"] is True and r.json()["message_ids"] == first["message_ids"]
    assert len((await api.history(owner, room_id))["messages"]) == 2
    # A different delivery of the same group (another alert joined) is posted.
    changed = payload("alertmanager_firing")
    second = dict(changed["alerts"][0], fingerprint="2b41cb82ddb3a32f")
    second["labels"] = dict(second["labels"], instance="https://backup.example.org")
    changed["alerts"].append(second)
    r = await deliver(api, hook["url"], changed)
    assert r.json()["duplicate"] is False
    assert len((await api.history(owner, room_id))["messages"]) == 4


async def test_room_per_alert_opens_one_room_per_group_and_resolves_it(api: Api) -> None:
    owner, editor, viewer = await api.user("owner"), await api.user("ed"), await api.user("vi")
    room_id = await api.room_with(owner, (editor, "EDITOR"), (viewer, "VIEWER"))
    hook = await make_hook(api, owner, room_id, mode="room_per_alert", resolve_room=True)
    stream = await api.stream(editor)
    try:
        first = (await deliver(api, hook["url"], payload("alertmanager_firing"))).json()
        assert first["room_created"] is True and first["room_id"] != room_id
        added = await stream.next("room_added")
        assert added["room"]["room_id"] == first["room_id"] if "room" in added else added["room_id"] == first["room_id"]
    finally:
        await stream.close()
    alert_room = first["room_id"]
    room = (await api.http.get(f"/api/rooms/{alert_room}", headers=owner.headers)).json()
    assert room["title"] == "ProbeFailure: BlackBox Probe Failure: https://server.example.org"
    assert room["status"] == "active"
    members = (await api.http.get(f"/api/rooms/{alert_room}/members", headers=owner.headers)).json()["members"]
    assert {(m["user_id"], m["role"]) for m in members} == {
        (owner.user_id, "OWNER"),
        (editor.user_id, "EDITOR"),
        (viewer.user_id, "VIEWER"),
    }
    # The same group again (a changed delivery): the same room while it is active.
    changed = payload("alertmanager_firing")
    changed["alerts"][0]["annotations"] = dict(changed["alerts"][0]["annotations"], description="still down")
    repeat = (await deliver(api, hook["url"], changed)).json()
    assert repeat["room_id"] == alert_room and repeat["room_created"] is False and repeat["duplicate"] is False
    source = (await api.history(owner, room_id))["messages"]
    assert [m for m in source if m["message_type"] != "system"] == []

    resolved = await deliver(api, hook["url"], payload("alertmanager_resolved"))
    assert resolved.status_code == 200 and resolved.json()["room_id"] == alert_room
    assert resolved.json()["room_resolved"] is True
    history = (await api.history(owner, alert_room))["messages"]
    notice, status_change = history[1], history[0]
    assert notice["message_type"] == "system" and notice["content"]["event"] == "alert_resolved"
    assert notice["sender_is_bot"] is True and notice["content"]["title"].startswith("ProbeFailure")
    assert status_change["content"]["event"] == "room_status_changed"
    assert status_change["content"]["new_status"] == "resolved"
    assert (await api.http.get(f"/api/rooms/{alert_room}", headers=owner.headers)).json()["status"] == "resolved"
    # The resolved delivery retried: no second notice.
    again = (await deliver(api, hook["url"], payload("alertmanager_resolved"))).json()
    assert again["duplicate"] is True
    assert len((await api.history(owner, alert_room))["messages"]) == len(history)

    # Firing again once the room is no longer active: a new room.
    refire = payload("alertmanager_firing")
    refire["alerts"][0]["startsAt"] = "2023-02-06T14:00:00.000Z"
    fresh = (await deliver(api, hook["url"], refire)).json()
    assert fresh["room_created"] is True and fresh["room_id"] not in (alert_room, room_id)


async def test_grafana_payload_values_become_incident_data(api: Api) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    hook = await make_hook(api, owner, room_id, resolve_room=True)
    r = await deliver(api, hook["url"], payload("grafana_firing"))
    assert r.status_code == 200, r.text
    summary, data = reversed((await api.history(owner, room_id))["messages"])
    assert summary["content"].startswith("[FIRING:2] High memory usage, High CPU usage")
    assert "This alert was triggered for zone us-1" in summary["content"]
    content = data["content"]
    assert content["source"] == "grafana" and content["labels"] == {"team": "blue"}
    assert content["values"] == {"B": 44.23943737541908, "C": 1} and content["B"] == 44.23943737541908
    assert [a["labels"]["zone"] for a in content["alerts"]] == ["us-1", "eu-1"]
    assert content["alerts"][0]["silence_url"].startswith("https://play.grafana.org/alerting/silence/")
    points = (
        await api.http.get(f"/api/rooms/{room_id}/incident-data", params={"field": "B"}, headers=owner.headers)
    ).json()["points"]
    assert [p["value"] for p in points] == [44.23943737541908]

    resolved = (await deliver(api, hook["url"], payload("grafana_resolved"))).json()
    assert resolved["room_id"] == room_id and resolved["room_resolved"] is True
    newest = (await api.history(owner, room_id, limit=2))["messages"]
    assert newest[1]["content"]["event"] == "alert_resolved" and newest[1]["content"]["source"] == "grafana"
    assert (await api.http.get(f"/api/rooms/{room_id}", headers=owner.headers)).json()["status"] == "resolved"


async def test_generic_body_mentions_members_and_honours_idempotency_key(api: Api) -> None:
    owner, crew = await api.user("owner"), await api.user("crew", display_name="Maintenance Crew")
    room_id = await api.room_with(owner, (crew, "EDITOR"))
    hook = await make_hook(api, owner, room_id)
    stream = await api.stream(crew)
    try:
        body = {
            "title": "Press 4 hydraulic pressure high",
            "text": "@Maintenance Crew please check valve V-12",
            "severity": "warning",
            "incident_data": {"pressure_bar": 212.5, "line": "4"},
        }
        r = await deliver(api, hook["url"], body, **{"Idempotency-Key": "scada-evt-1"})
        assert r.status_code == 200, r.text
        mention = await stream.next("mention")
    finally:
        await stream.close()
    summary, data = await posted(api, owner, room_id)
    assert summary["content"] == "[WARNING] Press 4 hydraulic pressure high\n@Maintenance Crew please check valve V-12"
    assert summary["mentions"] == [crew.user_id] and mention["message_id"] == summary["message_id"]
    assert data["content"] == {"pressure_bar": 212.5, "line": "4"}
    # Another body under the same key is the same delivery; the same body without a key is new.
    again = await deliver(api, hook["url"], {"text": "changed"}, **{"Idempotency-Key": "scada-evt-1"})
    assert again.json()["duplicate"] is True
    other = await deliver(api, hook["url"], {"text": "pump restarted"})
    assert other.json()["duplicate"] is False
    assert len(await posted(api, owner, room_id)) == 3


BAD_BODIES: list[Any] = [
    [],
    "text",
    {},
    {"txt": "typo"},
    {"text": ""},
    {"text": 5},
    {"incident_data": [1, 2]},
    {"incident_data": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}},
    {"title": "x" * 201},
    {"version": "3", "status": "firing", "groupKey": "k", "alerts": [{}]},
    {"version": "4", "status": "burning", "groupKey": "k", "alerts": []},
]


def _broken_alertmanager() -> list[dict[str, Any]]:
    out = []
    for mutate in (
        lambda p: p.update(alerts=[]),
        lambda p: p.pop("groupKey"),
        lambda p: p["alerts"][0].update(labels={"severity": 3}),
        lambda p: p["alerts"][0].update(status="pending"),
        lambda p: p.update(truncatedAlerts=-1),
    ):
        body = payload("alertmanager_firing")
        mutate(body)
        out.append(body)
    body = payload("grafana_firing")
    body["alerts"][0]["values"] = {"B": "high"}
    out.append(body)
    return out


async def test_bad_payloads_are_refused_and_change_nothing(api: Api, database_url: str) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    hook = await make_hook(api, owner, room_id, mode="room_per_alert")
    for body in BAD_BODIES + _broken_alertmanager():
        r = await deliver(api, hook["url"], body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["detail"]
    r = await api.http.post(hook["url"], content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = await deliver(api, hook["url"], {"text": "fine"}, **{"Idempotency-Key": "k" * 201})
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["detail"]
    assert (await api.history(owner, room_id))["messages"] == []
    assert len((await api.http.get("/api/rooms", headers=owner.headers)).json()["rooms"]) == 1
    wid = uuid.UUID(hook["webhook_id"])
    assert await db_rows(database_url, "SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1", wid) == []
    assert await db_rows(database_url, "SELECT 1 FROM webhook_alert_rooms WHERE webhook_id = $1", wid) == []


async def test_wrong_secret_or_unknown_webhook_is_404(api: Api) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    hook = await make_hook(api, owner, room_id)
    prefix = hook["url"].rsplit("/", 1)[0]
    for url in (
        f"{prefix}/wrong-secret",
        f"{prefix}/",
        f"/api/hooks/{uuid.uuid4()}/{hook['url'].rsplit('/', 1)[1]}",
        "/api/hooks/not-a-uuid/secret",
    ):
        r = await deliver(api, url, {"text": "hello"})
        assert r.status_code == 404, url
        # Whatever the body: the secret is judged first.
        assert (await api.http.post(url, content=b"[not json")).status_code == 404
    assert (await api.history(owner, room_id))["messages"] == []


async def test_archived_room_refuses_and_a_later_retry_posts(api: Api) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    hook = await make_hook(api, owner, room_id)
    await api.http.patch(f"/api/rooms/{room_id}", json={"status": "archived"}, headers=owner.headers)
    refused = await deliver(api, hook["url"], payload("alertmanager_firing"))
    assert refused.status_code == 403
    await api.http.patch(f"/api/rooms/{room_id}", json={"status": "active"}, headers=owner.headers)
    r = await deliver(api, hook["url"], payload("alertmanager_firing"))
    assert r.status_code == 200 and r.json()["duplicate"] is False
    kinds = [m["message_type"] for m in (await api.history(owner, room_id))["messages"]]
    assert kinds.count("text") == 1 and kinds.count("incident_data") == 1


@pytest.mark.parametrize("burst", [3])
async def test_deliveries_past_the_rate_limit_get_429(server_factory: Any, database_url: str, burst: int) -> None:
    proc = server_factory(WEBHOOK_RATE_PER_SECOND="0.01", WEBHOOK_RATE_BURST=str(burst))
    api = Api(proc.base_url, database_url)
    try:
        owner = await api.user("owner")
        room_id = await api.room(owner)
        hook = await make_hook(api, owner, room_id)
        wrong = hook["url"].rsplit("/", 1)[0] + "/not-the-secret"
        assert [(await deliver(api, wrong, {"text": "x"})).status_code for _ in range(burst + 2)] == [404] * (burst + 2)
        codes = [(await deliver(api, hook["url"], {"text": f"reading {i}"})).status_code for i in range(burst)]
        assert codes == [200] * burst
        limited = await deliver(api, hook["url"], {"text": "one too many"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        # Another webhook has its own budget.
        other = await make_hook(api, owner, room_id)
        assert (await deliver(api, other["url"], {"text": "other source"})).status_code == 200
        assert len((await api.history(owner, room_id))["messages"]) == burst + 1
    finally:
        await api.aclose()


async def test_the_secret_never_reaches_the_log(server_factory: Any, database_url: str) -> None:
    proc = server_factory(LOG_LEVEL="INFO")
    api = Api(proc.base_url, database_url)
    try:
        owner = await api.user("owner")
        room_id = await api.room(owner)
        hook = await make_hook(api, owner, room_id)
        secret = hook["url"].rsplit("/", 1)[1]
        assert (await deliver(api, hook["url"], payload("alertmanager_firing"))).status_code == 200
        assert (await deliver(api, hook["url"], {"bad": 1})).status_code == 400
        logged = await wait_for_log(proc, lambda t: t.count(f"/api/hooks/{hook['webhook_id']}/<secret>") >= 2)
        assert secret not in logged
    finally:
        await api.aclose()


async def test_concurrent_deliveries_of_one_group_open_one_room(api: Api, database_url: str) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    hook = await make_hook(api, owner, room_id, mode="room_per_alert")
    bodies = []
    for i in range(4):
        body = payload("alertmanager_firing")
        body["alerts"][0]["annotations"] = dict(body["alerts"][0]["annotations"], description=f"reading {i}")
        bodies.append(body)
    answers = [r.json() for r in await asyncio.gather(*(deliver(api, hook["url"], b) for b in bodies))]
    assert len({a["room_id"] for a in answers}) == 1 and sum(a["room_created"] for a in answers) == 1
    assert all(a["duplicate"] is False for a in answers)
    rooms = await db_rows(
        database_url, "SELECT room_id FROM webhook_alert_rooms WHERE webhook_id = $1", uuid.UUID(hook["webhook_id"])
    )
    assert len(rooms) == 1
    assert len(await posted(api, owner, answers[0]["room_id"])) == 8
