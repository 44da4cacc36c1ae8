"""Per user and room token buckets (RATE_LIMIT_PER_SECOND, burst RATE_LIMIT_BURST)."""

from __future__ import annotations

import time
from collections import OrderedDict


class RateLimiter:
    """In-process token buckets; the oldest idle buckets are forgotten past `max_keys`."""

    def __init__(self, per_second: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = per_second
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def allow(self, user_id: str, room_id: str, now: float | None = None) -> bool:
        """Take one token; False when the bucket is empty."""
        t = time.monotonic() if now is None else now
        key = (user_id, room_id)
        tokens, last = self._buckets.pop(key, (self.burst, t))
        tokens = min(self.burst, tokens + (t - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, t)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed
