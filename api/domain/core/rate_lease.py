"""The shared rate limit with leases: a steady sender's batch takes its tokens with no Redis call.

Each process keeps, per (room, user), a small lease of tokens already taken from the shared
bucket (`SharedRateLimiter`'s hash) and grants from it locally. Rules:

- Lease size L = floor(min(rate × 0.25 s, burst / 4)); below 1 (under 4 msg/s) there is no
  leasing, every take is the shared limiter's.
- Only a sender seen in the last 0.3 s takes a lease (a steady sender's second take onwards),
  so a one-off sender strands no tokens in a process.
- A take the lease cannot cover makes one script call for what is missing plus L; the lease
  part comes only from tokens above half the burst, so leases never starve a sender in another
  process.
- Given-back tokens (negative counts) go back into the lease, at most what the last take
  granted; idle leases (0.3 s unused) and every lease on `close()` go back to Redis.

Why the bound stays exact (never more than rate × t + burst in any window, all processes
together): leased tokens are taken from the bucket, and the bucket also knows how many each
process may still hold (a field `l:<process>` per process: its lease plus what its last take
granted, which a give-back may put back). The refill stops at burst minus the other processes'
holdings and what the calling process holds now (it says so with each call: its stored holding
may count lease tokens it has spent since, which would make the limit stricter than the burst),
so bucket + every unused lease is a token bucket of `burst` that only the rate fills. A holding
lapses in Redis one second after its process last reported it; the process stops using the
lease before then, so a crashed process lowers the bound for a second at most, never raises it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from api.domain.core.rate_limit import SharedRateLimiter

log = logging.getLogger(__name__)

# A lease holds at most this much of the rate (and a quarter of the burst).
LEASE_SECONDS = 0.25
# Only a sender seen this recently takes a lease; a lease unused this long goes back.
RECENT_SECONDS = 0.3
# Redis forgets a process's holding this long after it last reported it; the process's own
# deadline counts from before its call, so it always stops using a lease before Redis forgets it.
LEASE_LIFE_SECONDS = 1.0
SWEEP_SECONDS = 0.1

# The buckets of `SharedRateLimiter` (`tk`, `ts`), and per process `l:<id>` = "<tokens> <until>":
# what that process may hold unused (its lease, and its last take's grant), until Redis time
# <until>. ARGV: rate, burst, process id, lease life, then per key: want (negative gives back),
# extra (the lease asked for), base (what the process holds now besides this call's grants: a
# take's lease tokens that served part of it, or what a give-back leaves in the lease).
# Answers, per key: granted of want, then the lease granted.
# The refill stops at burst minus the others' holdings and base, not this process's stored
# holding: that one was reported at its previous call and may count tokens spent since. A take
# replaces the holding (base, its grant and the new lease, or nothing without a new lease); a
# give-back leaves base. The last line keeps bucket + every holding within the burst.
_TAKE_LEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local mine, life = 'l:' .. ARGV[3], tonumber(ARGV[4])
local ttl = math.ceil(math.max(burst / rate, life)) + 1
local out = {}
for i, key in ipairs(KEYS) do
  local want, extra, base = tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3]), tonumber(ARGV[3 * i + 4])
  local h = redis.call('HGETALL', key)
  local tokens, ts, others = burst, now, 0
  for j = 1, #h, 2 do
    local f, v = h[j], h[j + 1]
    if f == 'tk' then tokens = tonumber(v)
    elseif f == 'ts' then ts = tonumber(v)
    elseif string.sub(f, 1, 2) == 'l:' then
      local n, untl = string.match(v, '^(%S+) (%S+)$')
      if tonumber(untl) <= now then redis.call('HDEL', key, f)
      elseif f ~= mine then others = others + tonumber(n) end
    end
  end
  tokens = math.min(burst - others - base, tokens + math.max(0, now - ts) * rate)
  local got = want
  if want > 0 then got = math.min(want, math.max(0, math.floor(tokens))) end
  tokens = tokens - got
  local lease = 0
  if extra > 0 then lease = math.max(0, math.min(extra, math.floor(tokens - burst / 2))) end
  tokens = tokens - lease
  local held = base
  if want > 0 then
    held = 0
    if lease > 0 then held = base + got + lease end
  end
  if held > 0 then
    redis.call('HSET', key, mine, tostring(held) .. ' ' .. tostring(now + life))
  else
    redis.call('HDEL', key, mine)
  end
  tokens = math.min(tokens, burst - others - held)
  redis.call('HSET', key, 'tk', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', key, ttl)
  out[2 * i - 1] = got
  out[2 * i] = lease
end
return out
"""


