"""User channels are subscribed in batches: a thousand first sockets of their users opening at
once (a resume storm) send a few SUBSCRIBE commands, not a thousand one after the other under
the subscription lock; and nobody's opening goes on before its own channel was sent."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from api.ws.registry import Registry


class SlowSubscriber:
    """Records each SUBSCRIBE; each takes a couple of event-loop turns, like a socket write."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    async def subscribe(self, *channels: str) -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("redis went away")
        self.calls.append(channels)


def _registry(subscriber: SlowSubscriber) -> Registry:
    services: Any = SimpleNamespace(bus=SimpleNamespace(user_channel=lambda u: f"user:{u}"), db=SimpleNamespace(read=None))
    registry = Registry(services, orderer=None)  # type: ignore[arg-type]
    registry.pubsub = subscriber  # type: ignore[assignment]
    return registry


async def test_many_first_sockets_share_few_subscribe_commands() -> None:
    subscriber = SlowSubscriber()
    registry = _registry(subscriber)
    sent_before_return: list[bool] = []

    async def first_socket(user: str) -> None:
        await registry._subscribe_user(f"user:{user}")
        sent_before_return.append(any(f"user:{user}" in call for call in subscriber.calls))

    await asyncio.wait_for(asyncio.gather(*(first_socket(f"u{i}") for i in range(200))), 10)
    assert all(sent_before_return)
    assert sorted(c for call in subscriber.calls for c in call) == sorted(f"user:u{i}" for i in range(200))
    assert len(subscriber.calls) <= 3, [len(c) for c in subscriber.calls]
    # A later socket starts a batch of its own.
    await asyncio.wait_for(registry._subscribe_user("user:late"), 5)
    assert subscriber.calls[-1] == ("user:late",)


async def test_a_failed_subscribe_reaches_every_waiter_and_the_next_batch_starts_afresh() -> None:
    subscriber = SlowSubscriber(fail=True)
    registry = _registry(subscriber)
    results = await asyncio.wait_for(
        asyncio.gather(*(registry._subscribe_user(f"user:u{i}") for i in range(5)), return_exceptions=True), 5
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    subscriber.fail = False
    await asyncio.wait_for(registry._subscribe_user("user:again"), 5)
    assert subscriber.calls == [("user:again",)]


async def test_a_socket_whose_subscribe_fails_still_opens(caplog: pytest.LogCaptureFixture) -> None:
    registry = _registry(SlowSubscriber(fail=True))
    class Conn:
        user_id = "u1"

    conn: Any = Conn()
    await asyncio.wait_for(registry.add_user_conn(conn), 5)
    assert conn in registry.user_conns["u1"]
    assert "could not subscribe to a user channel" in caplog.text
