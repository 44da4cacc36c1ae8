#!/usr/bin/env python3
"""Andon WebSocket load generator.

Speaks the wire protocol of ``/work/shared/CONTRACT.md`` (§2 sign-in, §3 WebSocket, §4 rooms and
members) against one or more loopback Andon servers, and prints ONE JSON object on stdout; progress
goes to stderr.

Shape of a run:

1. setup (parent process, asyncio + httpx): users are signed in with ``POST /api/auth/login``; a user
   that cannot sign in is created (or its password reset) with ``andon users add`` run as a subprocess
   with this process's environment.  A dedicated owner user creates the rooms and adds the members as
   EDITORs.  Tokens are reused: several connections share a user when connections > users.
2. connect (worker processes, ``--procs``): C WebSockets over R rooms, spread round-robin over the
   ``--url`` servers *within* each room, so that with two URLs every room has members on both
   processes; each connection waits for its ``connected`` frame.
3. send, from a common start instant: paced at a total ``--rate`` on an absolute monotonic schedule,
   or as fast as possible (``--rate 0``, optionally bounded by ``--window`` unacked messages per
   sender), or closed-loop (``--closed-loop N``: the next message only after the previous ``ack``).
   Each message's content is a small JSON text carrying the run id, the sender index, the message
   index and the ``time.monotonic_ns()`` of the send.  CLOCK_MONOTONIC is system-wide on Linux, so a
   receiver in another worker process of this run can compute the fan-out latency.
4. drain: every connection waits (bounded) until it has seen its room's last acknowledged sequence
   number, then all sockets are closed and the workers hand their raw figures to the parent.

Every wait is bounded; the whole run is bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import json
import math
import multiprocessing
import os
import re
import resource
import shlex
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:  # msgspec ships with the server's dependencies and decodes several times faster than json
    import msgspec

    _loads: Callable[[bytes | str], Any] = msgspec.json.decode
except ImportError:  # pragma: no cover - fallback for a bare environment
    _loads = json.loads

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

CONNECTED_FIELDS = frozenset(
    {"type", "room_id", "user_id", "role", "last_sequence_number", "server_time", "online"}
)
ACK_FIELDS = frozenset({"type", "client_id", "message_id", "sequence_number", "created_at"})
MESSAGE_FIELDS = frozenset(
    {
        "type",
        "message_id",
        "room_id",
        "sender_id",
        "sender_display_name",
        "content",
        "message_type",
        "mentions",
        "file_id",
        "file_url",
        "client_id",
        "created_at",
        "edited_at",
        "deleted_at",
        "sequence_number",
        "reactions",
    }
)

# Scenarios of issue 3.  Every value can be overridden on the command line.
SCENARIOS: dict[str, dict[str, Any]] = {
    "a": {
        "description": "one hot room, 50 senders, as fast as it goes",
        "connections": 50,
        "rooms": 1,
        "senders": 50,
        "rate": 0.0,
        "messages": 200,
    },
    "b": {
        "description": "1,000 connections over 50 rooms at 200 msg/s",
        "connections": 1000,
        "rooms": 50,
        "senders": 100,
        "rate": 200.0,
        "duration": 30.0,
    },
    "c": {
        "description": "scenario b across two server processes",
        "connections": 1000,
        "rooms": 50,
        "senders": 100,
        "rate": 200.0,
        "duration": 30.0,
        "min_urls": 2,
    },
    "d": {
        "description": "5,000 idle connections: server RSS per connection",
        "connections": 5000,
        "rooms": 50,
        "senders": 0,
        "hold": 5.0,
        "connect_steps": 2,
    },
    "e": {
        "description": "one room, 50 senders x 20 messages closed-loop, 50 receive-only members",
        "connections": 100,
        "rooms": 1,
        "senders": 50,
        "closed_loop": 20,
        # The receiving side parses 100 frames per message, more CPU than the server spends on
        # it; one process would serialise what 100 real clients do in parallel.
        "procs": 2,
    },
    "custom": {
        "description": "no preset",
        "connections": 10,
        "rooms": 1,
        "senders": 10,
        "rate": 50.0,
        "duration": 5.0,
    },
}

# Targets of issue 3 (a 2-core machine).  Checked against the measured figures, never assumed.
TARGETS: dict[str, list[tuple[str, str, float]]] = {
    "a": [("persisted_per_second", ">=", 2000.0)],
    "b": [("fanout_all_latency_ms.p99", "<", 25.0)],
    "c": [("fanout_all_latency_ms.p99", "<", 25.0)],
    "d": [("server_rss.kib_per_connection", "<", 20.0)],
    "e": [("persisted_per_second", ">=", 1000.0), ("fanout_all_latency_ms.p99", "<", 50.0)],
}

DEFAULTS: dict[str, Any] = {
    "users": 200,
    "rate": 0.0,
    "messages": None,
    "duration": None,
    "closed_loop": None,
    "window": 0,
    "size": 0,
    "procs": 1,
    "settle": 1.0,
    "hold": 0.0,
    "connect_steps": 1,
    "ack_timeout": 15.0,
    "connect_timeout": 15.0,
    "connect_concurrency": 100,
    "drain_timeout": 10.0,
    "max_seconds": 900.0,
    "compression": "none",
    "min_urls": 1,
}


def log(msg: str) -> None:
    """Progress goes to stderr so that stdout carries nothing but the result."""
    print(f"[ws_load {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# Pure parts (unit-tested without a network)
# ---------------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) of sorted values, interpolating linearly between closest ranks."""
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= p <= 100.0:
        raise ValueError("p must be within 0..100")
    rank = (len(sorted_values) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = math.ceil(rank)
    if lo == hi:
        return float(sorted_values[lo])
    frac = rank - lo
    return float(sorted_values[lo]) + (float(sorted_values[hi]) - float(sorted_values[lo])) * frac


def summarize(values: Iterable[float], scale: float = 1.0) -> dict[str, Any]:
    """count, min, mean, p50, p95, p99, max of ``values / scale``, rounded to microseconds for ms."""
    data = sorted(values)
    if not data:
        return {"count": 0, "min": None, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}

    def r(v: float) -> float:
        return round(v / scale, 3)

    return {
        "count": len(data),
        "min": r(data[0]),
        "mean": r(sum(data) / len(data)),
        "p50": r(percentile(data, 50)),
        "p95": r(percentile(data, 95)),
        "p99": r(percentile(data, 99)),
        "max": r(data[-1]),
    }


class SequenceChecker:
    """Integrity of one connection's sequenced stream (``message`` and stored ``system`` frames).

    ``baseline`` is the ``last_sequence_number`` of the ``connected`` frame: live frames must start at
    baseline + 1 and then go up by one.  Counted anomalies:

    - ``duplicates``: a number seen before on this connection;
    - ``out_of_order``: a new number lower than the highest seen so far;
    - ``stale``: a number at or below the baseline (history the client was told it already has);
    - ``gaps`` (see :meth:`gaps`): numbers never seen between the baseline and the highest expected.

    Memory stays small for an in-order stream: only the contiguous prefix and the numbers above it
    are kept.
    """

    __slots__ = (
        "ahead",
        "baseline",
        "contiguous",
        "duplicates",
        "frames",
        "max_seen",
        "out_of_order",
        "stale",
    )

    def __init__(self, baseline: int | None) -> None:
        self.baseline = baseline
        self.contiguous: int | None = baseline  # every number in (baseline, contiguous] was seen
        self.ahead: set[int] = set()  # seen numbers above contiguous + 1
        self.max_seen: int | None = None
        self.frames = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.stale = 0

    def observe(self, seq: int) -> None:
        self.frames += 1
        if self.baseline is not None and seq <= self.baseline:
            self.stale += 1
            return
        if self.contiguous is None:  # no baseline: the first frame starts the stream
            self.contiguous = seq - 1
        if seq <= self.contiguous or seq in self.ahead:
            self.duplicates += 1
            return
        if self.max_seen is not None and seq < self.max_seen:
            self.out_of_order += 1
        if self.max_seen is None or seq > self.max_seen:
            self.max_seen = seq
        if seq == self.contiguous + 1:
            self.contiguous = seq
            while self.contiguous + 1 in self.ahead:
                self.contiguous += 1
                self.ahead.discard(self.contiguous)
        else:
            self.ahead.add(seq)

    def gaps(self) -> int:
        """Numbers missing between the baseline (or the first frame) and the highest seen."""
        if self.max_seen is None or self.contiguous is None:
            return 0
        return self.max_seen - self.contiguous - len(self.ahead)

    def missing_tail(self, expected_last: int | None) -> int:
        """Numbers up to ``expected_last`` (the room's last acked number) above the highest seen."""
        if expected_last is None:
            return 0
        top = self.max_seen if self.max_seen is not None else self.baseline
        if top is None:
            return 0
        return max(0, expected_last - top)

    def problems(self, expected_last: int | None = None) -> dict[str, int]:
        return {
            "gaps": self.gaps(),
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "stale": self.stale,
            "missing_tail": self.missing_tail(expected_last),
        }


def scheduled_offset_ns(rate: float, n_senders: int, sender: int, k: int) -> int:
    """When sender ``sender`` sends its ``k``-th message, in ns after the common start.

    All senders share the total ``rate`` (messages/s), interleaved evenly: global message number
    ``sender + k * n_senders`` is due at ``that / rate`` seconds.  The schedule is absolute, so a late
    send does not push the later ones back (no drift) and no sleep error accumulates.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    if not 0 <= sender < n_senders:
        raise ValueError("sender index out of range")
    return round((sender + k * n_senders) * NS_PER_S / rate)


def messages_within(rate: float, n_senders: int, sender: int, duration: float) -> int:
    """How many messages sender ``sender`` sends on the schedule before ``duration`` seconds."""
    limit = round(duration * NS_PER_S)
    # closed form first, then settle rounding at the edge
    k = max(0, math.ceil((duration * rate - sender) / n_senders))
    while k > 0 and scheduled_offset_ns(rate, n_senders, sender, k - 1) >= limit:
        k -= 1
    while scheduled_offset_ns(rate, n_senders, sender, k) < limit:
        k += 1
    return k


@dataclass(frozen=True)
class Assignment:
    index: int  # connection number
    room: int  # room number
    slot: int  # position of the connection within its room
    user: int  # user number
    url: int  # server URL number
    sender: int | None  # global sender number, None for a receive-only connection


def assign_connections(
    connections: int, rooms: int, users: int, senders: int, n_urls: int
) -> list[Assignment]:
    """Spread connections over rooms, users and servers.

    Connection i goes to room i % rooms (so the first ``senders`` connections are spread evenly over
    the rooms); within a room the connections take consecutive users (distinct while a room has no
    more connections than there are users) and alternate between the server URLs, so that every
    room with two or more connections has members on more than one server process.
    """
    if connections < 1 or rooms < 1 or users < 1 or n_urls < 1:
        raise ValueError("connections, rooms, users and URLs must be positive")
    if not 0 <= senders <= connections:
        raise ValueError("senders must be within 0..connections")
    per_room = math.ceil(connections / rooms)
    out = []
    for i in range(connections):
        room = i % rooms
        slot = i // rooms
        out.append(
            Assignment(
                index=i,
                room=room,
                slot=slot,
                user=(room * per_room + slot) % users,
                url=slot % n_urls,
                sender=i if i < senders else None,
            )
        )
    return out


def check_loopback(url: str) -> str:
    """Return the URL without a trailing slash, or raise ValueError unless it targets loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r}: scheme must be http or https")
    host = parts.hostname
    if not host:
        raise ValueError(f"{url!r}: no host")
    if host != "localhost":
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"{url!r}: only loopback targets are allowed (an IP literal or localhost)"
            ) from None
        if not addr.is_loopback:
            raise ValueError(f"{url!r}: {host} is not a loopback address")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url!r}: give the base URL only")
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def ws_url(base: str, room_id: str) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"/ws/{room_id}", "", ""))