@dataclass(slots=True)
class _Lease:
    """One sender's lease in one room, in this process."""

    seen: float  # the sender's last take (the limiter's clock)
    tokens: int = 0  # leased and not granted yet
    # What the last take granted: a give-back may put that much into the lease. Redis counts
    # tokens + recent as this process's holding (the `l:` field), so neither can outgrow it.
    recent: int = 0
    deadline: float = 0.0  # the lease is void from then on (Redis forgets it a little later)
    reported: bool = False  # Redis may hold a non-zero `l:` field of ours for this sender

    def void(self) -> None:
        self.tokens = self.recent = 0
        self.reported = False


@dataclass(slots=True)
class _Room:
    users: dict[str, _Lease] = field(default_factory=dict)
    # One script call per room at a time, so this process's reports of a bucket arrive in order.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    busy: int = 0  # takes holding or waiting for the lock: the sweep leaves the room alone


# One sender's part of a script call: (want, extra, base); see _TAKE_LEASE.
_Ask = tuple[int, int, int]


class LeasedRateLimiter:
    """`SharedRateLimiter.take`'s limit, served from per-process leases where a sender is steady.

    `sweep_every=None` starts no background sweep (tests call `sweep` with their own clock).
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sweep_every: float | None = SWEEP_SECONDS,
    ) -> None:
        self.shared = SharedRateLimiter(redis, prefix, per_second, burst)
        self.rate = per_second
        self.burst = burst
        self.lease = math.floor(min(per_second * LEASE_SECONDS, burst / 4))
        self.script = redis.register_script(_TAKE_LEASE)
        self.clock = clock
        self.sweep_every = sweep_every
        self.process = uuid.uuid4().hex[:12]
        self._rooms: dict[str, _Room] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    async def take(self, room_id: str, wanted: dict[str, int]) -> dict[str, int]:
        """Take tokens for each user (user id → count; negative gives back); returns what was granted."""
        if self.lease < 1 or not wanted:
            return await self.shared.take(room_id, wanted)
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = _Room()
        granted: dict[str, int] = {}
        slow = self._from_leases(room, wanted, granted)
        if slow:
            room.busy += 1
            try:
                async with room.lock:
                    await self._with_redis(room_id, room, slow, granted)
            finally:
                room.busy -= 1
        if self._sweeper is None or self._sweeper.done():
            self._start_sweep()
        return granted

    def _start_sweep(self) -> None:
        """The background sweep runs while there are senders to watch; a later take starts it again."""
        if self.sweep_every is not None and not self._closed and self._rooms:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="rate-lease-sweep")

    def _from_leases(
        self, room: _Room, wanted: dict[str, int], granted: dict[str, int]
    ) -> dict[str, tuple[int, bool]]:
        """Grant what the leases cover, no Redis call; the rest as (count, seen recently) per user."""
        now = self.clock()
        slow: dict[str, tuple[int, bool]] = {}
        for user, n in wanted.items():
            lease = room.users.get(user)
            if n > 0:
                recent = lease is not None and now - lease.seen <= RECENT_SECONDS
                if lease is None:
                    lease = room.users[user] = _Lease(seen=now)
                lease.seen = now
                if now >= lease.deadline:
                    lease.void()
                if lease.tokens >= n:
                    lease.tokens -= n
                    lease.recent = n
                    granted[user] = n
                else:
                    slow[user] = (n, recent)
            elif n < 0:
                if lease is not None and now < lease.deadline and lease.recent >= -n:
                    lease.tokens -= n
                    lease.recent += n
                    granted[user] = n
                else:
                    slow[user] = (n, False)
            else:
                granted[user] = 0
        return slow

    async def _with_redis(
        self, room_id: str, room: _Room, slow: dict[str, tuple[int, bool]], granted: dict[str, int]
    ) -> None:
        """The takes and give-backs the leases could not serve: one script call (under the room's lock)."""
        sent = self.clock()
        asks: dict[str, _Ask] = {}
        # Per taker: its lease, and what the lease gave towards the take before asking Redis.
        takers: dict[str, tuple[_Lease, int]] = {}
        for user, (n, recent) in slow.items():
            lease = room.users.get(user)
            if lease is None and n < 0:  # no lease here: straight back to the bucket
                asks[user] = (n, 0, 0)
                granted[user] = n
                continue
            if lease is None:
                lease = room.users[user] = _Lease(seen=sent)
            if sent >= lease.deadline:
                lease.void()
            if n < 0:
                # Into the lease, as much as the last take granted; the rest to Redis.
                back = min(-n, lease.recent)
                lease.tokens += back
                lease.recent -= back
                granted[user] = n
                if -n > back:
                    asks[user] = (n + back, 0, lease.tokens + lease.recent)
                    takers[user] = (lease, 0)
            elif lease.tokens >= n:  # filled by a call that finished while this one waited
                lease.tokens -= n
                lease.recent = n
                granted[user] = n
            else:
                extra = self.lease if recent and not self._closed else 0
                # base: the lease's tokens, granted towards this take but held until now.
                asks[user] = (n - lease.tokens, extra, lease.tokens)
                takers[user] = (lease, lease.tokens)
                lease.tokens = lease.recent = 0
                lease.reported = lease.reported or extra > 0
        if asks:
            answers = await self._call(room_id, asks)
            for user, (lease, served) in takers.items():
                answer = None if answers is None else answers[user]
                self._settle(lease, served, asks[user], answer, sent, granted, user)

    @staticmethod
    def _settle(
        lease: _Lease,
        served: int,
        ask: _Ask,
        answer: tuple[int, int] | None,
        sent: float,
        granted: dict[str, int],
        user: str,
    ) -> None:
        """One sender's part of a script call's answer (None: Redis unavailable, not enforced)."""
        want, extra, base = ask
        if answer is None:
            if want > 0:
                granted[user] = served + want
            return
        got, leased = answer
        if want > 0:
            granted[user] = served + got
        if extra and leased:
            lease.tokens, lease.recent = leased, served + got
        # What the script now counts as this process's holding (see _TAKE_LEASE).
        held = (base + got + leased if leased else 0) if want > 0 else base
        lease.reported = held > 0
        if held > 0:
            lease.deadline = sent + LEASE_LIFE_SECONDS

    async def _call(self, room_id: str, asks: dict[str, _Ask]) -> dict[str, tuple[int, int]] | None:
        """One script call for one room's asks: per user (granted, leased); None if Redis failed."""
        users = list(asks)
        args: list[float | int | str] = [self.rate, self.burst, self.process, LEASE_LIFE_SECONDS]
        for user in users:
            args.extend(asks[user])
        try:
            out = await self.script(keys=[self.shared.key(room_id, u) for u in users], args=args)
        except Exception as exc:
            self.shared.unavailable(exc)
            return None
        return {u: (int(out[2 * i]), int(out[2 * i + 1])) for i, u in enumerate(users)}

    async def sweep(self, now: float | None = None, *, everything: bool = False) -> None:
        """Give idle leases (or, `everything`, all of them) back to Redis; forget idle senders."""
        now = self.clock() if now is None else now
        await asyncio.gather(
            *(
                self._sweep_room(room_id, room, now, everything)
                for room_id, room in list(self._rooms.items())
                if everything or not room.busy
            )
        )

    async def _sweep_room(self, room_id: str, room: _Room, now: float, everything: bool) -> None:
        if room.lock.locked() and not everything:
            return
        room.busy += 1
        try:
            # Free unless `everything` (shutdown) meets a take still in flight: then after it.
            async with room.lock:
                asks: dict[str, _Ask] = {}
                for user, lease in list(room.users.items()):
                    if now >= lease.deadline:
                        lease.void()  # Redis forgets it by itself
                    idle = everything or now - lease.seen >= RECENT_SECONDS
                    # A lease near its deadline goes back too, rather than lapsing with its tokens.
                    if lease.reported and (idle or now >= lease.deadline - RECENT_SECONDS):
                        asks[user] = (-lease.tokens, 0, 0)
                        lease.void()
                    if idle:
                        del room.users[user]
                if asks:
                    # None: Redis unavailable (warned); the holdings lapse there by themselves.
                    await self._call(room_id, asks)
        finally:
            room.busy -= 1
        if not room.users and not room.busy and self._rooms.get(room_id) is room:
            del self._rooms[room_id]

    async def _sweep_forever(self) -> None:
        assert self.sweep_every is not None
        while self._rooms and not self._closed:
            await asyncio.sleep(self.sweep_every)
            try:
                await self.sweep()
            except Exception:
                log.exception("giving idle rate-limit leases back failed")

    async def close(self) -> None:
        """Stop the sweep and give every lease back (on shutdown); later takes lease nothing."""
        self._closed = True
        task, self._sweeper = self._sweeper, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                log.error("the rate-limit lease sweep had failed", exc_info=task.exception())
        await self.sweep(everything=True)
