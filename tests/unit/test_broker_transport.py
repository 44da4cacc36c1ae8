"""The worker's broker transport: an ack that reaches a closed connection is a logged connection
error, not an AttributeError that ends the worker process (a Redis restart did that)."""

from __future__ import annotations

import logging
import uuid

import pytest
from kombu import Connection

from api.domain.core.settings import Settings
from tests import conftest
from workers import broker_transport
from workers.celery_app import create_app


def test_an_ack_after_the_connection_closed_is_a_logged_connection_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = f"andon-test-{uuid.uuid4().hex[:8]}"
    conn = Connection(conftest.REDIS_URL, transport=broker_transport.Transport)
    try:
        with conn.SimpleQueue(queue) as simple:
            simple.put({"job": "x"})
            received = simple.get(timeout=5)
            # What Celery's consumer leaves behind when it restarts after losing the broker: the
            # channel's pools are closed and its transport no longer has its connection.
            simple.channel._disconnect_pools()
            simple.channel.connection.client = None
            with caplog.at_level(logging.CRITICAL):
                received.ack_log_error(logging.getLogger("andon.test"), conn.connection_errors)
            assert "Couldn't ack" in caplog.text
            assert not received.acknowledged
    finally:
        conn.release()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "unix:///tmp/andon-redis.sock"])
def test_the_worker_app_uses_it_for_every_redis_url(url: str) -> None:
    app = create_app(Settings(redis_url=url, redis_prefix="site-a"))
    conn = app.connection_for_write()
    try:
        assert conn.transport_cls == "redis"
        assert isinstance(conn.transport, broker_transport.Transport)
    finally:
        conn.release()