def proc_children(pid: int, proc_root: Path = Path("/proc")) -> list[int]:
    """Every descendant of ``pid`` (recursively), read from /proc/PID/task/*/children."""
    out: list[int] = []
    todo = [pid]
    seen = {pid}
    while todo:
        cur = todo.pop()
        task_dir = proc_root / str(cur) / "task"
        try:
            tasks = list(task_dir.iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                text = (task / "children").read_text()
            except OSError:
                continue
            for tok in text.split():
                child = int(tok)
                if child not in seen:
                    seen.add(child)
                    out.append(child)
                    todo.append(child)
    return out


def read_rss_kib(pid: int, proc_root: Path = Path("/proc")) -> int | None:
    """VmRSS of one process in KiB, None when it is gone."""
    try:
        text = (proc_root / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            fields = line.split()
            value = int(fields[1])
            unit = fields[2].lower() if len(fields) > 2 else "kb"
            return value * 1024 if unit == "mb" else value
    return None


def tree_rss_kib(pids: Sequence[int], proc_root: Path = Path("/proc")) -> dict[str, Any]:
    """Summed VmRSS of the given processes and all their descendants."""
    per_pid: dict[str, int] = {}
    for pid in pids:
        for p in [pid, *proc_children(pid, proc_root)]:
            if str(p) in per_pid:
                continue
            rss = read_rss_kib(p, proc_root)
            if rss is not None:
                per_pid[str(p)] = rss
    return {"total_kib": sum(per_pid.values()), "per_pid_kib": per_pid}


def listening_inodes(port: int, proc_root: Path = Path("/proc")) -> set[str]:
    """Socket inodes listening on a TCP port, from /proc/net/tcp and /proc/net/tcp6."""
    inodes: set[str] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc_root / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A = LISTEN
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def listener_pids(ports: Iterable[int], proc_root: Path = Path("/proc")) -> list[int]:
    """Processes holding a listening socket on one of the ports (the server and its workers)."""
    wanted = {f"socket:[{i}]" for port in ports for i in listening_inodes(port, proc_root)}
    pids: list[int] = []
    if not wanted:
        return pids
    for entry in proc_root.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    pids.append(int(entry.name))
                    break
            except OSError:
                continue
    return sorted(pids)


def tree_cpu_seconds(pids: Sequence[int], proc_root: Path = Path("/proc")) -> float:
    """CPU seconds of the processes and their descendants, live or exited and reaped."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    seen: set[int] = set()
    for pid in pids:
        for p in [pid, *proc_children(pid, proc_root)]:
            if p in seen:
                continue
            seen.add(p)
            try:
                stat = (proc_root / str(p) / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            # utime, stime, cutime, cstime (fields 14-17 of stat): cutime/cstime hold the children that
            # exited and were reaped (PostgreSQL backends come and go), so the tree total never drops
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / ticks


def host_cpu_seconds(proc_root: Path = Path("/proc")) -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from the first line of /proc/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = [int(x) for x in (proc_root / "stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user/nice
    return (total - idle) / ticks, total / ticks


def cpu_snapshot(cfg: Any) -> dict[str, float]:
    busy, _total = host_cpu_seconds()
    snap = {"wall": time.monotonic(), "host_busy": busy}
    if cfg.server_pids:
        snap["server"] = tree_cpu_seconds(cfg.server_pids)
    if cfg.aux_pids:
        snap["aux"] = tree_cpu_seconds(cfg.aux_pids)
    return snap


def cpu_report(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """CPU used between two snapshots, in seconds and in cores (seconds per wall second)."""
    wall = after["wall"] - before["wall"]
    out: dict[str, Any] = {"wall_seconds": round(wall, 3), "host_cpus": os.cpu_count()}
    for key in ("host_busy", "server", "aux"):
        if key in before and key in after:
            used = after[key] - before[key]
            out[f"{key}_cpu_seconds"] = round(used, 3)
            out[f"{key}_cores"] = round(used / wall, 3) if wall > 0 else None
    return out


def check_target(report: dict[str, Any], path: str, op: str, limit: float) -> dict[str, Any]:
    cur: Any = report
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    value = cur if isinstance(cur, int | float) else None
    met = None
    if value is not None:
        met = value >= limit if op == ">=" else value < limit
    return {"metric": path, "op": op, "limit": limit, "value": value, "met": met}


def check_fields(
    frame: dict[str, Any], required: frozenset[str], kind: str, violations: Counter[str]
) -> None:
    if frame.keys() >= required:  # the common case, checked without building a set
        return
    for field in required.difference(frame):
        violations[f"{kind}_missing_field:{field}"] += 1


def make_content(run_id: str, sender: int, k: int, t_ns: int, pad: str) -> str:
    """Message content: JSON text the receivers of this run recognize by its ``b`` (bench run) key."""
    if pad:
        return f'{{"b":"{run_id}","s":{sender},"n":{k},"t":{t_ns},"p":"{pad}"}}'
    return f'{{"b":"{run_id}","s":{sender},"n":{k},"t":{t_ns}}}'


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ws_load.py",
        description="Andon WebSocket load generator; prints one JSON object on stdout.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="custom", help="preset (issue 3)")
    p.add_argument("--url", action="append", default=None, help="server base URL, repeatable (loopback only)")
    p.add_argument("--connections", type=int, help="WebSocket connections")
    p.add_argument("--rooms", type=int, help="rooms the connections are spread over")
    p.add_argument("--senders", type=int, help="connections that send (the others only receive)")
    p.add_argument("--users", type=int, help="distinct users (default: min(connections, 200))")
    p.add_argument("--messages", type=int, help="messages per sender (rate 0, or rate > 0 without duration)")
    p.add_argument("--duration", type=float, help="send window in seconds (rate > 0)")
    p.add_argument("--rate", type=float, help="total messages/s over all senders; 0 = as fast as possible")
    p.add_argument("--closed-loop", type=int, help="N: each sender sends N messages, each after the last ack")
    p.add_argument("--window", type=int, help="with --rate 0: max unacked messages per sender (0 = no bound)")
    p.add_argument("--size", type=int, help="pad each message content to about this many characters")
    p.add_argument("--procs", type=int, help="client worker processes holding the connections")
    p.add_argument("--settle", type=float, help="seconds to wait after connecting (join/presence storm)")
    p.add_argument("--hold", type=float, help="seconds to keep the connections open after settling")
    p.add_argument(
        "--connect-steps", type=int, help="connect in this many steps, reading server RSS after each"
    )
    p.add_argument("--ack-timeout", type=float, help="seconds to wait for one ack")
    p.add_argument("--connect-timeout", type=float, help="seconds to wait for upgrade + connected frame")
    p.add_argument("--connect-concurrency", type=int, help="connection attempts in flight per process")
    p.add_argument("--drain-timeout", type=float, help="seconds to wait for the last frames to arrive")
    p.add_argument("--max-seconds", type=float, help="hard bound on the whole run")
    p.add_argument("--compression", choices=["none", "deflate"], help="offer permessage-deflate or not")
    p.add_argument(
        "--server-pid",
        action="append",
        default=None,
        help="server PID, repeatable, children included; 'auto' = the processes listening on the --url ports",
    )
    p.add_argument(
        "--aux-pid",
        action="append",
        default=None,
        help="also report the CPU (not RSS) of these PIDs and their children, e.g. the PostgreSQL postmaster",
    )
    p.add_argument("--andon-cmd", default="andon", help="command that runs the Andon CLI")
    p.add_argument("--user-prefix", default="bench", help="local part prefix of the bench users' e-mails")
    p.add_argument(
        "--password",
        default=os.environ.get("ANDON_BENCH_PASSWORD", "andon-bench-password"),
        help="password of the bench users (env ANDON_BENCH_PASSWORD)",
    )
    p.add_argument("--setup-concurrency", type=int, default=8, help="REST calls in flight during setup")
    p.add_argument("--cli-concurrency", type=int, default=2, help="`andon users add` processes at once")
    p.add_argument("--output", help="also write the JSON to this file")
    return p.parse_args(argv)


@dataclass
class Config:
    scenario: str
    description: str
    urls: list[str]
    connections: int
    rooms: int
    senders: int
    users: int
    mode: str  # idle | rate | flood | closed
    rate: float
    messages: int | None
    duration: float | None
    window: int
    size: int
    procs: int
    settle: float
    hold: float
    connect_steps: int
    ack_timeout: float
    connect_timeout: float
    connect_concurrency: int
    drain_timeout: float
    max_seconds: float
    compression: str
    server_pids: list[int]
    aux_pids: list[int]
    andon_cmd: list[str]
    user_prefix: str
    password: str
    setup_concurrency: int
    cli_concurrency: int
    output: str | None

    def public(self) -> dict[str, Any]:
        """The configuration as reported (no password)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("password",)}
        return out


def resolve_config(args: argparse.Namespace) -> Config:
    preset = SCENARIOS[args.scenario]

    def pick(name: str) -> Any:
        value = getattr(args, name, None)
        if value is not None:
            return value
        if name in preset:
            return preset[name]
        return DEFAULTS.get(name)

    urls = [check_loopback(u) for u in (args.url or ["http://127.0.0.1:8000"])]
    min_urls = int(pick("min_urls"))
    if len(urls) < min_urls:
        raise ValueError(f"scenario {args.scenario} needs at least {min_urls} --url (one per server process)")
    connections = int(pick("connections"))
    rooms = int(pick("rooms"))
    senders = int(pick("senders"))
    users = args.users if args.users is not None else min(connections, DEFAULTS["users"])
    closed_loop = pick("closed_loop")
    rate = float(pick("rate"))
    messages = pick("messages")
    duration = pick("duration")
    # an explicit --closed-loop, --rate or --messages on the command line beats the preset's other mode
    if args.rate is not None or args.messages is not None:
        closed_loop = args.closed_loop
    if args.closed_loop is not None:
        closed_loop = args.closed_loop
    if senders == 0:
        mode = "idle"
    elif closed_loop:
        mode = "closed"
        messages = int(closed_loop)
    elif rate > 0:
        mode = "rate"
        if duration is None and messages is None:
            duration = 10.0
    else:
        mode = "flood"
        if messages is None and duration is None:
            messages = 100
        if messages is None and not pick("window"):
            raise ValueError("--rate 0 with --duration needs --window (bounded in-flight messages)")
    if rooms < 1 or connections < 1 or users < 1:
        raise ValueError("--connections, --rooms and --users must be positive")
    if senders > connections:
        raise ValueError("--senders cannot exceed --connections")
    procs = max(1, min(int(pick("procs")), connections))
    return Config(
        scenario=args.scenario,
        description=preset["description"],
        urls=urls,
        connections=connections,
        rooms=rooms,
        senders=senders,
        users=users,
        mode=mode,
        rate=rate,
        messages=int(messages) if messages is not None else None,
        duration=float(duration) if duration is not None else None,
        window=int(pick("window")),
        size=int(pick("size")),
        procs=procs,
        settle=float(pick("settle")),
        hold=float(pick("hold")),
        connect_steps=int(pick("connect_steps")),
        ack_timeout=float(pick("ack_timeout")),
        connect_timeout=float(pick("connect_timeout")),
        connect_concurrency=int(pick("connect_concurrency")),
        drain_timeout=float(pick("drain_timeout")),
        max_seconds=float(pick("max_seconds")),
        compression=str(pick("compression")),
        server_pids=resolve_server_pids(args.server_pid or [], urls),
        aux_pids=resolve_server_pids(args.aux_pid or [], urls),
        andon_cmd=shlex.split(args.andon_cmd),
        user_prefix=args.user_prefix,
        password=args.password,
        setup_concurrency=args.setup_concurrency,
        cli_concurrency=args.cli_concurrency,
        output=args.output,
    )


def resolve_server_pids(given: list[str], urls: list[str]) -> list[int]:
    pids: list[int] = []
    for item in given:
        if item == "auto":
            ports = [urlsplit(u).port or (443 if u.startswith("https") else 80) for u in urls]
            found = listener_pids(ports)
            if not found:
                raise ValueError(f"--server-pid auto: no process found listening on ports {ports}")
            pids.extend(found)
        else:
            try:
                pids.append(int(item))
            except ValueError:
                raise ValueError(f"--server-pid {item!r}: a PID or 'auto'") from None
    return sorted(set(pids))


def raise_nofile_limit() -> dict[str, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {"soft": soft, "hard": hard}


def run_async(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# ---------------------------------------------------------------------------------------------------
# Setup through the public interface
# ---------------------------------------------------------------------------------------------------


class SetupError(RuntimeError):
    pass


def user_email(prefix: str, i: int | str) -> str:
    return f"{prefix}-{i}@bench.andon.test".lower()


async def _login(client: Any, email: str, password: str) -> tuple[int, dict[str, Any] | None]:
    resp = await client.post("/api/auth/login", json={"email": email, "password": password})
    if resp.status_code == 200:
        return 200, resp.json()
    return resp.status_code, None


async def _cli_add_user(cfg: Config, email: str, name: str) -> None:
    cmd = [*cfg.andon_cmd, "users", "add", email, "--name", name, "--password", cfg.password]
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ),
        )
    except OSError as exc:
        raise SetupError(f"cannot run {cfg.andon_cmd[0]!r} (--andon-cmd): {exc.strerror}") from None
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise SetupError(f"`andon users add {email}` timed out") from None
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise SetupError(f"`andon users add {email}` exited {proc.returncode}: {' | '.join(tail)}")


async def ensure_tokens(
    cfg: Config, client: Any, emails: list[tuple[str, str]]
) -> tuple[list[str], dict[str, int]]:
    """Sign every user in, creating (or resetting) with the CLI the ones that cannot sign in."""
    sem = asyncio.Semaphore(cfg.setup_concurrency)
    cli_sem = asyncio.Semaphore(cfg.cli_concurrency)
    stats: Counter[str] = Counter()
    tokens: list[str] = [""] * len(emails)

    async def one(i: int, email: str, name: str) -> None:
        async with sem:
            status, body = await _login(client, email, cfg.password)
        if status == 401:
            async with cli_sem:
                await _cli_add_user(cfg, email, name)
            stats["created_or_reset"] += 1
            async with sem:
                status, body = await _login(client, email, cfg.password)
        if status != 200 or body is None or not isinstance(body.get("token"), str):
            raise SetupError(f"POST /api/auth/login for {email}: HTTP {status}")
        stats["signed_in"] += 1
        tokens[i] = body["token"]

    await asyncio.gather(*(one(i, e, n) for i, (e, n) in enumerate(emails)))
    return tokens, dict(stats)


async def setup_fixtures(cfg: Config, plan: list[Assignment], run_id: str) -> dict[str, Any]:
    import httpx

    t_start = time.monotonic()
    n_users = max(a.user for a in plan) + 1
    owner = (user_email(cfg.user_prefix, "owner"), "Bench Owner")
    people = [(user_email(cfg.user_prefix, f"{i:05d}"), f"Bench User {i}") for i in range(n_users)]
    limits = httpx.Limits(max_connections=cfg.setup_concurrency * 2)
    async with httpx.AsyncClient(
        base_url=cfg.urls[0], timeout=60.0, trust_env=False, limits=limits
    ) as client:
        log(f"setup: signing in {n_users} users + owner (creating missing ones with the CLI)")
        tokens, user_stats = await ensure_tokens(cfg, client, [owner, *people])
        owner_token, user_tokens = tokens[0], tokens[1:]
        auth = {"Authorization": f"Bearer {owner_token}"}

        log(f"setup: creating {cfg.rooms} rooms")
        room_ids: list[str] = [""] * cfg.rooms
        sem = asyncio.Semaphore(cfg.setup_concurrency)

        async def make_room(r: int) -> None:
            async with sem:
                resp = await client.post(
                    "/api/rooms",
                    json={"title": f"bench {cfg.scenario} {run_id} #{r}", "description": "ws_load fixture"},
                    headers=auth,
                )
            if resp.status_code != 201:
                raise SetupError(f"POST /api/rooms: HTTP {resp.status_code} {resp.text[:200]}")
            room_ids[r] = resp.json()["room_id"]

        await asyncio.gather(*(make_room(r) for r in range(cfg.rooms)))

        pairs = sorted({(a.room, a.user) for a in plan})
        log(f"setup: adding {len(pairs)} memberships")
        member_stats: Counter[str] = Counter()

        async def add_member(r: int, u: int) -> None:
            async with sem:
                resp = await client.post(
                    f"/api/rooms/{room_ids[r]}/members",
                    json={"user_id": people[u][0], "role": "EDITOR"},
                    headers=auth,
                )
            if resp.status_code == 201:
                member_stats["added"] += 1
            elif resp.status_code == 409:
                member_stats["already_member"] += 1
            else:
                raise SetupError(f"POST /api/rooms/{{id}}/members: HTTP {resp.status_code} {resp.text[:200]}")

        await asyncio.gather(*(add_member(r, u) for r, u in pairs))
    return {
        "room_ids": room_ids,
        "user_ids": [e for e, _ in people],
        "tokens": user_tokens,
        "report": {
            "seconds": round(time.monotonic() - t_start, 3),
            "users": n_users,
            "users_stats": user_stats,
            "rooms": cfg.rooms,
            "memberships": dict(member_stats),
        },
    }


# ---------------------------------------------------------------------------------------------------
# Worker process: holds connections, sends, receives, checks
# ---------------------------------------------------------------------------------------------------


class LeanWebSocket(asyncio.Protocol):
    """A WebSocket client on websockets' sans-I/O protocol, driven straight from the event loop.

    websockets' asyncio client costs ~10 us of CPU per received frame (futures, an assembler and
    a task wake-up per message).  In scenario e the generator receives 100 frames per message on
    the same two cores as the server, so that cost alone would cap the run.  Here the frames of
    one TCP read are parsed by websockets (`websockets.protocol`, the same parser and checks) in
    `data_received` and queued; `recv()` returns without suspending while frames are queued.
    Same surface as the subset of `websockets.asyncio.client.ClientConnection` this script uses:
    `recv(decode=False)`, `send(str)`, `close()`, raising `ConnectionClosed` / `InvalidStatus`.
    """

    def __init__(self, url: str, headers: dict[str, str], max_size: int, deflate: bool) -> None:
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
        from websockets.uri import parse_uri

        extensions = [ClientPerMessageDeflateFactory()] if deflate else None
        self.proto = ClientProtocol(parse_uri(url), extensions=extensions, max_size=max_size)
        self.request = self.proto.connect()
        for name, value in headers.items():
            self.request.headers[name] = value
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.frames: list[bytes] = []
        self.head = 0
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.fast = False
        self.pending = b""

    @classmethod
    async def connect(
        cls, url: str, headers: dict[str, str], max_size: int = 2**20, deflate: bool = False
    ) -> LeanWebSocket:
        parts = urlsplit(url)
        sock = cls(url, headers, max_size, deflate)
        await asyncio.get_running_loop().create_connection(
            lambda: sock, parts.hostname or "127.0.0.1", parts.port or 80
        )
        try:
            await sock.opened
        except BaseException:
            if sock.transport is not None:
                sock.transport.close()
            raise
        return sock

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proto.send_request(self.request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        proto = self.proto
        if self.fast and not proto.reader.buffer:
            self._fast_frames(data)
        else:
            self._feed(data)
            from websockets.protocol import State

            # Once open, without extensions and with websockets' buffer empty, complete
            # unfragmented data frames are split here; anything else still goes to websockets.
            self.fast = proto.state is State.OPEN and not proto.extensions

    def _feed(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Response
        from websockets.protocol import State

        proto = self.proto
        proto.receive_data(data)
        got = False
        for event in proto.events_received():
            if isinstance(event, Response):
                if not self.opened.done():
                    if proto.state is State.OPEN:
                        self.opened.set_result(None)
                    else:
                        self.opened.set_exception(proto.handshake_exc or ConnectionError("handshake failed"))
            elif isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
                self.frames.append(bytes(event.data))
                got = True
        self._flush()
        if proto.close_rcvd is not None or proto.state is State.CLOSED:
            self.fast = False
            if self.transport is not None:
                self.transport.close()
        if got:
            self._wake()

    def _fast_frames(self, data: bytes) -> None:
        """Split complete, final, unmasked text/binary frames (RFC 6455 §5.2) off the stream.

        Any other frame (ping, close, a fragment, a masked or RSV-flagged frame) is handed
        whole to websockets, which answers pings, handles the close and rejects violations.
        """
        buf = self.pending + data if self.pending else data
        n = len(buf)
        i = 0
        got = False
        frames = self.frames
        while n - i >= 2:
            b0 = buf[i]
            b1 = buf[i + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - i < 4:
                    break
                length = int.from_bytes(buf[i + 2 : i + 4], "big")
                head = 4
            elif length == 127:
                if n - i < 10:
                    break
                length = int.from_bytes(buf[i + 2 : i + 10], "big")
                head = 10
            if b1 & 0x80:
                head += 4  # masked: a violation websockets reports
            end = i + head + length
            if end > n:
                break
            if (b0 == 0x81 or b0 == 0x82) and not b1 & 0x80:
                frames.append(buf[i + head : end])
                got = True
            else:
                self._feed(buf[i:end])
                if not self.fast:
                    i = end
                    if i < n:
                        self._feed(buf[i:])
                    i = n
                    break
            i = end
        self.pending = buf[i:] if i < n else b""
        if got:
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        from websockets.exceptions import InvalidHandshake

        with contextlib.suppress(Exception):
            self.proto.receive_eof()
        if not self.opened.done():
            self.opened.set_exception(InvalidHandshake("connection closed during the handshake"))
        if not self.lost.done():
            self.lost.set_result(None)
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    # client surface

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _flush(self) -> None:
        if self.transport is None:
            return
        for chunk in self.proto.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def _closed_error(self) -> Exception:
        from websockets.exceptions import ConnectionClosed

        proto = self.proto
        # websockets asserts the order is given exactly when both close frames are known.
        both = proto.close_rcvd is not None and proto.close_sent is not None
        return ConnectionClosed(proto.close_rcvd, proto.close_sent, proto.close_rcvd_then_sent if both else None)

    async def _wait_for_frames(self) -> None:
        """Return once a frame is queued; raise ConnectionClosed once none can come."""
        while self.head >= len(self.frames):
            if self.lost.done():
                raise self._closed_error()
            self.frames.clear()
            self.head = 0
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None

    async def recv(self, decode: bool = False) -> bytes:
        await self._wait_for_frames()
        frame = self.frames[self.head]
        self.head += 1
        return frame

    async def recv_many(self) -> list[bytes]:
        """Every frame received so far and not yet returned (at least one); waits for one."""
        await self._wait_for_frames()
        taken = self.frames[self.head :] if self.head else self.frames
        self.frames = []
        self.head = 0
        return taken

    async def send(self, text: str) -> None:
        from websockets.protocol import State

        if self.lost.done() or self.proto.state is not State.OPEN:
            raise self._closed_error()
        self.proto.send_text(text.encode())
        self._flush()
        if self.drained is not None:
            await self.drained

    async def close(self) -> None:
        from websockets.protocol import State

        if self.proto.state is State.OPEN:
            self.proto.send_close(1000)
            self._flush()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await asyncio.shield(self.lost)
        if self.transport is not None:
            self.transport.close()


class WorkerState:
    """Figures shared by all connections of one worker process."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.run_id: str = run["run_id"]
        self.marker = f'{{"b":"{self.run_id}"'
        self.ack_lat: list[int] = []
        self.pair_lat: list[int] = []
        self.msg_agg: dict[tuple[int, int], list[int]] = {}  # (sender, k) -> [count, max_ns, seq, mismatches]
        self.acked: list[tuple[int, int, int, int]] = []  # (sender, k, room, seq)
        self.send_lag: list[int] = []
        self.sent = 0
        self.first_send_ns: int | None = None
        self.last_ack_ns: int | None = None
        self.self_delivered = 0
        self.ack_timeouts = 0
        self.send_failed = 0
        self.refused = 0  # sends answered with an error frame
        self.errors: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.frame_types: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()
        self.connect_failures: Counter[str] = Counter()
        self.connect_lat: list[int] = []


class ConnRuntime:
    def __init__(self, spec: dict[str, Any], run: dict[str, Any], state: WorkerState) -> None:
        self.spec = spec
        self.run = run
        self.state = state
        self.index: int = spec["index"]
        self.room: int = spec["room"]
        self.sender: int | None = spec["sender"]
        self.ws: Any = None
        self.connected = False
        self.closing = False
        self.alive = False
        self.checker = SequenceChecker(None)
        self.pending: dict[str, tuple[int, int, asyncio.Future[bool] | None]] = {}
        self.window: asyncio.Semaphore | None = None
        self.reader_task: asyncio.Task[None] | None = None
        self.max_ack_seq: int | None = None
        self.last_progress = 0.0  # time.monotonic() of the last ack or error for one of our sends

    # -- connecting -------------------------------------------------------------------------------

    async def open(self, sem: asyncio.Semaphore) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        state = self.state
        async with sem:
            t0 = time.monotonic_ns()
            try:
                async with asyncio.timeout(self.run["connect_timeout"]):
                    self.ws = await LeanWebSocket.connect(
                        self.spec["ws_url"],
                        {"Authorization": f"Bearer {self.spec['token']}"},
                        max_size=2**20,
                        deflate=self.run["compression"] == "deflate",
                    )
                    # CONTRACT §3: the first frame is `connected`.  Frames before it are a protocol
                    # violation; they are counted and skipped (bounded) so that the run can go on.
                    frame: Any = None
                    for _ in range(1000):
                        raw = await self.ws.recv(decode=False)
                        try:
                            frame = _loads(raw)
                        except Exception:
                            frame = None
                        if isinstance(frame, dict) and frame.get("type") == "connected":
                            break
                        kind = frame.get("type") if isinstance(frame, dict) else "invalid_json"
                        if isinstance(frame, dict) and frame.get("event"):
                            kind = f"{kind}:{frame['event']}"
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
        check_fields(frame, CONNECTED_FIELDS, "connected", state.violations)
        if not TIMESTAMP_RE.match(str(frame.get("server_time", ""))):
            state.violations["connected_server_time_format"] += 1
        baseline = frame.get("last_sequence_number")
        if not isinstance(baseline, int):
            state.violations["connected_last_sequence_number_not_int"] += 1
            baseline = None
        self.checker = SequenceChecker(baseline)
        self.connected = True
        self.alive = True
        if self.sender is not None and self.run["window"] > 0:
            self.window = asyncio.Semaphore(self.run["window"])
        self.reader_task = asyncio.create_task(self.reader())

    async def _abort(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 3)

    # -- receiving --------------------------------------------------------------------------------

    async def reader(self) -> None:
        from websockets.exceptions import ConnectionClosed

        state = self.state
        ws = self.ws
        try:
            frame_types = state.frame_types
            while True:
                # One wake-up per TCP read, not per frame: the frames of a read share one `now`
                # (they arrived together; parsing them is the generator's time, not the server's).
                batch = await ws.recv_many()
                now = time.monotonic_ns()
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
                    if kind == "message":
                        self.on_message(frame, now)
                    elif kind == "ack":
                        self.on_ack(frame, now)
                    elif kind == "error":
                        self.on_error(frame)
                    elif kind == "system":
                        seq = frame.get("sequence_number")
                        if seq is not None:
                            if isinstance(seq, int):
                                self.checker.observe(seq)
                            else:
                                state.violations["system_sequence_number_not_int"] += 1
        except ConnectionClosed as exc:
            if not self.closing:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                state.closes[str(code)] += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            state.violations[f"reader_exception_{type(exc).__name__}"] += 1
        finally:
            self.alive = False
            self._fail_pending()

    def _fail_pending(self) -> None:
        for _cid, (_t, _k, fut) in list(self.pending.items()):
            if fut is not None and not fut.done():
                fut.set_result(False)

    def on_message(self, frame: dict[str, Any], now: int) -> None:
        state = self.state
        seq = frame.get("sequence_number")
        if isinstance(seq, int):
            self.checker.observe(seq)
        else:
            state.violations["message_sequence_number_not_int"] += 1
            seq = -1
        check_fields(frame, MESSAGE_FIELDS, "message", state.violations)
        content = frame.get("content")
        if not isinstance(content, str) or not content.startswith(state.marker):
            return
        try:
            body = _loads(content)
            s = int(body["s"])
            k = int(body["n"])
            t = int(body["t"])
        except Exception:
            state.violations["bench_content_garbled"] += 1
            return
        if s == self.sender:
            state.self_delivered += 1
            if frame.get("client_id") in self.pending:
                state.violations["own_message_before_ack"] += 1
            return
        lat = now - t
        state.pair_lat.append(lat)
        agg = state.msg_agg.get((s, k))
        if agg is None:
            state.msg_agg[(s, k)] = [1, lat, seq, 0]
        else:
            agg[0] += 1
            if lat > agg[1]:
                agg[1] = lat
            if seq != agg[2]:
                agg[3] += 1

    def on_ack(self, frame: dict[str, Any], now: int) -> None:
        state = self.state
        cid = frame.get("client_id")
        entry = self.pending.pop(cid, None) if isinstance(cid, str) else None
        if entry is None:
            state.violations["ack_unknown_client_id"] += 1
            return
        t_send, k, fut = entry
        self.last_progress = time.monotonic()
        state.ack_lat.append(now - t_send)
        if state.last_ack_ns is None or now > state.last_ack_ns:
            state.last_ack_ns = now
        check_fields(frame, ACK_FIELDS, "ack", state.violations)
        if not TIMESTAMP_RE.match(str(frame.get("created_at", ""))):
            state.violations["ack_created_at_format"] += 1
        seq = frame.get("sequence_number")
        if isinstance(seq, int):
            assert self.sender is not None
            state.acked.append((self.sender, k, self.room, seq))
            if self.max_ack_seq is None or seq > self.max_ack_seq:
                self.max_ack_seq = seq
        else:
            state.violations["ack_sequence_number_not_int"] += 1
        if fut is not None and not fut.done():
            fut.set_result(True)
        if self.window is not None:
            self.window.release()

    def on_error(self, frame: dict[str, Any]) -> None:
        state = self.state
        state.errors[str(frame.get("code"))] += 1
        cid = frame.get("client_id")
        entry = self.pending.pop(cid, None) if isinstance(cid, str) else None
        if entry is None:
            return
        state.refused += 1
        self.last_progress = time.monotonic()
        _t, _k, fut = entry
        if fut is not None and not fut.done():
            fut.set_result(False)
        if self.window is not None:
            self.window.release()

    # -- sending ----------------------------------------------------------------------------------

    async def send_one(self, k: int, want_future: bool) -> asyncio.Future[bool] | None:
        state = self.state
        assert self.sender is not None
        cid = f"{state.run_id}.{self.sender}.{k}"
        fut: asyncio.Future[bool] | None = asyncio.get_running_loop().create_future() if want_future else None
        t = time.monotonic_ns()
        content = make_content(state.run_id, self.sender, k, t, self.run["pad"])
        self.pending[cid] = (t, k, fut)
        if state.first_send_ns is None or t < state.first_send_ns:
            state.first_send_ns = t
        # bounded: a server that stops reading must not hang the sender (TCP backpressure)
        async with asyncio.timeout(self.run["ack_timeout"]):
            await self.ws.send(json.dumps({"type": "message", "content": content, "client_id": cid}))
        state.sent += 1
        return fut

    async def run_sender(self, t0: int) -> None:
        from websockets.exceptions import ConnectionClosed

        run = self.run
        state = self.state
        assert self.sender is not None
        mode = run["mode"]
        messages: int | None = run["messages"]
        duration_ns = round(run["duration"] * NS_PER_S) if run["duration"] is not None else None
        k = 0
        try:
            while self.alive:
                if messages is not None and k >= messages:
                    break
                if time.monotonic() >= run["send_deadline"]:
                    state.violations["sender_stopped_at_max_seconds"] += 1
                    break
                if mode == "rate":
                    off = scheduled_offset_ns(run["rate"], run["n_senders"], self.sender, k)
                    if duration_ns is not None and off >= duration_ns:
                        break
                    target = t0 + off
                    delay = target - time.monotonic_ns()
                    if delay > 0:
                        await asyncio.sleep(delay / NS_PER_S)
                    state.send_lag.append(max(0, time.monotonic_ns() - target))
                    await self.send_one(k, False)
                elif mode == "flood":
                    if duration_ns is not None and time.monotonic_ns() - t0 >= duration_ns:
                        break
                    if self.window is not None:
                        try:
                            await asyncio.wait_for(self.window.acquire(), run["ack_timeout"])
                        except TimeoutError:
                            state.violations["sender_window_stalled"] += 1
                            break
                    await self.send_one(k, False)
                    if k % 16 == 15:
                        await asyncio.sleep(0)  # let the readers run between bursts
                else:  # closed loop
                    fut = await self.send_one(k, True)
                    assert fut is not None
                    try:
                        await asyncio.wait_for(fut, run["ack_timeout"])
                    except TimeoutError:
                        self.pending.pop(f"{state.run_id}.{self.sender}.{k}", None)
                        state.ack_timeouts += 1
                k += 1
        except ConnectionClosed:
            state.send_failed += 1
        except TimeoutError:
            state.violations["send_blocked_past_ack_timeout"] += 1
        # open-loop modes: outstanding acks may come back as long as they keep coming (a flood queues
        # many), i.e. until none arrived for --ack-timeout, and never past the run's own deadline
        self.last_progress = max(self.last_progress, time.monotonic())
        while self.pending and self.alive:
            now = time.monotonic()
            if now - self.last_progress >= run["ack_timeout"] or now >= run["send_deadline"]:
                break
            await asyncio.sleep(0.02)
        state.ack_timeouts += len(self.pending)
        self.pending.clear()

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self.reader_task is not None:
            self.reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self.reader_task


async def _pipe_recv(pipe: Connection, timeout: float) -> Any:
    def wait() -> Any:
        if pipe.poll(timeout):
            return pipe.recv()
        return ("timeout",)

    return await asyncio.get_running_loop().run_in_executor(None, wait)


async def worker_main(run: dict[str, Any], specs: list[dict[str, Any]], pipe: Connection) -> None:
    state = WorkerState(run)
    conns = [ConnRuntime(s, run, state) for s in specs]
    rusage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.monotonic()
    try:
        sem = asyncio.Semaphore(run["connect_concurrency"])
        while True:  # the parent connects in one or more steps (RSS is read between them)
            msg = await _pipe_recv(pipe, run["phase_timeout"])
            if msg[0] != "connect":
                break
            lo, hi = msg[1]
            batch = conns[round(lo * len(conns)) : round(hi * len(conns))]
            t = time.monotonic()
            await asyncio.gather(*(c.open(sem) for c in batch))
            pipe.send(
                (
                    "ready",
                    {
                        "connected": sum(c.connected for c in conns),
                        "failures": dict(state.connect_failures),
                        "seconds": time.monotonic() - t,
                    },
                )
            )
        if msg[0] != "start":
            return
        t0: int = msg[1]
        # The generator's own garbage collector must not stall its clocks mid-run: a full
        # collection over the latency lists and 1,000 sockets takes tens of milliseconds and
        # would be reported as server latency. The run's few cycles wait until it is over.
        gc.collect()
        gc.freeze()
        gc.disable()
        rusage1 = resource.getrusage(resource.RUSAGE_SELF)
        wall1 = time.monotonic()
        delay = t0 - time.monotonic_ns()
        if delay > 0:
            await asyncio.sleep(delay / NS_PER_S)
        senders = [c for c in conns if c.sender is not None and c.connected]
        await asyncio.gather(*(c.run_sender(t0) for c in senders))
        max_acked: dict[int, int] = {}
        for c in senders:
            if c.max_ack_seq is not None and c.max_ack_seq > max_acked.get(c.room, -1):
                max_acked[c.room] = c.max_ack_seq
        pipe.send(("sent", max_acked))
        msg = await _pipe_recv(pipe, run["phase_timeout"])
        if msg[0] != "drain":
            return
        targets: dict[int, int] = msg[1]
        deadline = time.monotonic() + run["drain_timeout"]
        while time.monotonic() < deadline:
            behind = [
                c
                for c in conns
                if c.alive and c.room in targets and (c.checker.max_seen or -1) < targets[c.room]
            ]
            if not behind:
                break
            await asyncio.sleep(0.02)
        rusage2 = resource.getrusage(resource.RUSAGE_SELF)
        wall2 = time.monotonic()
        gc.enable()
        pipe.send(
            (
                "result",
                export_worker(state, conns, targets, (rusage0, rusage1, rusage2), (wall0, wall1, wall2)),
            )
        )
    finally:
        await asyncio.gather(*(c.close() for c in conns))


def _cpu(r0: resource.struct_rusage, r1: resource.struct_rusage) -> float:
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def export_worker(
    state: WorkerState,
    conns: list[ConnRuntime],
    targets: dict[int, int],
    rusage: tuple[resource.struct_rusage, resource.struct_rusage, resource.struct_rusage],
    wall: tuple[float, float, float],
) -> dict[str, Any]:
    integrity: Counter[str] = Counter()
    problem_conns = 0
    examples: list[dict[str, Any]] = []
    frames = 0
    for c in conns:
        if not c.connected:
            continue
        probs = c.checker.problems(targets.get(c.room))
        frames += c.checker.frames
        integrity.update(probs)
        if any(probs.values()):
            problem_conns += 1
            if len(examples) < 10:
                examples.append(
                    {
                        "connection": c.index,
                        "room": c.room,
                        "baseline": c.checker.baseline,
                        "max_seen": c.checker.max_seen,
                        "expected_last": targets.get(c.room),
                        "still_open": c.alive,
                        **probs,
                    }
                )
    return {
        "connected": [c.index for c in conns if c.connected],
        "connect_lat": state.connect_lat,
        "ack_lat": state.ack_lat,
        "pair_lat": state.pair_lat,
        "msg_agg": [(s, k, *v) for (s, k), v in state.msg_agg.items()],
        "acked": state.acked,
        "send_lag": state.send_lag,
        "sent": state.sent,
        "first_send_ns": state.first_send_ns,
        "last_ack_ns": state.last_ack_ns,
        "self_delivered": state.self_delivered,
        "ack_timeouts": state.ack_timeouts,
        "send_failed": state.send_failed,
        "refused": state.refused,
        "errors": dict(state.errors),
        "closes": dict(state.closes),
        "frame_types": dict(state.frame_types),
        "violations": dict(state.violations),
        "integrity": dict(integrity),
        "sequenced_frames": frames,
        "problem_connections": problem_conns,
        "examples": examples,
        "cpu_seconds_connect": round(_cpu(rusage[0], rusage[1]), 3),
        "cpu_seconds_run": round(_cpu(rusage[1], rusage[2]), 3),
        "wall_seconds_run": round(wall[2] - wall[1], 3),
    }


def worker_entry(run: dict[str, Any], specs: list[dict[str, Any]], pipe: Connection) -> None:
    raise_nofile_limit()
    try:
        run_async(worker_main(run, specs, pipe))
    except Exception as exc:  # report instead of dying silently
        with contextlib.suppress(Exception):
            pipe.send(("crash", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


# ---------------------------------------------------------------------------------------------------
# Parent: orchestration and aggregation
# ---------------------------------------------------------------------------------------------------


class Workers:
    """The worker processes of one run, driven phase by phase with bounded waits."""

    def __init__(
        self,
        run: dict[str, Any],
        spec_groups: list[list[dict[str, Any]]],
        target: Callable[[dict[str, Any], list[dict[str, Any]], Connection], None] = worker_entry,
    ) -> None:
        """One spawned process per spec group, each running ``target(run, specs, pipe)``
        (``worker_entry`` here; other generators pass their own, see user_stream_load.py)."""
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for specs in spec_groups:
            parent_end, child_end = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=target, args=(run, specs, child_end), daemon=True)
            proc.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.procs.append(proc)

    def gather(self, expect: str, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        out: list[Any] = []
        for pipe in self.pipes:
            left = max(0.0, deadline - time.monotonic())
            if not pipe.poll(left):
                raise TimeoutError(f"a worker did not report {expect!r} within {timeout:.0f}s")
            try:
                msg = pipe.recv()
            except EOFError:
                raise RuntimeError(f"a worker exited before reporting {expect!r}") from None
            if msg[0] == "crash":
                raise RuntimeError(f"a worker crashed: {msg[1]}")
            if msg[0] != expect:
                raise RuntimeError(f"a worker answered {msg[0]!r} instead of {expect!r}")
            out.append(msg[1])
        return out

    def broadcast(self, msg: tuple[Any, ...]) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(msg)

    def stop(self) -> None:
        self.broadcast(("stop",))
        for proc in self.procs:
            proc.join(timeout=15)
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()


def aggregate(
    cfg: Config,
    plan: list[Assignment],
    results: list[dict[str, Any]],
    t0: int,
) -> dict[str, Any]:
    connected: set[int] = set()
    for r in results:
        connected.update(r["connected"])
    connected_by_room: Counter[int] = Counter(plan[i].room for i in connected)
    sender_room = {a.sender: a.room for a in plan if a.sender is not None}

    def cat(key: str) -> list[int]:
        out: list[int] = []
        for r in results:
            out.extend(r[key])
        return out

    def count(key: str) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in results:
            total.update(r[key])
        return total

    acked: list[tuple[int, int, int, int]] = [tuple(x) for r in results for x in r["acked"]]  # type: ignore[misc]
    agg: dict[tuple[int, int], list[int]] = {}
    for r in results:
        for s, k, n, mx, seq, mism in r["msg_agg"]:
            cur = agg.get((s, k))
            if cur is None:
                agg[(s, k)] = [n, mx, seq, mism]
            else:
                cur[0] += n
                cur[1] = max(cur[1], mx)
                cur[3] += mism + (1 if seq != cur[2] else 0)

    all_lat: list[int] = []
    by_round: dict[int, list[int]] = {}  # the sender's message index -> delivery-to-all latencies
    expected_pairs = delivered_pairs = incomplete = seq_mismatch = 0
    acked_keys = set()
    room_seqs: dict[int, list[int]] = {}
    for s, k, room, seq in acked:
        acked_keys.add((s, k))
        room_seqs.setdefault(room, []).append(seq)
        expected = connected_by_room[sender_room[s]] - 1
        got = agg.get((s, k))
        n = got[0] if got else 0
        expected_pairs += expected
        delivered_pairs += min(n, expected)
        if got is not None:
            seq_mismatch += got[3] + (1 if got[2] != seq else 0)
        if expected <= 0:
            continue
        if n >= expected and got is not None:
            all_lat.append(got[1])
            by_round.setdefault(k, []).append(got[1])
        else:
            incomplete += 1
    delivered_unacked = sum(v[0] for key, v in agg.items() if key not in acked_keys)
    over_delivered = sum(
        max(0, v[0] - (connected_by_room[sender_room[key[0]]] - 1))
        for key, v in agg.items()
        if key in acked_keys
    )

    ack_seq_dupes = ack_seq_holes = 0
    for seqs in room_seqs.values():
        uniq = set(seqs)
        ack_seq_dupes += len(seqs) - len(uniq)
        ack_seq_holes += (max(uniq) - min(uniq) + 1) - len(uniq)

    integrity = count("integrity")
    for key in ("gaps", "duplicates", "out_of_order", "stale", "missing_tail"):
        integrity.setdefault(key, 0)
    first_send = min((r["first_send_ns"] for r in results if r["first_send_ns"] is not None), default=None)
    last_ack = max((r["last_ack_ns"] for r in results if r["last_ack_ns"] is not None), default=None)
    n_acked = len(acked)
    sent = sum(r["sent"] for r in results)
    window_s = (last_ack - first_send) / NS_PER_S if first_send is not None and last_ack is not None else None
    persisted = round(n_acked / window_s, 1) if window_s else None
    examples = [e for r in results for e in r["examples"]][:10]
    errors = count("errors")
    closes = count("closes")
    violations = count("violations")
    zero = all(v == 0 for v in integrity.values()) and ack_seq_dupes == 0 and seq_mismatch == 0
    return {
        "connect": {
            "requested": cfg.connections,
            "connected": len(connected),
            "latency_ms": summarize(cat("connect_lat"), NS_PER_MS),
        },
        "send": {
            "mode": cfg.mode,
            "sent": sent,
            "acked": n_acked,
            "refused_with_error": sum(r["refused"] for r in results),
            "ack_timeouts": sum(r["ack_timeouts"] for r in results),
            "send_failed_closed": sum(r["send_failed"] for r in results),
            "window_seconds": round(window_s, 3) if window_s else None,
            "offered_per_second": round(sent / window_s, 1) if window_s else None,
            "pacing_lag_ms": summarize(cat("send_lag"), NS_PER_MS),
        },
        "persisted_per_second": persisted,
        "ack_latency_ms": summarize(cat("ack_lat"), NS_PER_MS),
        "fanout_latency_ms": summarize(cat("pair_lat"), NS_PER_MS),
        "fanout_all_latency_ms": summarize(all_lat, NS_PER_MS),
        # Closed loop: the k-th message of every sender forms round k; shows warm-up and drift.
        "fanout_all_latency_ms_by_round": (
            {str(k): summarize(v, NS_PER_MS)["p50"] for k, v in sorted(by_round.items())}
            if cfg.mode == "closed" and len(by_round) <= 100
            else None
        ),
        "delivery": {
            "expected_pairs": expected_pairs,
            "delivered_pairs": delivered_pairs,
            "missing_pairs": expected_pairs - delivered_pairs,
            "over_delivered_pairs": over_delivered,
            "messages_not_received_by_all": incomplete,
            "delivered_but_unacked_pairs": delivered_unacked,
            "self_delivered": sum(r["self_delivered"] for r in results),
            "sequence_number_mismatch_vs_ack": seq_mismatch,
        },
        "integrity": {
            **dict(integrity),
            "ack_sequence_duplicates": ack_seq_dupes,
            "ack_sequence_holes": ack_seq_holes,
            "sequenced_frames_checked": sum(r["sequenced_frames"] for r in results),
            "connections_checked": len(connected),
            "connections_with_problems": sum(r["problem_connections"] for r in results),
            "all_zero": zero,
            "examples": examples,
        },
        "errors_by_code": dict(errors),
        "closes_by_code": dict(closes),
        "protocol_violations": dict(violations),
        "frames_received_by_type": dict(count("frame_types")),
        "client": {
            "procs": len(results),
            "cpu_seconds_connect": round(sum(r["cpu_seconds_connect"] for r in results), 3),
            "cpu_seconds_run": round(sum(r["cpu_seconds_run"] for r in results), 3),
            "wall_seconds_run": max((r["wall_seconds_run"] for r in results), default=0.0),
        },
    }


def build_specs(cfg: Config, plan: list[Assignment], fixtures: dict[str, Any]) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = [[] for _ in range(cfg.procs)]
    for a in plan:
        groups[a.index % cfg.procs].append(
            {
                "index": a.index,
                "room": a.room,
                "sender": a.sender,
                "ws_url": ws_url(cfg.urls[a.url], fixtures["room_ids"][a.room]),
                "token": fixtures["tokens"][a.user],
            }
        )
    return groups


def run(cfg: Config) -> dict[str, Any]:
    t_begin = time.monotonic()
    deadline = t_begin + cfg.max_seconds
    run_id = uuid.uuid4().hex[:8]
    nofile = raise_nofile_limit()
    if nofile["soft"] < cfg.connections / cfg.procs + 256:
        log(f"warning: open-file limit {nofile['soft']} may be too low for {cfg.connections} sockets")
    plan = assign_connections(cfg.connections, cfg.rooms, cfg.users, cfg.senders, len(cfg.urls))
    report: dict[str, Any] = {
        "tool": "bench/ws_load.py",
        "run_id": run_id,
        "scenario": cfg.scenario,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": cfg.public(),
        "nofile_limit": nofile,
        "host": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()]},
    }
    fixtures = run_async(setup_fixtures(cfg, plan, run_id))
    report["setup"] = fixtures["report"]
    log(f"setup done in {fixtures['report']['seconds']}s")

    pad = "x" * max(0, cfg.size - 60)
    run_cfg = {
        "run_id": run_id,
        "mode": cfg.mode,
        "rate": cfg.rate,
        "n_senders": cfg.senders,
        "messages": cfg.messages,
        "duration": cfg.duration,
        "window": cfg.window if cfg.mode == "flood" else 0,
        "pad": pad,
        "ack_timeout": cfg.ack_timeout,
        "connect_timeout": cfg.connect_timeout,
        "connect_concurrency": cfg.connect_concurrency,
        "drain_timeout": cfg.drain_timeout,
        "compression": cfg.compression,
        "phase_timeout": max(60.0, deadline - time.monotonic()),
        # CLOCK_MONOTONIC is system-wide: the workers can use the parent's deadline as is
        "send_deadline": deadline - min(cfg.drain_timeout + 30.0, 0.3 * (deadline - time.monotonic())),
    }
    rss: dict[str, Any] = {}
    if cfg.server_pids:
        rss["before"] = tree_rss_kib(cfg.server_pids)
    workers = Workers(run_cfg, build_specs(cfg, plan, fixtures))
    results: list[dict[str, Any]] = []
    t0 = 0
    try:
        connect_budget = cfg.connect_timeout * math.ceil(cfg.connections / cfg.connect_concurrency) + 60
        log(f"connecting {cfg.connections} WebSockets over {cfg.rooms} rooms to {len(cfg.urls)} URL(s)")
        t_conn = time.monotonic()
        steps = max(1, cfg.connect_steps)
        rss_steps: list[dict[str, Any]] = []
        ready: list[dict[str, Any]] = []
        for step in range(steps):
            workers.broadcast(("connect", (step / steps, (step + 1) / steps)))
            ready = workers.gather("ready", min(connect_budget, max(1.0, deadline - time.monotonic())))
            n_step = sum(r["connected"] for r in ready)
            log(f"connect step {step + 1}/{steps}: {n_step} connected")
            if cfg.server_pids:
                time.sleep(cfg.settle)
                rss_steps.append({"connected": n_step, **tree_rss_kib(cfg.server_pids)})
        n_conn = sum(r["connected"] for r in ready)
        failures: Counter[str] = Counter()
        for r in ready:
            failures.update(r["failures"])
        report["connect_phase"] = {
            "seconds": round(time.monotonic() - t_conn, 3),
            "connected": n_conn,
            "failures": dict(failures),
        }
        log(
            f"connected {n_conn}/{cfg.connections} in {time.monotonic() - t_conn:.1f}s; "
            f"failures {dict(failures)}"
        )
        time.sleep(cfg.settle)
        if cfg.server_pids:
            rss["steps"] = rss_steps
            rss["after_connect"] = tree_rss_kib(cfg.server_pids)
        if cfg.hold > 0:
            log(f"holding the connections {cfg.hold}s")
            time.sleep(min(cfg.hold, max(0.0, deadline - time.monotonic())))
            if cfg.server_pids:
                rss["after_hold"] = tree_rss_kib(cfg.server_pids)
        cpu0 = cpu_snapshot(cfg)
        t0 = time.monotonic_ns() + 300 * NS_PER_MS
        workers.broadcast(("start", t0))
        log(
            f"sending: mode={cfg.mode} senders={cfg.senders} rate={cfg.rate} messages={cfg.messages} "
            f"duration={cfg.duration}"
        )
        sent = workers.gather("sent", max(1.0, deadline - time.monotonic()))
        targets: dict[int, int] = {}
        for m in sent:
            for room, seq in m.items():
                targets[room] = max(targets.get(room, -1), seq)
        workers.broadcast(("drain", targets))
        log("draining")
        results = workers.gather("result", cfg.drain_timeout + 60)
        if cfg.mode != "idle":
            report["cpu_during_run"] = cpu_report(cpu0, cpu_snapshot(cfg))
    except (TimeoutError, RuntimeError) as exc:
        report["aborted"] = str(exc)
        log(f"aborted: {exc}")
    finally:
        workers.stop()
    if results:
        report.update(aggregate(cfg, plan, results, t0))
        report["connect"]["failures"] = report["connect_phase"]["failures"]
        cpu = report.get("cpu_during_run")
        acked = report["send"]["acked"]
        if cpu is not None and acked:
            # machine-independent-ish: what one persisted (and fanned-out) message costs in CPU, which
            # stays meaningful when other work on the machine slows the run down
            for key in ("server", "aux"):
                if f"{key}_cpu_seconds" in cpu:
                    cpu[f"{key}_cpu_ms_per_acked_message"] = round(
                        cpu[f"{key}_cpu_seconds"] * 1000 / acked, 4
                    )
            client_cpu = report["client"]["cpu_seconds_run"]
            cpu["client_cpu_ms_per_acked_message"] = round(client_cpu * 1000 / acked, 4)
    if cfg.server_pids:
        time.sleep(1.0)
        rss["after_close"] = tree_rss_kib(cfg.server_pids)
        n_conn = report.get("connect_phase", {}).get("connected", 0)
        after = rss.get("after_hold") or rss.get("after_connect")
        if after and n_conn:
            delta = after["total_kib"] - rss["before"]["total_kib"]
            rss["connections"] = n_conn
            rss["delta_kib"] = delta
            rss["kib_per_connection"] = round(delta / n_conn, 2)
            steps_seen = rss.get("steps", [])
            if len(steps_seen) >= 2 and steps_seen[-1]["connected"] > steps_seen[0]["connected"]:
                # excludes one-off costs paid by the first connections (imports, pools, caches)
                d_kib = steps_seen[-1]["total_kib"] - steps_seen[0]["total_kib"]
                d_conn = steps_seen[-1]["connected"] - steps_seen[0]["connected"]
                rss["kib_per_connection_marginal"] = round(d_kib / d_conn, 2)
        report["server_rss"] = rss
    targets_checked = [check_target(report, *t) for t in TARGETS.get(cfg.scenario, [])]
    if targets_checked:
        report["targets"] = targets_checked
    report["ok"] = bool(
        results
        and "aborted" not in report
        and report["integrity"]["all_zero"]
        and report["delivery"]["missing_pairs"] == 0
        and report["send"]["ack_timeouts"] == 0
        and not report["closes_by_code"]
        and report["connect_phase"]["connected"] == cfg.connections
        and not report["errors_by_code"]
    )
    report["protocol_ok"] = bool(results) and not report.get("protocol_violations")
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
    except SetupError as exc:
        report = {"error": f"setup failed: {exc}", "scenario": cfg.scenario, "config": cfg.public()}
        log(report["error"])
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
