"""Presence and focus, in Redis only (never PostgreSQL).

Each server process keeps, per room, a hash `user -> open connections` under its own key
with an expiry that the process's heartbeat refreshes. A crashed process stops refreshing,
its keys expire, and its users drop out of the online set within
WS_PING_INTERVAL + WS_PONG_TIMEOUT (the TTL plus one heartbeat of a surviving process). Focus (a page visible and focused on a room) is kept
the same way and read by the push worker.

Every key of one room carries the room id as a hash tag (`{room_id}`): on a Redis Cluster they
share one slot, so the scripts below, which read the per-process keys they find in the room's
process set, and the focus transaction run on the one shard that holds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# After a change: the user's open connections to the room, summed over every live process.
_USER_TOTAL = """
local total = 0
for _, p in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local v = redis.call('HGET', ARGV[4] .. p, ARGV[1])
  if v then total = total + tonumber(v) end
end
return total
"""

# The room's presence version (KEYS[3]) moves with every change, so a process can tell, in one
# read for all its rooms, which online sets changed since it last read them.
_BUMP = """
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 604800)
"""

_ADD = (
    _BUMP
    + """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
"""
    + _USER_TOTAL
)

_REMOVE = (
    _BUMP
    + """
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
"""
    + _USER_TOTAL
)

# The room's version first (read before the set: a change after it moves the version again),
# then the online user ids.
_ONLINE = """
local users = {}
local out = {redis.call('GET', KEYS[2]) or ''}
for _, p in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. p
  if redis.call('EXISTS', key) == 0 then
    -- A crashed process's users leave with it: the other processes must see the change too.
    redis.call('SREM', KEYS[1], p)
    redis.call('INCR', KEYS[2])
    redis.call('EXPIRE', KEYS[2], 604800)
  else
    for _, u in ipairs(redis.call('HKEYS', key)) do
      if not users[u] then users[u] = true; table.insert(out, u) end
    end
  end
end
return out
"""

# The heartbeat of one room (`Presence.beat`): refresh this process's keys, then whether any
# process the room lists has lost its entries (KEYS: own entries, process set, own focus,
# version; ARGV: process id, ttl, entries' key base, whether to return the version).
_BEAT = """
if redis.call('EXPIRE', KEYS[1], ARGV[2]) == 1 then
  -- listed only while it has entries here (an empty process is no crashed one)
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
local gone = 0
for _, p in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[3] .. p) == 0 then gone = 1; break end
end
local version = ''
if ARGV[4] == '1' then version = redis.call('GET', KEYS[4]) or '' end
return {gone, version}
"""

_FOCUSED = """
for _, p in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('HGET', ARGV[1] .. p, ARGV[2])
  if v and tonumber(v) > 0 then return 1 end
end
return 0
"""

# Which of ARGV[2..] have a focused connection to the room on any process: one round trip for
# everyone a new message would push.
_FOCUSED_AMONG = """
local procs = redis.call('SMEMBERS', KEYS[1])
local out = {}
for i = 2, #ARGV do
  for _, p in ipairs(procs) do
    local v = redis.call('HGET', ARGV[1] .. p, ARGV[i])
    if v and tonumber(v) > 0 then table.insert(out, ARGV[i]); break end
  end
