#!/usr/bin/env python3
"""Load generator for the user stream ``/ws`` (issue 13, docs/user-stream.md).

Prints ONE JSON object on stdout; progress goes to stderr.  The connection, pacing, process and
measurement machinery is ``bench/ws_load.py``'s (imported, not copied): its sans-I/O WebSocket
client, its sender connections on ``/ws/{room_id}``, its worker processes driven phase by phase,
its /proc CPU accounting and its percentiles.

Shape of a run:

1. setup, straight in PostgreSQL (``--database-url``, the server's database): fresh users of this
   run (measured users and a few sender users), a sign-in token for each (``auth_tokens``, as
   ``POST /api/auth/login`` would mint it), rooms, and memberships: every measured user is a member
   of ``--rooms-per-user`` of the ``--rooms`` rooms, chosen at random from ``--seed``; room r belongs
   to sender user ``r % --sender-users`` (OWNER).  Nothing is created through the API, so a
   5,000-member room takes seconds, and no system message is stored (sequence numbers are the
   bench's messages only).
2. connect: one ``/ws`` per measured user (the streams, measured), spread over ``--procs`` worker
   processes, plus one ``/ws/{room_id}`` per room for its sender, in a worker process of its own.
   A stream counts once its ``connected`` snapshot arrived; the snapshot must list exactly the
   user's rooms.
3. send: ``--messages`` (or ``--rate`` × ``--duration``) messages at a total ``--rate`` on an
   absolute monotonic schedule; message g is due at g / rate and goes to a room drawn from the
   seed (``--spread random``) or to room g % rooms (``--spread even``).  Each send is stamped with
   ``time.monotonic_ns()`` (CLOCK_MONOTONIC is system-wide, so other processes can compare), and the
   ``ack`` maps the stamp to the message's sequence number.
4. drain: the final ``last_seq`` of every room is read from PostgreSQL and every stream waits
   (bounded) until it has seen it for each of its rooms.  Server CPU (/proc) and Redis figures
   are read at both ends of the window from the start instant to the end of the drain.
5. report: the workers turn what each stream saw into latencies.  A stream delivers message
   (room, n) at the arrival of the first ``room_activity`` of that room whose
   ``last_sequence_number`` is n or higher: a coalesced frame delivers every earlier number at
   its arrival.

Redis: ``redis.prefix_publishes`` counts what a pattern subscription on ``<prefix>:*`` (the
server's ``ANDON_REDIS_PREFIX``) received during the window, by channel kind (``room``, ``user``,
``control``): exactly this server's publishes.  ``redis.commandstats_delta`` (``INFO
commandstats``) is server-wide and includes any other client of that Redis.

Every wait is bounded; the whole run is bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import resource
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(HERE), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from ws_load import (  # noqa: E402
    NS_PER_MS,
    NS_PER_S,
    TIMESTAMP_RE,
    ConnRuntime,
    LeanWebSocket,
    Workers,
    WorkerState,
    _loads,
    _pipe_recv,
    check_fields,
    check_loopback,
    check_target,
    cpu_report,
    cpu_snapshot,
    raise_nofile_limit,
    resolve_server_pids,
    run_async,
    summarize,
    ws_url,
)

CONNECTED_FIELDS = frozenset({"type", "user_id", "server_time", "rooms"})
ROOM_ENTRY_FIELDS = frozenset(
    {
        "room_id",
        "title",
        "status",
        "role",
        "last_sequence_number",
        "unread_count",
        "unread_mentions",
        "last_message_at",
        "preview",
    }
)
ACTIVITY_FIELDS = frozenset(
    {
        "type",
        "room_id",
        "last_sequence_number",
        "unread_count",
        "unread_mentions",
        "last_message_at",
        "preview",
    }
)

SCENARIOS: dict[str, dict[str, Any]] = {
    "streams": {
        "description": "1,000 user streams, each user in 50 of 200 rooms, 200 msg/s over the rooms",
        "users": 1000,
        "rooms": 200,
        "rooms_per_user": 50,
        "sender_users": 4,
        "rate": 200.0,
        "duration": 20.0,
        "procs": 2,
    },
    "bigroom": {
        "description": "one room of 5,000 members, all on user streams, 1 msg/s for 10 s",
        "users": 5000,
        "rooms": 1,
        "rooms_per_user": 1,
        "sender_users": 1,
        "rate": 1.0,
        "duration": 10.0,
        "procs": 2,
    },
    "custom": {
        "description": "no preset",
        "users": 20,
        "rooms": 10,
        "rooms_per_user": 4,
        "sender_users": 2,
        "rate": 20.0,
        "duration": 2.0,
        "procs": 1,
    },
}

# Targets of issue 13 (a 2-core machine).  Checked against the measured figures, never assumed.
# The publish target only says "does not scale with the members" (a room here has ~250 of them).
TARGETS: dict[str, list[tuple[str, str, float]]] = {
    "streams": [
        ("delivery_latency_ms.p99", "<", 50.0),
        ("redis.prefix_publishes_per_message", "<", 2.0),
    ],
    "bigroom": [
        ("delivery_all_latency_ms.p99", "<", 500.0),
        ("delivery_latency_ms.p99", "<", 500.0),
    ],
}

# --parse deferred: the streams parse their frames once none has arrived for this long.
DEFERRED_QUIET_NS = 200_000_000

DEFAULTS: dict[str, Any] = {
    "messages": None,
    "spread": "random",
    "seed": 13,
    "settle": 1.0,
    "ack_timeout": 15.0,
    "connect_timeout": 30.0,
    "connect_concurrency": 100,
    "drain_timeout": 15.0,
    "max_seconds": 300.0,
    "parse": "deferred",
}


def log(msg: str) -> None:
    print(f"[user_stream_load {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# Pure parts (unit-tested without a network)
# ---------------------------------------------------------------------------------------------------


def plan_memberships(users: int, rooms: int, per_user: int, seed: int) -> list[list[int]]:
    """Room numbers of every measured user: ``per_user`` distinct rooms each, drawn from ``seed``."""
    if not 1 <= per_user <= rooms:
        raise ValueError("rooms per user must be within 1..rooms")
    rng = random.Random(f"members:{seed}")
    return [sorted(rng.sample(range(rooms), per_user)) for _ in range(users)]


def plan_messages(total: int, rooms: int, rate: float, spread: str, seed: int) -> list[tuple[int, int]]:
    """(due offset in ns after the start, room number) of every message, in sending order.

    Message g is due at g / rate (an absolute schedule: a late send does not push the later ones
    back).  ``even`` sends it to room g % rooms, ``random`` to a room drawn from ``seed``.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    rng = random.Random(f"messages:{seed}")
    out = []
    for g in range(total):
        room = g % rooms if spread == "even" else rng.randrange(rooms)
        out.append((round(g * NS_PER_S / rate), room))
    return out


