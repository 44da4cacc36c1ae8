"""An alert posted by a webhook goes the way of any message through the workers: the member its
annotation mentions gets a Web Push naming the bot, and search finds it as the bot's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support.clients import Api
from tests.support.fake_push_service import FakePushService
from tests.workers.conftest import eventually, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"


async def test_an_alert_mention_is_pushed_and_the_alert_is_searchable(
    client: Api, push_service: FakePushService, pg: asyncpg.Connection
) -> None:
    owner = await client.user("owner", display_name="Shift Lead")
    crew = await client.user("crew", display_name="Maintenance Crew")
    minted = push_service.mint_subscription()
    await subscribe(client, crew, minted)
    room_id = await client.room_with(owner, (crew, "EDITOR"))
    r = await client.http.post(
        f"/api/rooms/{room_id}/webhooks", json={"name": "Alertmanager"}, headers=owner.headers
    )
    hook: dict[str, Any] = r.json()

    # The alert rule's annotation addresses the crew by name, as a person would.
    body = json.loads((FIXTURES / "alertmanager_firing.json").read_text())
    body["commonAnnotations"]["summary"] = "@Maintenance Crew probe failing on server.example.org"
    body["alerts"][0]["annotations"]["summary"] = body["commonAnnotations"]["summary"]
    answer = (await client.http.post(hook["url"], json=body)).json()
    summary_id = answer["message_ids"][0]

    [push] = await push_service.wait_for_deliveries_async(1, token=minted.token, timeout=20)
    assert push.problems == ()
    assert push.payload["kind"] == "mention" and push.payload["message_id"] == summary_id
    assert push.payload["sender_display_name"] == "Alertmanager"

    async def found() -> list[dict[str, Any]] | None:
        r = await client.http.get(
            "/api/search/messages", params={"q": "probe failing", "room_id": room_id}, headers=crew.headers
        )
        hits: list[dict[str, Any]] = r.json()["hits"]
        return hits if len(hits) == 2 else None

    # Both the summary and the incident data (which carries the annotation) are found.
    hits = await eventually(found, what="alert indexed")
    assert {h["message_id"] for h in hits} == set(answer["message_ids"])
    assert all(h["sender_is_bot"] is True and h["sender_display_name"] == "Alertmanager" for h in hits)
