"""Per user and room token buckets (RATE_LIMIT_PER_SECOND, burst RATE_LIMIT_BURST): in-process, and shared."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis

log = logging.getLogger(__name__)


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


# Token buckets in Redis, one hash per (room, user): `tk` tokens left, `ts` when last updated (the
# Redis server's clock, so every process agrees). ARGV: rate, burst, then one count per key; a
# count's answer is how many of it were granted. A negative count gives tokens back.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local ttl = math.ceil(burst / rate) + 1
local out = {}
for i, key in ipairs(KEYS) do
  local b = redis.call('HMGET', key, 'tk', 'ts')
  local tokens = tonumber(b[1]) or burst
  local ts = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  local want = tonumber(ARGV[i + 2])
  local got = want
  if want > 0 then got = math.min(want, math.floor(tokens)) end
  tokens = math.min(burst, tokens - got)
  redis.call('HSET', key, 'tk', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', key, ttl)
  out[i] = got
end
return out
"""


class TokenTaker(Protocol):
    """What a message batch needs of a shared limit (`SharedRateLimiter`, or the leasing one over it)."""

    async def take(self, room_id: str, wanted: dict[str, int]) -> dict[str, int]:
        """Take tokens for each user (user id → count; negative gives back); returns what was granted."""
        ...


class SharedRateLimiter:
    """The same buckets across every server process (RATE_LIMIT_* hold per user and room, not per process).

    One script call per message batch, for all its senders at once. When Redis cannot be
    reached the limit is not enforced (the per-process limiter in front still is) rather than
    refusing messages.
    """

    def __init__(self, redis: Redis, prefix: str, per_second: float, burst: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.rate = per_second
        self.burst = burst
        self._script = redis.register_script(_TAKE)
        self._warned_at = 0.0

    def key(self, room_id: str, user_id: str) -> str:
        # The room in a hash tag: one batch's keys live on one Redis Cluster shard.
        return f"{self.prefix}:rl:{{{room_id}}}:{user_id}"

    async def take(self, room_id: str, wanted: dict[str, int]) -> dict[str, int]:
        """Take tokens for each user (user id → count; negative gives back); returns what was granted."""
        users = list(wanted)
        if not users:
            return {}
        try:
            granted = await self._script(
                keys=[self.key(room_id, u) for u in users],
                args=[self.rate, self.burst, *(wanted[u] for u in users)],
            )
        except Exception as exc:
            self.unavailable(exc)
            return dict(wanted)
        return {u: int(g) for u, g in zip(users, granted, strict=True)}

    def unavailable(self, exc: Exception) -> None:
        """Redis could not be reached: say so (at most every 10 s); the caller grants what was asked."""
        now = time.monotonic()
        if now - self._warned_at > 10.0:
            self._warned_at = now
            log.warning("shared rate limit unavailable (%s); not enforced meanwhile", type(exc).__name__)
