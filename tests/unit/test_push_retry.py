"""When a failed push is tried again."""

from __future__ import annotations

import random

from workers.push import retry_delay
from workers.webpush import DeliveryOutcome, DeliveryResult


def test_retry_after_is_honoured_never_earlier_and_capped() -> None:
    rng = random.Random(1)
    for _ in range(100):
        delay = retry_delay(DeliveryResult(DeliveryOutcome.RATE_LIMITED, 429, retry_after=7), 1, 300, rng)
        assert 7 <= delay <= 7.7
    assert (
        retry_delay(DeliveryResult(DeliveryOutcome.RATE_LIMITED, 429, retry_after=10_000), 1, 60, rng) <= 61
    )


def test_without_retry_after_the_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(2)
    timeout = DeliveryResult(DeliveryOutcome.TIMEOUT)
    for attempt, ceiling in ((1, 2), (2, 4), (3, 8), (4, 16)):
        delays = [retry_delay(timeout, attempt, 300, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert len(set(delays)) > 1
    assert retry_delay(DeliveryResult(DeliveryOutcome.SERVER_ERROR, 500), 20, 30, rng) <= 30


def test_a_5xx_with_retry_after_waits_as_asked() -> None:
    delay = retry_delay(
        DeliveryResult(DeliveryOutcome.SERVER_ERROR, 503, retry_after=5), 1, 300, random.Random(3)
    )
    assert 5 <= delay <= 5.5
