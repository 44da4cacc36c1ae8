"""`/metrics`: Prometheus text that prometheus_client's own parser reads, values that move with
traffic, and protection (loopback only without METRICS_TOKEN, the bearer token with one)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import Api


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def _scrape(
    http: httpx.AsyncClient, **kwargs: Any
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await http.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


async def test_metrics_parse_and_move_when_messages_flow(
    api: Api, server_factory: Any, database_url: str, base_env: dict[str, str]
) -> None:
    server = server_factory()
    client = Api(server.base_url, database_url)
    try:
        before = await _scrape(client.http)
        for name in (
            "andon_ws_connections",
            "andon_ws_send_queue_frames",
            "andon_ws_send_queue_max_frames",
            "andon_db_pool_checked_out",
            "andon_db_pool_size",
            "andon_db_pool_overflow",
            "andon_db_pool_capacity",
            "andon_outbox_lag_seconds",
            "andon_outbox_pending_rows",
        ):
            assert (name, ()) in before, name
        for queue in ("outbox", "push", "index", "mentions", "audit"):
            assert _value(before, "andon_celery_queue_length", queue=queue) >= 0
        assert _value(before, "andon_metrics_source_up", source="database") == 1
        assert _value(before, "andon_metrics_source_up", source="redis") == 1
        assert _value(before, "andon_db_pool_size") == int(base_env.get("DB_POOL_SIZE", "20"))

        owner, editor = await api.user("owner"), await api.user("editor")
        room_id = await api.room_with(owner, (editor, "EDITOR"))
        sender = await client.connect(editor, room_id)
        watcher = await client.connect(owner, room_id)
        for i in range(5):
            await sender.send_message(f"metered {i}")
        await watcher.sequenced(5)

        after = await _scrape(client.http)
        sent = _value(after, "andon_messages_persisted_total") - _value(
            before, "andon_messages_persisted_total"
        )
        assert sent == 5
        assert _value(after, "andon_message_batches_total") > _value(before, "andon_message_batches_total")
        acks = _value(after, "andon_ack_latency_seconds_count") - _value(
            before, "andon_ack_latency_seconds_count"
        )
        assert acks == 5
        assert _value(after, "andon_ack_latency_seconds_sum") > _value(
            before, "andon_ack_latency_seconds_sum"
        )
        assert _value(after, "andon_ack_latency_seconds_bucket", le="+Inf") == _value(
            after, "andon_ack_latency_seconds_count"
        )
        assert _value(after, "andon_fanout_latency_seconds_count") > _value(
            before, "andon_fanout_latency_seconds_count"
        )
        # The sampled gauges of this process are refreshed by the scrape itself.
        assert _value(after, "andon_ws_connections") == 2
        # The writer's transactions wrote outbox rows; no worker runs here, so they wait.
        assert _value(after, "andon_outbox_pending_rows") >= 1
        assert _value(after, "andon_outbox_lag_seconds") >= 0

        await sender.close()
        await watcher.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while _value(await _scrape(client.http), "andon_ws_connections") != 0:
            assert loop.time() < deadline, "closed sockets are still counted"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def test_metrics_without_a_token_are_for_loopback_clients_only(server_factory: Any) -> None:
    server = server_factory()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        assert (await http.get("/metrics")).status_code == 200
        # Through a proxy (uvicorn trusts 127.0.0.1's X-Forwarded-For), the client is not local.
        proxied = await http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 403
        assert (await http.get("/metrics", headers={"X-Real-IP": "127.0.0.1"})).status_code == 403


async def test_metrics_with_a_token_need_that_bearer_token(server_factory: Any) -> None:
    server = server_factory(METRICS_TOKEN="scrape-secret-42")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        missing = await http.get("/metrics")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret-43"})
        assert wrong.status_code == 401
        right = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret-42"})
        assert right.status_code == 200
        assert ("andon_messages_persisted_total", ()) in _samples(right.text)
    assert "scrape-secret-42" not in server.log()