end
return out
"""


class Presence:
    """Who is online in which room, across every server process."""

    def __init__(self, redis: Redis, prefix: str, process_id: str, promise_seconds: float) -> None:
        """`promise_seconds`: how soon a crashed process's users must drop out (ping + pong timeout).

        A crashed process's keys expire `ttl` after its last heartbeat, and a surviving process
        notices at its next heartbeat, so `ttl + heartbeat_interval` stays within the promise.
        """
        self.redis = redis
        self.prefix = prefix
        self.process_id = process_id
        self.heartbeat_interval = max(0.2, min(5.0, promise_seconds / 4))
        self.ttl = max(1, int(promise_seconds - self.heartbeat_interval - 1))
        self._add = redis.register_script(_ADD)
        self._remove = redis.register_script(_REMOVE)
        self._online = redis.register_script(_ONLINE)
        self._focused = redis.register_script(_FOCUSED)
        self._focused_among = redis.register_script(_FOCUSED_AMONG)
        self._beat = redis.register_script(_BEAT)

    def _base(self, room_id: str) -> str:
        return f"{self.prefix}:pres:{{{room_id}}}:"

    def _procs(self, room_id: str) -> str:
        return f"{self.prefix}:presprocs:{{{room_id}}}"

    def _version(self, room_id: str) -> str:
        return f"{self.prefix}:presv:{{{room_id}}}"

    def _focus_base(self, room_id: str) -> str:
        return f"{self.prefix}:focus:{{{room_id}}}:"

    def _focus_procs(self, room_id: str) -> str:
        return f"{self.prefix}:focusprocs:{{{room_id}}}"

    @property
    def _names(self) -> str:
        return f"{self.prefix}:names"

    async def add(self, room_id: str, user_id: str, display_name: str) -> int:
        """Count a new connection; returns the user's open connections to the room, everywhere."""
        await self.redis.hset(self._names, user_id, display_name)
        base = self._base(room_id)
        return int(
            await self._add(
                keys=[base + self.process_id, self._procs(room_id), self._version(room_id)],
                args=[user_id, self.process_id, self.ttl, base],
            )
        )

    async def remove(self, room_id: str, user_id: str) -> int:
        """Uncount a closed connection; returns the user's remaining connections to the room."""
        base = self._base(room_id)
        return int(
            await self._remove(
                keys=[base + self.process_id, self._procs(room_id), self._version(room_id)],
                args=[user_id, self.process_id, self.ttl, base],
            )
        )

    async def _versioned_ids(self, room_id: str) -> tuple[str, list[str]]:
        found = await self._online(
            keys=[self._procs(room_id), self._version(room_id)], args=[self._base(room_id)]
        )
        text = [_text(u) for u in found]
        return text[0], sorted(text[1:])

    async def online_user_ids(self, room_id: str) -> list[str]:
        return (await self._versioned_ids(room_id))[1]

    async def online(self, room_id: str) -> list[dict[str, str]]:
        """Online members with display names, sorted by user id."""
        return (await self.online_versioned(room_id))[1]

    async def online_versioned(self, room_id: str) -> tuple[str, list[dict[str, str]]]:
        """The room's presence version (see `versions`) and its online members with names."""
        version, ids = await self._versioned_ids(room_id)
        if not ids:
            return version, []
        names = await self.redis.hmget(self._names, ids)
        return version, [
            {"user_id": uid, "display_name": _text(n) or uid}
            for uid, n in zip(ids, names, strict=True)
        ]

    async def versions(self, room_ids: list[str]) -> dict[str, str]:
        """Each room's presence version: it changes with every join and leave, on any process
        ('' before the first). One pipelined read for all the rooms."""
        if not room_ids:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for room_id in room_ids:
            pipe.get(self._version(room_id))
        found = await pipe.execute()
        return {room_id: _text(v) for room_id, v in zip(room_ids, found, strict=True)}

    async def set_focus(self, room_id: str, user_id: str, delta: int) -> None:
        """Count a connection's page becoming focused (+1) or unfocused/closed (-1)."""
        key = self._focus_base(room_id) + self.process_id
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, user_id, delta)
        pipe.expire(key, self.ttl)
        pipe.sadd(self._focus_procs(room_id), self.process_id)
        pipe.expire(self._focus_procs(room_id), self.ttl)
        result = await pipe.execute()
        if int(result[0]) <= 0:
            await self.redis.hdel(key, user_id)

    async def is_focused(self, room_id: str, user_id: str) -> bool:
        """Whether any of the user's connections to the room is focused, on any process."""
        return bool(
            int(
                await self._focused(
                    keys=[self._focus_procs(room_id)], args=[self._focus_base(room_id), user_id]
                )
            )
        )

    async def focused_among(self, room_id: str, user_ids: Iterable[str]) -> set[str]:
        """Those of `user_ids` with a connection focused on the room, on any process (one call)."""
        users = list(user_ids)
        if not users:
            return set()
        found = await self._focused_among(
            keys=[self._focus_procs(room_id)], args=[self._focus_base(room_id), *users]
        )
        return {_text(u) for u in found}

    async def beat(self, room_ids: Iterable[str], with_versions: bool = False) -> tuple[set[str], dict[str, str]]:
        """The heartbeat: refresh this process's keys for the rooms it serves, and find the rooms
        that list a process whose entries have expired (it crashed); with `with_versions`, also
        each room's presence version (see `versions`).

        One script call per room, all in one pipeline: the same work as plain commands was six
        or more commands per room, and redis-py's cost is per command (building it and reading
        its reply under a timeout), ~30-40 µs each here, most of an idle server's presence CPU.
        The script touches only the room's own keys (one hash tag), so on a Redis Cluster each
        call runs on the room's shard.
        """
        rooms = list(room_ids)
        if not rooms:
            return set(), {}
        flag = 1 if with_versions else 0
        found: list[Any] = []
        for attempt in range(2):
            pipe = self.redis.pipeline(transaction=False)
            for room_id in rooms:
                base = self._base(room_id)
                keys = (base + self.process_id, self._procs(room_id), self._focus_base(room_id) + self.process_id)
                pipe.evalsha(self._beat.sha, 4, *keys, self._version(room_id), self.process_id, self.ttl, base, flag)
            try:
                found = await pipe.execute()
                break
            except NoScriptError:
                # Redis lost its script cache (a restart or SCRIPT FLUSH): load it (on every
                # primary of a cluster) and beat again; the keys' refresh is idempotent.
                if attempt:
                    raise
                await self.redis.script_load(_BEAT)
        expired = {room_id for room_id, (gone, _v) in zip(rooms, found, strict=True) if int(gone)}
        versions = (
            {room_id: _text(v) for room_id, (_gone, v) in zip(rooms, found, strict=True)} if with_versions else {}
        )
        return expired, versions

    async def drop_process(self, room_ids: Iterable[str]) -> None:
        """On clean shutdown: remove this process's entries at once."""
        pipe = self.redis.pipeline(transaction=False)
        for room_id in room_ids:
            pipe.delete(self._base(room_id) + self.process_id)
            pipe.srem(self._procs(room_id), self.process_id)
            pipe.delete(self._focus_base(room_id) + self.process_id)
            pipe.incr(self._version(room_id))
            pipe.expire(self._version(room_id), 604800)
        await pipe.execute()


def _text(value: object) -> str:
    """A Redis string reply as text ('' for none)."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
