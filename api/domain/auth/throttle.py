"""Sign-in throttling: failed attempts per account and per client address, shared through Redis.

A person who mistypes a password a few times never meets it; a script guessing passwords
does. Failures are counted in fixed windows of LOGIN_WINDOW_SECONDS; past the limit, sign-in
for that account (or from that address) answers 429 with Retry-After until the window ends,
whatever the password. A successful sign-in clears the account's count. Counting in Redis
makes the limit hold across every server process. When Redis cannot be reached, sign-in is
not throttled (and says so in the log) rather than refused.
"""

from __future__ import annotations

import hashlib
import logging
import time

from redis.asyncio import Redis

from api.domain.core.errors import RateLimited

log = logging.getLogger(__name__)

LOGIN_WINDOW_SECONDS = 300
FAILURES_PER_ACCOUNT = 10
FAILURES_PER_ADDRESS = 100

# KEYS: the account's and the address's counters. Returns each counter's value and TTL.
_PEEK = """
local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = tonumber(redis.call('GET', key) or '0')
  out[2 * i] = redis.call('TTL', key)
end
return out
"""
_FAIL = """
for _, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 1
"""


class TooManyAttempts(RateLimited):
    """Sign-in refused for now (429); `retry_after` seconds until it may be tried again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed sign-in attempts; try again later")
        self.retry_after = max(1, retry_after)


class LoginThrottle:
    """Failed sign-ins per account and per address, over every server process."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        per_account: int = FAILURES_PER_ACCOUNT,
        per_address: int = FAILURES_PER_ADDRESS,
        window: int = LOGIN_WINDOW_SECONDS,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.per_account = per_account
        self.per_address = per_address
        self.window = window
        self._peek = redis.register_script(_PEEK)
        self._fail = redis.register_script(_FAIL)
        self._warned_at = 0.0

    def _keys(self, account: str, address: str) -> list[str]:
        # Hashed: neither e-mail addresses nor client addresses appear in Redis key names.
        def h(value: str) -> str:
            return hashlib.sha256(value.encode()).hexdigest()[:32]

        # One hash tag for both: a script takes them together, so on a Redis Cluster they must
        # share a slot (sign-ins are few; one shard holds every throttle counter).
        return [f"{self.prefix}:{{login}}:acct:{h(account)}", f"{self.prefix}:{{login}}:addr:{h(address)}"]

    async def check(self, account: str, address: str) -> None:
        """Raise TooManyAttempts when the account or the address is over its limit."""
        try:
            acct, acct_ttl, addr, addr_ttl = await self._peek(keys=self._keys(account, address))
        except Exception as exc:
            self._warn(exc)
            return
        waits = []
        if int(acct) >= self.per_account:
            waits.append(int(acct_ttl))
        if int(addr) >= self.per_address:
            waits.append(int(addr_ttl))
        if waits:
            raise TooManyAttempts(max(waits) if max(waits) > 0 else self.window)

    async def failed(self, account: str, address: str) -> None:
        try:
            await self._fail(keys=self._keys(account, address), args=[self.window])
        except Exception as exc:
            self._warn(exc)

    async def succeeded(self, account: str, address: str) -> None:
        try:
            await self.redis.delete(self._keys(account, address)[0])
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > 10.0:
            self._warned_at = now
            log.warning("sign-in throttle unavailable (%s); not enforced meanwhile", type(exc).__name__)