def deliveries(
    events: Sequence[int], msgs: Sequence[tuple[int, int]], baseline: int
) -> tuple[list[tuple[int, int]], int]:
    """When one stream delivered each message of one room.

    ``events`` is flat, ``[n0, t0, n1, t1, …]``: each ``room_activity`` that raised the stream's
    ``last_sequence_number`` for the room (n strictly increasing) and its arrival time.  ``msgs`` is
    ``[(sequence_number, send_ns), …]`` sorted by number.  A message is delivered by the first
    event whose number is at or above its own (a coalesced frame delivers all earlier numbers at its
    arrival).  Messages at or below ``baseline`` (already in the ``connected`` snapshot) are no
    deliveries.  Returns ``([(sequence_number, latency_ns), …], undelivered)``.
    """
    out: list[tuple[int, int]] = []
    j = 0
    n_ev = len(events)
    missing = 0
    for seq, t_send in msgs:
        if seq <= baseline:
            continue
        while j < n_ev and events[j] < seq:
            j += 2
        if j >= n_ev:
            missing += 1
            continue
        out.append((seq, events[j + 1] - t_send))
    return out, missing


def user_stream_url(base: str) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, "/ws", "", ""))


def members_summary(memberships: list[list[int]], rooms: int) -> dict[str, Any]:
    per_room = Counter(r for rs in memberships for r in rs)
    counts = [per_room.get(r, 0) for r in range(rooms)]
    return {
        "min": min(counts),
        "mean": round(sum(counts) / len(counts), 1),
        "max": max(counts),
    }


