"""`push.send` counts only the deliveries it sent: not the failed, dropped, given-up or waiting ones."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from api.domain.core.settings import Settings
from api.domain.push import deliveries as store
from workers import push
from workers.celery_app import create_app
from workers.webpush import DeliveryOutcome, DeliveryResult


class _Runtime:
    """Just enough of WorkerRuntime: `run` drives the coroutine on a private loop."""

    settings = Settings(redis_url="redis://127.0.0.1:6379/0")

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        return self.loop.run_until_complete(coro)


def _claimed(delivery_id: int, attempts: int) -> store.ClaimedDelivery:
    return store.ClaimedDelivery(
        delivery_id=delivery_id,
        subscription_id=delivery_id,
        attempts=attempts,
        kind="mention",
        endpoint="https://push.example/x",
        p256dh="k",
        auth="a",
        payload={},
    )


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> dict[int, tuple[int, DeliveryOutcome]]:
    """delivery id -> (attempts so far, what the push service answers)."""
    table: dict[int, tuple[int, DeliveryOutcome]] = {}

    async def claim(_runtime: Any, delivery_id: int) -> store.ClaimedDelivery:
        return _claimed(delivery_id, table[delivery_id][0])

    async def record(*_args: Any) -> None:
        return None

    def send(_runtime: Any, claimed: store.ClaimedDelivery) -> DeliveryResult:
        return DeliveryResult(table[claimed.delivery_id][1], status=200)

    monkeypatch.setattr(push, "_claim", claim)
    monkeypatch.setattr(push, "_record", record)
    monkeypatch.setattr(push, "_send", send)
    return table


def test_only_delivered_pushes_count_as_sent(outcomes: dict[int, tuple[int, DeliveryOutcome]]) -> None:
    outcomes.update(
        {
            1: (1, DeliveryOutcome.DELIVERED),
            2: (store.MAX_ATTEMPTS, DeliveryOutcome.SERVER_ERROR),  # given up
            3: (1, DeliveryOutcome.GONE),
            4: (1, DeliveryOutcome.REJECTED),
        }
    )
    runtime = _Runtime()
    app = create_app(runtime.settings)
    app.andon_runtime = runtime  # type: ignore[attr-defined]
    try:
        assert app.tasks["push.send"].run(1, 2, 3, 4) == 1
    finally:
        runtime.loop.close()


def test_a_given_up_delivery_is_failed_not_retried(outcomes: dict[int, tuple[int, DeliveryOutcome]]) -> None:
    outcomes[7] = (store.MAX_ATTEMPTS, DeliveryOutcome.TIMEOUT)
    runtime = _Runtime()
    try:
        attempt = push.send_one(runtime, 7, cap=60.0)  # type: ignore[arg-type]
    finally:
        runtime.loop.close()
    assert attempt == push.Attempt("failed")
