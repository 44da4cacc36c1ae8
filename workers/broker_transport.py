"""kombu's Redis transport with one repair: a closed connection fails as a connection error.

When the worker loses Redis, Celery's consumer closes the broker connection and restarts. Acks
of tasks that ended just before (acks_late, threads pool) are still queued on the event loop and
run while the loop closes, against channels whose connection is already gone. kombu then reads
the host from a connection that is `None` and raises `AttributeError`, which its
`ack_log_error` does not catch (it catches the transport's connection errors), so the whole
worker process exited (seen in `tests/faults/test_outages.py` with a Redis restart; the same
failure is reported upstream as celery/kombu#582). Raising redis-py's `ConnectionError` instead
lets kombu log the lost ack and go on. Nothing is lost: the message stays in the broker's
unacked set and is delivered again (the broker watch, or the visibility timeout), and every
task is idempotent.

The worker process registers this class for the `redis` and `rediss` URL schemes (`redis+socket`
included; `workers.celery_app`). The API process never imports it.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_THIS = "workers.broker_transport:Transport"


class Channel(kombu_redis.Channel):
    def _create_client(self, asynchronous: bool = False) -> Any:
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection is closed")
        return super()._create_client(asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel


def register() -> None:
    """Make the Redis URL schemes name this transport in this process."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = _THIS