def pattern_escape(text: str) -> str:
    """``text`` as a literal inside a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="user_stream_load.py",
        description="Load generator for the user stream /ws; prints one JSON object on stdout.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="custom", help="preset (issue 13)")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (loopback only)")
    p.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="the server's PostgreSQL database, for the setup (env DATABASE_URL)",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        help="the server's Redis, for the publish counts (env REDIS_URL)",
    )
    p.add_argument(
        "--redis-prefix",
        default=os.environ.get("ANDON_REDIS_PREFIX") or "andon",
        help="the server's ANDON_REDIS_PREFIX (env ANDON_REDIS_PREFIX)",
    )
    p.add_argument("--users", type=int, help="measured users, one /ws stream each")
    p.add_argument("--rooms", type=int, help="rooms")
    p.add_argument("--rooms-per-user", type=int, help="rooms each measured user is a member of")
    p.add_argument("--sender-users", type=int, help="sender users (room r is sender r %% N's)")
    p.add_argument("--rate", type=float, help="total messages/s over all rooms")
    p.add_argument("--duration", type=float, help="send window in seconds (rate x duration messages)")
    p.add_argument("--messages", type=int, help="total messages (instead of rate x duration)")
    p.add_argument("--spread", choices=["random", "even"], help="which room each message goes to")
    p.add_argument("--seed", type=int, help="seed of the memberships and of the random spread")
    p.add_argument("--procs", type=int, help="worker processes holding the streams (+1 for the senders)")
    p.add_argument("--settle", type=float, help="seconds to wait after connecting, before the window")
    p.add_argument("--ack-timeout", type=float, help="seconds to wait for one ack")
    p.add_argument("--connect-timeout", type=float, help="seconds to wait for upgrade + connected frame")
    p.add_argument("--connect-concurrency", type=int, help="connection attempts in flight per process")
    p.add_argument("--drain-timeout", type=float, help="seconds to wait for the last frames to arrive")
    p.add_argument("--max-seconds", type=float, help="hard bound on the whole run")
    p.add_argument(
        "--parse",
        choices=["deferred", "live"],
        help="when the streams parse their frames: after the window (deferred: during it they only keep"
        " each TCP read's frames and arrival time) or as they arrive (live)",
    )
    p.add_argument(
        "--server-pid",
        action="append",
        default=None,
        help="server PID, repeatable, children included; 'auto' = the processes listening on the --url port",
    )
    p.add_argument("--aux-pid", action="append", default=None, help="also report the CPU of these PIDs")
    p.add_argument("--user-prefix", default="us", help="local part prefix of the run's users' e-mails")
    p.add_argument("--cleanup", action="store_true", help="delete the run's users and rooms afterwards")
    p.add_argument("--output", help="also write the JSON to this file")
    return p.parse_args(argv)


@dataclass
class Config:
    scenario: str
    description: str
    url: str
    database_url: str
    redis_url: str
    redis_prefix: str
    users: int
    rooms: int
    rooms_per_user: int
    sender_users: int
    rate: float
    messages: int
    duration: float
    spread: str
    seed: int
    procs: int
    settle: float
    ack_timeout: float
    connect_timeout: float
    connect_concurrency: int
    drain_timeout: float
    max_seconds: float
    parse: str
    server_pids: list[int]
    aux_pids: list[int]
    user_prefix: str
    cleanup: bool
    output: str | None

    def public(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["database_url"] = _hide_password(self.database_url)
        out["redis_url"] = _hide_password(self.redis_url)
        return out


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def resolve_config(args: argparse.Namespace) -> Config:
    preset = SCENARIOS[args.scenario]

    def pick(name: str) -> Any:
        value = getattr(args, name, None)
        if value is not None:
            return value
        if name in preset:
            return preset[name]
        return DEFAULTS.get(name)

    url = check_loopback(args.url)
    if not args.database_url:
        raise ValueError("--database-url (or DATABASE_URL): the setup writes straight into the database")
    users = int(pick("users"))
    rooms = int(pick("rooms"))
    per_user = int(pick("rooms_per_user"))
    sender_users = int(pick("sender_users"))
    rate = float(pick("rate"))
    if users < 1 or rooms < 1 or sender_users < 1:
        raise ValueError("--users, --rooms and --sender-users must be positive")
    if not 1 <= per_user <= rooms:
        raise ValueError("--rooms-per-user must be within 1..--rooms")
    if rate <= 0:
        raise ValueError("--rate must be positive")
    messages = args.messages
    duration = float(pick("duration"))
    if messages is None:
        messages = round(rate * duration)
    else:
        duration = messages / rate
    if messages < 1:
        raise ValueError("no messages to send (--messages, or --rate x --duration)")
    return Config(
        scenario=args.scenario,
        description=preset["description"],
        url=url,
        database_url=args.database_url,
        redis_url=args.redis_url,
        redis_prefix=args.redis_prefix,
        users=users,
        rooms=rooms,
        rooms_per_user=per_user,
        sender_users=min(sender_users, rooms),
        rate=rate,
        messages=int(messages),
        duration=duration,
        spread=str(pick("spread")),
        seed=int(pick("seed")),
        procs=max(1, min(int(pick("procs")), users)),
        settle=float(pick("settle")),
        ack_timeout=float(pick("ack_timeout")),
        connect_timeout=float(pick("connect_timeout")),
        connect_concurrency=int(pick("connect_concurrency")),
        drain_timeout=float(pick("drain_timeout")),
        max_seconds=float(pick("max_seconds")),
        parse=str(pick("parse")),
        server_pids=resolve_server_pids(args.server_pid or [], [url]),
        aux_pids=resolve_server_pids(args.aux_pid or [], [url]),
        user_prefix=args.user_prefix,
        cleanup=bool(args.cleanup),
        output=args.output,
    )


# ---------------------------------------------------------------------------------------------------
# Setup, straight in PostgreSQL
# ---------------------------------------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def setup_fixtures(cfg: Config, memberships: list[list[int]], run_id: str) -> dict[str, Any]:
    import asyncpg

    from api.domain.auth.credentials import new_token, token_digest

    t_start = time.monotonic()
    users = [f"{cfg.user_prefix}-{run_id}-{i:05d}@bench.andon.test" for i in range(cfg.users)]
    senders = [f"{cfg.user_prefix}-{run_id}-sender-{j}@bench.andon.test" for j in range(cfg.sender_users)]
    tokens = [new_token() for _ in users]
    sender_tokens = [new_token() for _ in senders]
    room_ids = [uuid.uuid4() for _ in range(cfg.rooms)]
    expires = datetime.now(UTC) + timedelta(days=1)
    conn = await asyncpg.connect(_asyncpg_dsn(cfg.database_url))
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "tr_users",
                records=[(u, f"Stream User {i}") for i, u in enumerate(users)]
                + [(s, f"Stream Sender {j}") for j, s in enumerate(senders)],
                columns=["user_id", "display_name"],
            )
            await conn.copy_records_to_table(
                "auth_tokens",
                records=[
                    (token_digest(t), u, expires)
                    for t, u in zip([*tokens, *sender_tokens], [*users, *senders], strict=True)
                ],
                columns=["token_hash", "user_id", "expires_at"],
            )
            await conn.copy_records_to_table(
                "incident_rooms",
                records=[
                    (rid, f"us {cfg.scenario} {run_id} #{r}", senders[r % cfg.sender_users])
                    for r, rid in enumerate(room_ids)
                ],
                columns=["room_id", "title", "created_by"],
            )
            members = [(rid, senders[r % cfg.sender_users], "OWNER") for r, rid in enumerate(room_ids)]
            members += [(room_ids[r], users[i], "EDITOR") for i, rs in enumerate(memberships) for r in rs]
            await conn.copy_records_to_table(
                "room_members", records=members, columns=["room_id", "user_id", "role"]
            )
    finally:
        await conn.close()
    return {
        "room_ids": [str(r) for r in room_ids],
        "user_ids": users,
        "tokens": tokens,
        "sender_ids": senders,
        "sender_tokens": sender_tokens,
        "report": {
            "seconds": round(time.monotonic() - t_start, 3),
            "users": cfg.users,
            "sender_users": cfg.sender_users,
            "rooms": cfg.rooms,
            "memberships": len(members),
            "members_per_room": members_summary(memberships, cfg.rooms),
        },
    }


async def read_last_seqs(cfg: Config, room_ids: list[str]) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(cfg.database_url))
    try:
        rows = await conn.fetch(
            "SELECT room_id::text AS room_id, last_seq FROM incident_rooms WHERE room_id = ANY($1::uuid[])",
            room_ids,
        )
    finally:
        await conn.close()
    return {r["room_id"]: int(r["last_seq"]) for r in rows}


async def delete_fixtures(cfg: Config, fixtures: dict[str, Any]) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(cfg.database_url))
    try:
        await conn.execute("DELETE FROM incident_rooms WHERE room_id = ANY($1::uuid[])", fixtures["room_ids"])
        await conn.execute(
            "DELETE FROM tr_users WHERE user_id = ANY($1::text[])",
            [*fixtures["user_ids"], *fixtures["sender_ids"]],
        )
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# Redis: this server's publishes (pattern subscription) and the server-wide command counters
# ---------------------------------------------------------------------------------------------------


class PublishCounter:
    """Counts the messages published on ``<prefix>:*`` while running, by channel kind."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=10)
        self.pubsub = self.client.pubsub()
        self.counts: Counter[str] = Counter()
        self.bytes = 0
        self.stop_flag = threading.Event()
        self.thread: threading.Thread | None = None

    def commandstats(self) -> dict[str, int]:
        stats = self.client.info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items() if isinstance(v, dict)}

    def start(self) -> None:
        self.pubsub.psubscribe(pattern_escape(self.prefix) + ":*")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the subscription is live once Redis confirmed it
            msg = self.pubsub.get_message(timeout=1.0)
            if msg is not None and msg["type"] == "psubscribe":
                break
        else:
            raise RuntimeError("Redis did not confirm the pattern subscription within 10 s")
        self.thread = threading.Thread(target=self._loop, name="publish-counter", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        skip = len(self.prefix) + 1
        while not self.stop_flag.is_set():
            try:
                msg = self.pubsub.get_message(timeout=0.1)
            except Exception:
                self.counts["_read_errors"] += 1
                return
            if msg is None or msg["type"] != "pmessage":
                continue
            channel = msg["channel"].decode(errors="replace")
            self.counts[channel[skip:].split(":", 1)[0] or "?"] += 1
            data = msg["data"]
            self.bytes += len(data) if isinstance(data, bytes | str) else 0

    def stop(self) -> dict[str, int]:
        # let what was published up to now arrive first (Redis delivers in order on one socket):
        # a PING through the same connection comes back after every message before it
        with contextlib.suppress(Exception):
            self.client.publish(f"{self.prefix}:_bench_marker", b"end")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not self.counts.get("_bench_marker"):
            time.sleep(0.01)
        self.stop_flag.set()
        if self.thread is not None:
            self.thread.join(5)
        out = dict(self.counts)
        out.pop("_bench_marker", None)
        return out

    def close(self) -> None:
        self.stop_flag.set()
        if self.thread is not None and self.thread.is_alive():
            self.thread.join(5)
        with contextlib.suppress(Exception):
            self.pubsub.close()
        with contextlib.suppress(Exception):
            self.client.close()


# ---------------------------------------------------------------------------------------------------
# Worker process: the streams, and the senders' room sockets
# ---------------------------------------------------------------------------------------------------


class SenderConn(ConnRuntime):
    """ws_load's room connection, sending on a precomputed schedule and keeping each send stamp
    by the sequence number its ``ack`` assigned."""

    def __init__(self, spec: dict[str, Any], run: dict[str, Any], state: WorkerState) -> None:
        super().__init__(spec, run, state)
        self.sent_at: list[tuple[int, int, int]] = []  # (sequence_number, send_ns, k)

    def on_ack(self, frame: dict[str, Any], now: int) -> None:
        cid = frame.get("client_id")
        entry = self.pending.get(cid) if isinstance(cid, str) else None
        seq = frame.get("sequence_number")
        if entry is not None and isinstance(seq, int):
            self.sent_at.append((seq, entry[0], entry[1]))
        super().on_ack(frame, now)

    async def run_sender(self, t0: int) -> None:
        from websockets.exceptions import ConnectionClosed

        run = self.run
        state = self.state
        try:
            for k, off in enumerate(self.spec["offsets"]):
                if not self.alive:
                    break
                if time.monotonic() >= run["send_deadline"]:
                    state.violations["sender_stopped_at_max_seconds"] += 1
                    break
                target = t0 + off
                delay = target - time.monotonic_ns()
                if delay > 0:
                    await asyncio.sleep(delay / NS_PER_S)
                state.send_lag.append(max(0, time.monotonic_ns() - target))
                await self.send_one(k, False)
        except ConnectionClosed:
            state.send_failed += 1
        except TimeoutError:
            state.violations["send_blocked_past_ack_timeout"] += 1
        # outstanding acks: as long as they keep coming, never past the run's deadline
        self.last_progress = max(self.last_progress, time.monotonic())
        while self.pending and self.alive:
            now = time.monotonic()
            if now - self.last_progress >= run["ack_timeout"] or now >= run["send_deadline"]:
                break
            await asyncio.sleep(0.02)
        state.ack_timeouts += len(self.pending)
        self.pending.clear()


class CallbackWebSocket(LeanWebSocket):
    """ws_load's socket, whose data frames go straight to a callback once ``attach``ed.

    A stream receives a frame every few milliseconds; waking a reader task for each (a future,
    a task step) cost the generator about as much CPU as the server spends producing the frame.
    Here the frames of one TCP read are handed over from ``data_received``, no task involved.
    Until ``attach`` they queue for ``recv()`` as usual (the ``connected`` frame).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler: Callable[[list[bytes], int], None] | None = None
        self.lost_handler: Callable[[], None] | None = None
        # When the current TCP read arrived: taken before any parsing, so the generator's own
        # frame splitting is not counted as delivery latency.
        self.arrived = 0

    def data_received(self, data: bytes) -> None:
        self.arrived = time.monotonic_ns()
        super().data_received(data)

    def attach(self, handler: Callable[[list[bytes], int], None], lost: Callable[[], None]) -> None:
        self.handler = handler
        self.lost_handler = lost
        self._wake()  # frames that came in the same read as the `connected` one

    def _wake(self) -> None:
        handler = self.handler
        if handler is None:
            super()._wake()
            return
        if self.head < len(self.frames):
            batch = self.frames[self.head :] if self.head else self.frames
            self.frames = []
            self.head = 0
            handler(batch, self.arrived or time.monotonic_ns())
        if self.lost.done() and self.lost_handler is not None:
            lost, self.lost_handler = self.lost_handler, None
            lost()


class StreamState:
    """Figures shared by the streams of one worker process."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.marker = f'{{"b":"{run["run_id"]}"'
        self.frame_types: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.connect_failures: Counter[str] = Counter()
        self.connect_lat: list[int] = []
        self.foreign = 0  # room_activity for a room the user is not a member of
        self.regressed = 0  # last_sequence_number below one seen before for the room
        self.repeated = 0  # last_sequence_number equal to the highest seen (no new message)
        self.unread_mismatch = 0
        self.snapshot_mismatch = 0  # connected.rooms is not exactly the user's rooms
        self.activity_frames = 0


class StreamConn:
    """One user's ``/ws``: what it saw of every room, as (number, arrival) steps."""

    __slots__ = (
        "alive",
        "base_lsn",
        "base_unread",
        "closing",
        "connected",
        "events",
        "inbox",
        "index",
        "last_arrival",
        "last_preview",
        "max_lsn",
        "rooms",
        "run",
        "spec",
        "state",
        "ws",
    )

    def __init__(self, spec: dict[str, Any], run: dict[str, Any], state: StreamState) -> None:
        self.spec = spec
        self.run = run
        self.state = state
        self.index: int = spec["index"]
        self.rooms: frozenset[str] = frozenset(run["room_ids"][r] for r in spec["rooms"])
        self.ws: Any = None
        self.connected = False
        self.alive = False
        self.closing = False
        self.base_lsn: dict[str, int] = {}
        self.base_unread: dict[str, int] = {}
        self.max_lsn: dict[str, int] = {}
        self.events: dict[str, list[int]] = {r: [] for r in self.rooms}
        self.last_preview: dict[str, Any] = {}
        # --parse deferred: each TCP read's frames and arrival time, parsed after the window
        self.inbox: list[tuple[list[bytes], int]] = []
        self.last_arrival = 0

    async def open(self, sem: asyncio.Semaphore) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        state = self.state
        async with sem:
            t0 = time.monotonic_ns()
            frame: Any = None
            try:
                async with asyncio.timeout(self.run["connect_timeout"]):
                    self.ws = await CallbackWebSocket.connect(
                        self.run["stream_url"], {"Authorization": f"Bearer {self.spec['token']}"}
                    )
                    for _ in range(1000):  # the first frame is `connected`; others before it are counted
                        raw = await self.ws.recv()
                        try:
                            frame = _loads(raw)
                        except Exception:
                            frame = None
                        if isinstance(frame, dict) and frame.get("type") == "connected":
                            break
                        kind = frame.get("type") if isinstance(frame, dict) else "invalid_json"
                        state.violations[f"frame_before_connected:{kind}"] += 1
            except InvalidStatus as exc:
                state.connect_failures[f"http_{exc.response.status_code}"] += 1
                return
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                state.connect_failures[f"close_{code}"] += 1
                await self._abort()
                return
            except TimeoutError:
                state.connect_failures["timeout"] += 1
                await self._abort()
                return
            except OSError as exc:
                state.connect_failures[f"os_error_{exc.errno}"] += 1
                return
            except Exception as exc:
                state.connect_failures[f"exception_{type(exc).__name__}"] += 1
                await self._abort()
                return
        if not isinstance(frame, dict) or frame.get("type") != "connected":
            state.connect_failures["no_connected_frame"] += 1
            await self._abort()
            return
        state.connect_lat.append(time.monotonic_ns() - t0)
        self._snapshot(frame)
        self.connected = True
        self.alive = True
        self.ws.attach(self.keep if self.run["parse"] == "deferred" else self.on_frames, self.on_lost)

    def _snapshot(self, frame: dict[str, Any]) -> None:
        state = self.state
        check_fields(frame, CONNECTED_FIELDS, "connected", state.violations)
        if frame.get("user_id") != self.spec["user_id"]:
            state.violations["connected_user_id_mismatch"] += 1
        if not TIMESTAMP_RE.match(str(frame.get("server_time", ""))):
            state.violations["connected_server_time_format"] += 1
        entries = frame.get("rooms")
        if not isinstance(entries, list):
            state.violations["connected_rooms_not_a_list"] += 1
            entries = []
        seen: set[str] = set()
        for e in entries:
            if not isinstance(e, dict):
                state.violations["connected_room_entry_not_an_object"] += 1
                continue
            check_fields(e, ROOM_ENTRY_FIELDS, "room_entry", state.violations)
            rid = e.get("room_id")
            lsn = e.get("last_sequence_number")
            unread = e.get("unread_count")
            if not isinstance(rid, str):
                continue
            seen.add(rid)
            if rid in self.rooms:
                self.base_lsn[rid] = lsn if isinstance(lsn, int) else 0
                self.base_unread[rid] = unread if isinstance(unread, int) else 0
        if seen != self.rooms or len(entries) != len(self.rooms):
            state.snapshot_mismatch += 1
        for rid in self.rooms:
            self.base_lsn.setdefault(rid, 0)
            self.base_unread.setdefault(rid, 0)
        self.max_lsn = dict(self.base_lsn)

    async def _abort(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 3)

    def on_frames(self, batch: list[bytes], arrived: int | None = None) -> None:
        """The frames of one TCP read, handed over by the socket's protocol callback with the
        read's arrival time (taken before parsing it)."""
        now = arrived or time.monotonic_ns()
        state = self.state
        frame_types = state.frame_types
        for raw in batch:
            try:
                frame = _loads(raw)
            except Exception:
                state.violations["invalid_json_from_server"] += 1
                continue
            if not isinstance(frame, dict):
                state.violations["non_object_frame"] += 1
                continue
            kind = frame.get("type")
            frame_types[str(kind)] += 1
            if kind == "room_activity":
                try:
                    self.on_activity(frame, now)
                except Exception as exc:  # never let a surprise kill the socket's protocol
                    state.violations[f"activity_exception_{type(exc).__name__}"] += 1
            elif kind == "error":
                state.errors[str(frame.get("code"))] += 1
            elif kind in ("room_added", "room_removed", "role_changed", "room_status_changed"):
                state.violations[f"unexpected_{kind}"] += 1

    def keep(self, batch: list[bytes], arrived: int | None = None) -> None:
        """--parse deferred: keep one TCP read's frames with their arrival time for `digest`.

        Parsing a frame (JSON, the checks) cost the generator more CPU than the server spends
        producing it, on the same two cores as the server; kept raw, the frames cost a list append.
        Control frames (the server's pings) are still answered at once by the socket's protocol."""
        now = arrived or time.monotonic_ns()
        self.inbox.append((batch, now))
        self.last_arrival = now

    def digest(self) -> None:
        """Parse what `keep` kept, in arrival order, exactly as live parsing would have."""
        inbox, self.inbox = self.inbox, []
        for batch, arrived in inbox:
            self.on_frames(batch, arrived)

    def on_lost(self) -> None:
        self.alive = False
        if not self.closing:
            rcvd = self.ws.proto.close_rcvd
            self.state.closes[str(rcvd.code if rcvd is not None else 1006)] += 1

    def on_activity(self, frame: dict[str, Any], now: int) -> None:
        state = self.state
        state.activity_frames += 1
        rid = frame.get("room_id")
        if rid not in self.rooms:
            state.foreign += 1
            return
        if not frame.keys() >= ACTIVITY_FIELDS:
            check_fields(frame, ACTIVITY_FIELDS, "room_activity", state.violations)
        lsn = frame.get("last_sequence_number")
        if not isinstance(lsn, int):
            state.violations["room_activity_last_sequence_number_not_int"] += 1
            return
        prev = self.max_lsn[rid]
        if lsn > prev:
            self.max_lsn[rid] = lsn
            ev = self.events[rid]
            ev.append(lsn)
            ev.append(now)
            # nobody reads and every message is another user's: unread grows with the number
            if frame.get("unread_count") != self.base_unread[rid] + lsn - self.base_lsn[rid]:
                state.unread_mismatch += 1
            self.last_preview[rid] = frame.get("preview")
        elif lsn == prev:
            state.repeated += 1
        else:
            state.regressed += 1

    def behind(self, targets: dict[str, int]) -> list[str]:
        return [r for r in self.rooms if self.max_lsn.get(r, 0) < targets.get(r, 0)]

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)


def _preview_key(preview: Any, marker: str) -> tuple[int, int] | None:
    """(sender, k) of a bench message's preview, None when it is not one."""
    if not isinstance(preview, dict):
        return None
    content = preview.get("content")
    if not isinstance(content, str) or not content.startswith(marker):
        return None
    try:
        body = _loads(content)
        return int(body["s"]), int(body["n"])
    except Exception:
        return None


def export_senders(state: WorkerState, senders: list[SenderConn]) -> dict[str, Any]:
    return {
        "connected": sum(c.connected for c in senders),
        "sent_at": [(c.room, seq, t, k) for c in senders for seq, t, k in c.sent_at],
        "ack_lat": state.ack_lat,
        "send_lag": state.send_lag,
        "sent": state.sent,
        "first_send_ns": state.first_send_ns,
        "last_ack_ns": state.last_ack_ns,
        "ack_timeouts": state.ack_timeouts,
        "send_failed": state.send_failed,
        "refused": state.refused,
        "errors": dict(state.errors),
        "closes": dict(state.closes),
        "frame_types": dict(state.frame_types),
        "violations": dict(state.violations),
    }


def export_streams(
    state: StreamState,
    streams: list[StreamConn],
    msgs: dict[int, list[tuple[int, int]]],
    targets: dict[str, int],
    final_keys: dict[str, tuple[int, int]],
    room_ids: list[str],
) -> dict[str, Any]:
    """Latencies per (message, stream), and per message the count and the slowest of them."""
    pair_lat: list[int] = []
    agg: dict[tuple[int, int], list[int]] = {}  # (room, seq) -> [streams, max_ns]
    missing = 0
    left_behind = 0
    preview_mismatch = 0
    examples: list[dict[str, Any]] = []
    room_index = {rid: r for r, rid in enumerate(room_ids)}
    for c in streams:
        if not c.connected:
            continue
        for rid in c.rooms:
            r = room_index[rid]
            got, miss = deliveries(c.events[rid], msgs.get(r, ()), c.base_lsn.get(rid, 0))
            missing += miss
            for seq, lat in got:
                pair_lat.append(lat)
                a = agg.get((r, seq))
                if a is None:
                    agg[(r, seq)] = [1, lat]
                else:
                    a[0] += 1
                    if lat > a[1]:
                        a[1] = lat
            target = targets.get(rid, 0)
            top = c.max_lsn.get(rid, 0)
            if top < target:
                left_behind += 1
                if len(examples) < 10:
                    examples.append(
                        {
                            "stream": c.index,
                            "room": r,
                            "max_seen": top,
                            "expected_last": target,
                            "open": c.alive,
                        }
                    )
            elif rid in final_keys and top == target and c.events[rid]:
                if _preview_key(c.last_preview.get(rid), state.marker) != final_keys[rid]:
                    preview_mismatch += 1
    return {
        "connected": [c.index for c in streams if c.connected],
        "room_pairs": sum(len(c.rooms) for c in streams if c.connected),
        "connect_lat": state.connect_lat,
        "connect_failures": dict(state.connect_failures),
        "pair_lat": pair_lat,
        "msg_agg": [(r, seq, n, mx) for (r, seq), (n, mx) in agg.items()],
        "missing_pairs": missing,
        "left_behind": left_behind,
        "preview_mismatch": preview_mismatch,
        "examples": examples,
        "foreign": state.foreign,
        "regressed": state.regressed,
        "repeated": state.repeated,
        "unread_mismatch": state.unread_mismatch,
        "snapshot_mismatch": state.snapshot_mismatch,
        "activity_frames": state.activity_frames,
        "frame_types": dict(state.frame_types),
        "violations": dict(state.violations),
        "errors": dict(state.errors),
        "closes": dict(state.closes),
    }


def _cpu(r0: resource.struct_rusage, r1: resource.struct_rusage) -> float:
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


async def loop_lag(samples: list[int], period: float = 0.01) -> None:
    """How late this process's event loop wakes up from a short sleep: when it is late, the
    generator itself is behind and part of a measured latency is its own queueing."""
    period_ns = round(period * NS_PER_S)
    while True:
        t = time.monotonic_ns()
        await asyncio.sleep(period)
        samples.append(max(0, time.monotonic_ns() - t - period_ns))


async def worker_main(run: dict[str, Any], specs: list[dict[str, Any]], pipe: Connection) -> None:
    wstate = WorkerState(run)
    sstate = StreamState(run)
    senders = [SenderConn(s, run, wstate) for s in specs if s["kind"] == "room"]
    streams = [StreamConn(s, run, sstate) for s in specs if s["kind"] == "user"]
    timeout = run["phase_timeout"]
    try:
        msg = await _pipe_recv(pipe, timeout)
        if msg[0] != "connect":
            return
        t = time.monotonic()
        sem = asyncio.Semaphore(run["connect_concurrency"])
        await asyncio.gather(*(c.open(sem) for c in senders), *(s.open(sem) for s in streams))
        failures = Counter(wstate.connect_failures)
        failures.update(sstate.connect_failures)
        pipe.send(
            (
                "ready",
                {
                    "streams": sum(s.connected for s in streams),
                    "room_sockets": sum(c.connected for c in senders),
                    "failures": dict(failures),
                    "seconds": round(time.monotonic() - t, 3),
                },
            )
        )
        msg = await _pipe_recv(pipe, timeout)
        if msg[0] != "start":
            return
        t0: int = msg[1]
        # as in ws_load: the generator's own full collections must not stall its clocks mid-run
        gc.collect()
        gc.freeze()
        gc.disable()
        rusage1 = resource.getrusage(resource.RUSAGE_SELF)
        wall1 = time.monotonic()
        lag: list[int] = []
        lag_task = asyncio.create_task(loop_lag(lag))
        delay = t0 - time.monotonic_ns()
        if delay > 0:
            await asyncio.sleep(delay / NS_PER_S)
        await asyncio.gather(*(c.run_sender(t0) for c in senders if c.connected))
        pipe.send(("sent", export_senders(wstate, senders) if senders else None))
        msg = await _pipe_recv(pipe, timeout)
        if msg[0] != "drain":
            return
        targets: dict[str, int] = msg[1]
        deadline = time.monotonic() + run["drain_timeout"]
        parse_cpu = 0.0
        if run["parse"] == "deferred":
            # Parse once the frames have stopped coming (the window's tail delivered), so the
            # parsing does not compete with the server for the CPU while it still delivers.
            while time.monotonic() < deadline:
                last = max((s.last_arrival for s in streams), default=0)
                if time.monotonic_ns() - last >= DEFERRED_QUIET_NS:
                    break
                await asyncio.sleep(0.02)
            before = resource.getrusage(resource.RUSAGE_SELF)
            for s in streams:
                s.digest()
            parse_cpu = _cpu(before, resource.getrusage(resource.RUSAGE_SELF))
        behind = [s for s in streams if s.connected and s.behind(targets)]
        while behind and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            for s in behind:
                s.digest()
            behind = [s for s in behind if s.alive and s.behind(targets)]
        for s in streams:
            s.digest()  # anything that came after its stream caught up (counted in the checks)
        rusage2 = resource.getrusage(resource.RUSAGE_SELF)
        wall2 = time.monotonic()
        lag_task.cancel()
        pipe.send(
            (
                "drained",
                {
                    "role": "streams" if streams else "senders",
                    "loop_lag_ms": summarize(lag, NS_PER_MS),
                    "streams_behind": len(behind),
                    "cpu_seconds_run": round(_cpu(rusage1, rusage2), 3),
                    "cpu_system_seconds_run": round(rusage2.ru_stime - rusage1.ru_stime, 3),
                    # --parse deferred: the part of cpu_seconds_run spent parsing after the window
                    "cpu_seconds_deferred_parse": round(parse_cpu, 3),
                    "wall_seconds_run": round(wall2 - wall1, 3),
                },
            )
        )
        gc.enable()
        msg = await _pipe_recv(pipe, timeout)
        if msg[0] != "report":
            return
        body = msg[1]
        msgs: dict[int, list[tuple[int, int]]] = {int(k): v for k, v in body["msgs"].items()}
        final_keys = {k: tuple(v) for k, v in body["final_keys"].items()}
        pipe.send(
            (
                "result",
                export_streams(sstate, streams, msgs, targets, final_keys, run["room_ids"]),  # type: ignore[arg-type]
            )
        )
    finally:
        await asyncio.gather(*(c.close() for c in senders), *(s.close() for s in streams))


def worker_entry(run: dict[str, Any], specs: list[dict[str, Any]], pipe: Connection) -> None:
    raise_nofile_limit()
    try:
        run_async(worker_main(run, specs, pipe))
    except Exception as exc:  # report instead of dying silently, with where it happened
        where = traceback.format_exc(limit=-4).strip().splitlines()
        with contextlib.suppress(Exception):
            pipe.send(
                ("crash", f"{type(exc).__name__}: {exc} | " + " / ".join(w.strip() for w in where[1:-1]))
            )
    finally:
        pipe.close()


# ---------------------------------------------------------------------------------------------------
# Parent: orchestration and aggregation
# ---------------------------------------------------------------------------------------------------


def build_specs(
    cfg: Config,
    memberships: list[list[int]],
    schedule: list[tuple[int, int]],
    fixtures: dict[str, Any],
) -> list[list[dict[str, Any]]]:
    """Group 0: the senders' room sockets; groups 1..procs: the streams, round-robin."""
    offsets: dict[int, list[int]] = {r: [] for r in range(cfg.rooms)}
    for off, r in schedule:
        offsets[r].append(off)
    senders = [
        {
            "kind": "room",
            "index": r,
            "room": r,
            "sender": r,  # the `s` of the content: one sending socket per room
            "ws_url": ws_url(cfg.url, fixtures["room_ids"][r]),
            "token": fixtures["sender_tokens"][r % cfg.sender_users],
            "offsets": offsets[r],
        }
        for r in range(cfg.rooms)
    ]
    groups: list[list[dict[str, Any]]] = [senders] + [[] for _ in range(cfg.procs)]
    for i, rooms in enumerate(memberships):
        groups[1 + i % cfg.procs].append(
            {
                "kind": "user",
                "index": i,
                "user_id": fixtures["user_ids"][i],
                "token": fixtures["tokens"][i],
                "rooms": rooms,
            }
        )
    return groups


def aggregate(
    cfg: Config,
    memberships: list[list[int]],
    sent: dict[str, Any],
    results: list[dict[str, Any]],
    drained: list[dict[str, Any]],
    targets: dict[str, int],
    acked_last: dict[str, int],
    t0: int,
) -> dict[str, Any]:
    pair_lat: list[int] = []
    agg: dict[tuple[int, int], list[int]] = {}
    for res in results:
        pair_lat.extend(res["pair_lat"])
        for r, seq, n, mx in res["msg_agg"]:
            a = agg.get((r, seq))
            if a is None:
                agg[(r, seq)] = [n, mx]
            else:
                a[0] += n
                a[1] = max(a[1], mx)
    # a message is expected at every member stream that connected (a failed one is reported apart)
    connected_members = Counter(r for res in results for i in res["connected"] for r in memberships[i])
    all_lat: list[int] = []
    incomplete = 0
    expected_pairs = 0
    for r, _seq, _t, _k in sent["sent_at"]:
        expected_pairs += connected_members.get(r, 0)
    by_second: dict[int, list[int]] = {}  # second of the window the message was sent in
    for r, seq, t, _k in sent["sent_at"]:
        a = agg.get((r, seq))
        expected = connected_members.get(r, 0)
        if expected == 0:
            continue
        if a is not None and a[0] >= expected:
            all_lat.append(a[1])
            by_second.setdefault(max(0, (t - t0) // NS_PER_S), []).append(a[1])
        else:
            incomplete += 1
    delivered_pairs = len(pair_lat)
    activity_frames = sum(res["activity_frames"] for res in results)

    def total(key: str) -> int:
        return sum(res[key] for res in results)

    def merged(key: str, *extra: dict[str, int]) -> dict[str, int]:
        out: Counter[str] = Counter()
        for res in results:
            out.update(res[key])
        for e in extra:
            out.update(e)
        return dict(out)

    unacked_persisted = sum(max(0, targets.get(rid, 0) - acked_last.get(rid, 0)) for rid in targets)
    integrity: dict[str, Any] = {
        "streams_checked": sum(len(res["connected"]) for res in results),
        "room_pairs_checked": total("room_pairs"),
        "rooms_left_behind": total("left_behind"),
        "foreign_room_frames": total("foreign"),
        "sequence_regressions": total("regressed"),
        "snapshot_room_set_mismatch": total("snapshot_mismatch"),
        "unread_count_mismatch": total("unread_mismatch"),
        "final_preview_mismatch": total("preview_mismatch"),
    }
    zero_keys = [k for k in integrity if k not in ("streams_checked", "room_pairs_checked")]
    integrity["all_zero"] = all(integrity[k] == 0 for k in zero_keys)
    integrity["repeated_sequence_frames"] = total("repeated")  # informational: no new message in them
    integrity["examples"] = [e for res in results for e in res["examples"]][:10]
    first_send = sent.get("first_send_ns")
    last_ack = sent.get("last_ack_ns")
    window_s = (last_ack - first_send) / NS_PER_S if first_send and last_ack else None
    n_acked = len(sent["sent_at"])
    return {
        "send": {
            "planned": cfg.messages,
            "sent": sent["sent"],
            "acked": n_acked,
            "persisted_unacked": unacked_persisted,
            "refused_with_error": sent["refused"],
            "ack_timeouts": sent["ack_timeouts"],
            "send_failed_closed": sent["send_failed"],
            "window_seconds": round(window_s, 3) if window_s else None,
            "offered_per_second": round(sent["sent"] / window_s, 1) if window_s else None,
            "pacing_lag_ms": summarize(sent["send_lag"], NS_PER_MS),
        },
        "ack_latency_ms": summarize(sent["ack_lat"], NS_PER_MS),
        # send -> a member's stream got a room_activity at or past the message's number
        "delivery_latency_ms": summarize(pair_lat, NS_PER_MS),
        # send -> the last member stream of the room got it
        "delivery_all_latency_ms": summarize(all_lat, NS_PER_MS),
        # the same, by second of the window: a server that falls behind shows a rising line
        "delivery_all_latency_ms_by_second": [
            {
                "second": sec,
                **{k: v for k, v in summarize(lats, NS_PER_MS).items() if k in ("count", "p50", "max")},
            }
            for sec, lats in sorted(by_second.items())
        ],
        "delivery": {
            "expected_pairs": expected_pairs,
            "delivered_pairs": delivered_pairs,
            "missing_pairs": expected_pairs - delivered_pairs,
            "messages_not_received_by_all": incomplete,
            "room_activity_frames": activity_frames,
            # > 1 when the server coalesced bursts (several messages in one frame)
            "deliveries_per_frame": round(delivered_pairs / activity_frames, 3) if activity_frames else None,
            "members_per_message_mean": round(expected_pairs / n_acked, 1) if n_acked else None,
        },
        "integrity": integrity,
        "errors_by_code": merged("errors", sent["errors"]),
        "closes_by_code": merged("closes", sent["closes"]),
        "protocol_violations": merged("violations", sent["violations"]),
        "frames_received_by_type": {"streams": merged("frame_types"), "room_sockets": sent["frame_types"]},
        "client": {
            "procs": len(drained),
            "cpu_seconds_run": round(sum(d["cpu_seconds_run"] for d in drained), 3),
            "cpu_system_seconds_run": round(sum(d["cpu_system_seconds_run"] for d in drained), 3),
            "cpu_seconds_deferred_parse": round(sum(d["cpu_seconds_deferred_parse"] for d in drained), 3),
            "wall_seconds_run": max((d["wall_seconds_run"] for d in drained), default=0.0),
            # event-loop lateness (10 ms sleeps) of each generator process during the window
            "loop_lag_ms": [{"role": d["role"], **d["loop_lag_ms"]} for d in drained],
        },
    }


def run(cfg: Config) -> dict[str, Any]:
    t_begin = time.monotonic()
    deadline = t_begin + cfg.max_seconds
    run_id = uuid.uuid4().hex[:8]
    nofile = raise_nofile_limit()
    per_proc = math.ceil(cfg.users / cfg.procs)
    if nofile["soft"] < max(per_proc, cfg.rooms) + 256:
        log(f"warning: open-file limit {nofile['soft']} may be too low for {per_proc} sockets per process")
    memberships = plan_memberships(cfg.users, cfg.rooms, cfg.rooms_per_user, cfg.seed)
    schedule = plan_messages(cfg.messages, cfg.rooms, cfg.rate, cfg.spread, cfg.seed)
    report: dict[str, Any] = {
        "tool": "bench/user_stream_load.py",
        "run_id": run_id,
        "scenario": cfg.scenario,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": cfg.public(),
        "nofile_limit": nofile,
        "host": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()]},
    }
    log(f"setup: {cfg.users} users, {cfg.rooms} rooms, {cfg.users * cfg.rooms_per_user} memberships")
    fixtures = run_async(setup_fixtures(cfg, memberships, run_id))
    report["setup"] = fixtures["report"]
    log(f"setup done in {fixtures['report']['seconds']}s")
    room_ids: list[str] = fixtures["room_ids"]
    run_cfg = {
        "run_id": run_id,
        "room_ids": room_ids,
        "stream_url": user_stream_url(cfg.url),
        # what ws_load's ConnRuntime reads
        "mode": "rate",
        "window": 0,
        "pad": "",
        "compression": "none",
        "ack_timeout": cfg.ack_timeout,
        "connect_timeout": cfg.connect_timeout,
        "connect_concurrency": cfg.connect_concurrency,
        "drain_timeout": cfg.drain_timeout,
        "parse": cfg.parse,
        "phase_timeout": max(60.0, deadline - time.monotonic()),
        "send_deadline": deadline - min(cfg.drain_timeout + 30.0, 0.3 * (deadline - time.monotonic())),
    }
    counter: PublishCounter | None = None
    workers = Workers(run_cfg, build_specs(cfg, memberships, schedule, fixtures), target=worker_entry)
    try:
        connect_budget = cfg.connect_timeout * math.ceil(cfg.users / cfg.connect_concurrency) + 60
        log(f"connecting {cfg.users} user streams and {cfg.rooms} room sockets")
        t_conn = time.monotonic()
        workers.broadcast(("connect",))
        ready = workers.gather("ready", min(connect_budget, max(1.0, deadline - time.monotonic())))
        failures: Counter[str] = Counter()
        for r in ready:
            failures.update(r["failures"])
        n_streams = sum(r["streams"] for r in ready)
        n_rooms = sum(r["room_sockets"] for r in ready)
        report["connect"] = {
            "seconds": round(time.monotonic() - t_conn, 3),
            "streams": {"requested": cfg.users, "connected": n_streams},
            "room_sockets": {"requested": cfg.rooms, "connected": n_rooms},
            "failures": dict(failures),
        }
        log(
            f"connected {n_streams}/{cfg.users} streams, {n_rooms}/{cfg.rooms} room sockets in "
            f"{time.monotonic() - t_conn:.1f}s; failures {dict(failures)}"
        )
        if cfg.settle > 0:
            time.sleep(min(cfg.settle, max(0.0, deadline - time.monotonic())))
        counter = PublishCounter(cfg.redis_url, cfg.redis_prefix)
        counter.start()
        stats0 = counter.commandstats()
        cpu0 = cpu_snapshot(cfg)
        t0 = time.monotonic_ns() + 300 * NS_PER_MS
        workers.broadcast(("start", t0))
        log(f"sending {cfg.messages} messages at {cfg.rate}/s ({cfg.spread} over {cfg.rooms} rooms)")
        sent_msgs = workers.gather("sent", max(1.0, deadline - time.monotonic()))
        sent = sent_msgs[0]
        acked_last: dict[str, int] = {}
        for r, seq, _t, _k in sent["sent_at"]:
            rid = room_ids[r]
            acked_last[rid] = max(acked_last.get(rid, 0), seq)
        try:
            targets = run_async(read_last_seqs(cfg, room_ids))
        except Exception as exc:  # the acked numbers are the next best thing
            log(f"reading last_seq from PostgreSQL failed ({exc}); draining to the acked numbers")
            targets = dict(acked_last)
        log("draining")
        workers.broadcast(("drain", targets))
        drained = workers.gather("drained", cfg.drain_timeout + 60)
        cpu1 = cpu_snapshot(cfg)
        publishes = counter.stop()
        stats1 = counter.commandstats()
        msgs: dict[int, list[tuple[int, int]]] = {}
        final_keys: dict[str, tuple[int, int]] = {}
        for r, seq, t, k in sent["sent_at"]:
            msgs.setdefault(r, []).append((seq, t))
            if seq == targets.get(room_ids[r]):
                final_keys[room_ids[r]] = (r, k)
        for v in msgs.values():
            v.sort()
        log("collecting the streams' figures")
        workers.broadcast(("report", {"msgs": msgs, "final_keys": final_keys}))
        results = workers.gather("result", 120)
        stream_results = results[1:]  # group 0 holds no streams
        report["connect"]["latency_ms"] = summarize(
            [x for res in stream_results for x in res["connect_lat"]], NS_PER_MS
        )
        report.update(aggregate(cfg, memberships, sent, stream_results, drained, targets, acked_last, t0))
        acked = report["send"]["acked"]
        cpu = cpu_report(cpu0, cpu1)
        if acked:
            for key in ("server", "aux"):
                if f"{key}_cpu_seconds" in cpu:
                    cpu[f"{key}_cpu_ms_per_message"] = round(cpu[f"{key}_cpu_seconds"] * 1000 / acked, 4)
            pairs = report["delivery"]["delivered_pairs"]
            if "server_cpu_seconds" in cpu and pairs:
                cpu["server_cpu_us_per_delivery"] = round(cpu["server_cpu_seconds"] * 1e6 / pairs, 3)
            cpu["client_cpu_ms_per_message"] = round(report["client"]["cpu_seconds_run"] * 1000 / acked, 4)
        # what the rest of the machine used meanwhile (other processes, the kernel's softirqs):
        # the server and the generator share 2 cores with it, so it matters for the latencies
        if "host_busy_cpu_seconds" in cpu and cpu.get("wall_seconds"):
            others = cpu["host_busy_cpu_seconds"] - report["client"]["cpu_seconds_run"]
            others -= cpu.get("server_cpu_seconds", 0.0) + cpu.get("aux_cpu_seconds", 0.0)
            cpu["client_cpu_seconds"] = report["client"]["cpu_seconds_run"]
            cpu["unaccounted_cpu_seconds"] = round(others, 3)
            cpu["unaccounted_cores"] = round(others / cpu["wall_seconds"], 3)
        report["cpu_during_run"] = cpu
        delta = {k: v - stats0.get(k, 0) for k, v in stats1.items() if v - stats0.get(k, 0) > 0}
        n_pub = sum(publishes.get(k, 0) for k in publishes if not k.startswith("_"))
        report["redis"] = {
            "prefix": cfg.redis_prefix,
            "prefix_publishes": {**publishes, "total": n_pub},
            "prefix_publishes_per_message": round(n_pub / acked, 3) if acked else None,
            "prefix_publishes_per_message_by_kind": (
                {k: round(v / acked, 3) for k, v in publishes.items()} if acked else None
            ),
            # server-wide (every client of this Redis, the counters' own calls included)
            "commandstats_delta": dict(sorted(delta.items(), key=lambda kv: -kv[1])),
            "publish_calls_per_message_server_wide": (
                round(delta.get("publish", 0) / acked, 3) if acked else None
            ),
        }
    except (TimeoutError, RuntimeError) as exc:
        report["aborted"] = str(exc)
        log(f"aborted: {exc}")
    finally:
        workers.stop()
        if counter is not None:
            counter.close()
        if cfg.cleanup:
            try:
                run_async(delete_fixtures(cfg, fixtures))
                report["cleanup"] = "deleted"
            except Exception as exc:
                report["cleanup"] = f"failed: {type(exc).__name__}: {exc}"
    targets_checked = [check_target(report, *t) for t in TARGETS.get(cfg.scenario, [])]
    if targets_checked:
        report["targets"] = targets_checked
    connect = report.get("connect", {})
    report["ok"] = bool(
        "aborted" not in report
        and "integrity" in report
        and report["integrity"]["all_zero"]
        and report["delivery"]["missing_pairs"] == 0
        and report["delivery"]["messages_not_received_by_all"] == 0
        and report["send"]["ack_timeouts"] == 0
        and report["send"]["acked"] == cfg.messages
        and not report["closes_by_code"]
        and not report["errors_by_code"]
        and connect.get("streams", {}).get("connected") == cfg.users
        and connect.get("room_sockets", {}).get("connected") == cfg.rooms
    )
    report["protocol_ok"] = "integrity" in report and not report.get("protocol_violations")
    report["wall_seconds"] = round(time.monotonic() - t_begin, 3)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = resolve_config(args)
    except ValueError as exc:
        print(json.dumps({"error": str(exc)}))
        log(f"error: {exc}")
        return 2
    try:
        report = run(cfg)
    except Exception as exc:  # still one JSON object on stdout
        report = {"error": f"{type(exc).__name__}: {exc}", "scenario": cfg.scenario, "config": cfg.public()}
        log(f"error: {report['error']}")
    text = json.dumps(report, ensure_ascii=False)
    print(text, flush=True)
    if cfg.output:
        Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.output).write_text(text + "\n")
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
