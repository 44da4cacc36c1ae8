"""The client side of ``bench/scale_load.py``: worker processes holding many room sockets each.

Each socket (``Member``) is ws_load's sans-I/O client with frames handed to a callback
(``user_stream_load.CallbackWebSocket``): no task per socket while it only receives. It checks
its sequenced stream (``ws_load.SequenceChecker``: gaps, duplicates, reorders), times every
message that carries a send stamp, and, when its server goes away, reconnects the way the web
client does (``webclient/src/net/backoff.ts``: 400 ms doubling to 2.5 s, half of it random) to
the next URL of its list with ``since`` = the last number it holds contiguously, and notes when
the replay's ``sync_complete`` arrives. Senders send ``t=<monotonic ns>`` messages on an absolute
schedule and count their acks.

A worker is driven by the parent over a pipe, phase by phase (``connect``, ``start``, ``hold``,
``drain``); every wait is bounded by the run's timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import re
import resource
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

from user_stream_load import CallbackWebSocket
from ws_load import NS_PER_S, SequenceChecker, _pipe_recv, raise_nofile_limit, run_async

MESSAGE_PREFIX = b'{"type":"message",'
_SEQ = re.compile(rb'"sequence_number":(\d+)')
_STAMP = re.compile(rb'"content":"t=(\d+)')
# The web client's DEFAULT_BACKOFF (webclient/src/net/backoff.ts).
BACKOFF_BASE, BACKOFF_FACTOR, BACKOFF_MAX = 0.4, 2.0, 2.5


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Seconds before retry ``attempt`` (0 first): "equal jitter", as the web client waits."""
    cap = min(BACKOFF_MAX, BACKOFF_BASE * BACKOFF_FACTOR ** max(0, attempt))
    return cap / 2 + rng.random() * cap / 2


def parse_message(frame: bytes) -> tuple[int, int | None] | None:
    """(sequence number, send stamp or None) of a `message` frame; None for any other frame."""
    if not frame.startswith(MESSAGE_PREFIX):
        return None
    seq = _SEQ.search(frame)
    if seq is None:
        return None
    stamp = _STAMP.search(frame)
    return int(seq.group(1)), int(stamp.group(1)) if stamp else None


async def open_socket(url: str, token: str, source: str | None) -> CallbackWebSocket:
    """A socket to ``url`` from loopback address ``source`` (one address has ~28,000 ports)."""
    parts = urlsplit(url)
    sock = CallbackWebSocket(url, {"Authorization": f"Bearer {token}"}, 2**20, False)
    local = (source, 0) if source else None
    await asyncio.get_running_loop().create_connection(
        lambda: sock, parts.hostname or "127.0.0.1", parts.port or 80, local_addr=local
    )
    try:
        await sock.opened
    except BaseException:
        if sock.transport is not None:
            sock.transport.close()
        raise
    return sock


class Shared:
    """What the members of one worker process record."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.run = run
        self.rng = random.Random(run.get("seed", 19))
        self.reconnect = bool(run.get("reconnect"))
        self.stopping = False
        self.lat: dict[str, list[int]] = {"big": [], "small": []}
        # (room, seq) -> [send stamp, last arrival, receivers]: the time until the last receiver.
        self.per_message: dict[tuple[int, int], list[int]] = {}
        self.frame_types: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.connect_failures: Counter[str] = Counter()
        self.retry_failures: Counter[str] = Counter()
        self.connect_ms: list[float] = []
        self.resumes: list[dict[str, Any]] = []
        self.sent = 0
        self.acked = 0
        self.send_failed = 0


class Member:
    """One room socket: receives, checks its stream, and resumes after losing its server."""

    def __init__(self, spec: dict[str, Any], shared: Shared) -> None:
        self.spec = spec
        self.shared = shared
        self.kind = "big" if spec.get("big") else "small"
        self.sock: CallbackWebSocket | None = None
        self.checker: SequenceChecker | None = None
        self.url_i = 0
        self.alive = False
        self.lost_at: int | None = None
        self.resume: dict[str, Any] | None = None

    async def open(self, sem: asyncio.Semaphore, since: int | None = None) -> None:
        spec = self.spec
        url = spec["urls"][self.url_i] + (f"?since={since}" if since is not None else "")
        t = time.monotonic()
        async with sem:
            sock = await open_socket(url, spec["token"], spec.get("source"))
            try:
                async with asyncio.timeout(self.shared.run["connect_timeout"]):
                    while True:
                        first = json.loads(await sock.recv())
                        if first.get("type") == "connected":
                            break
            except BaseException:
                await sock.close()
                raise
        if self.checker is None:
            self.checker = SequenceChecker(int(first["last_sequence_number"]))
            self.shared.connect_ms.append((time.monotonic() - t) * 1000)
        self.shared.frame_types["connected"] += 1
        self.sock = sock
        self.alive = True
        sock.attach(self.on_frames, self.on_lost)

    async def first_open(self, sem: asyncio.Semaphore) -> None:
        try:
            await self.open(sem)
        except Exception as exc:
            self.shared.connect_failures[_reason(exc)] += 1

    def on_frames(self, frames: list[bytes], now: int) -> None:
        """The frames of one TCP read, `now` its arrival (taken before any parsing)."""
        shared = self.shared
        checker = self.checker
        assert checker is not None
        for frame in frames:
            parsed = parse_message(frame)
            if parsed is None:
                self._other(json.loads(frame), now)
                continue
            seq, stamp = parsed
            before = checker.frames - checker.duplicates - checker.stale
            checker.observe(seq)
            if (
                stamp is None
                or self.spec.get("offsets")
                or checker.frames - checker.duplicates - checker.stale == before
            ):
                continue  # no stamp, the sender's own message, or a number seen before
            shared.lat[self.kind].append(now - stamp)
            entry = shared.per_message.get((self.spec["room"], seq))
            if entry is None:
                shared.per_message[(self.spec["room"], seq)] = [stamp, now, 1]
            else:
                entry[1] = max(entry[1], now)
                entry[2] += 1

    def _other(self, frame: dict[str, Any], now: int) -> None:
        kind = frame.get("type")
        shared = self.shared
        if kind == "system" and frame.get("event") in ("user_joined", "user_left"):
            kind = frame["event"]
        shared.frame_types[str(kind)] += 1
        if kind == "system" and isinstance(frame.get("sequence_number"), int):
            assert self.checker is not None
            self.checker.observe(frame["sequence_number"])
        elif kind == "sync_complete" and self.resume is not None and "synced_ns" not in self.resume:
            self.resume["synced_ns"] = now
        elif kind == "ack":
            shared.acked += 1
            seq = frame.get("sequence_number")
            if isinstance(seq, int):
                self.spec["max_ack"] = max(self.spec.get("max_ack", 0), seq)
        elif kind == "error":
            shared.errors[str(frame.get("code"))] += 1

    def on_lost(self) -> None:
        self.alive = False
        sock = self.sock
        code = sock.proto.close_rcvd.code if sock is not None and sock.proto.close_rcvd is not None else 1006
        if self.shared.stopping:
            return
        self.shared.closes[str(code)] += 1
        if self.shared.reconnect:
            self.lost_at = time.monotonic_ns()
            asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """Back off, then the next URL with `since`; until it works or the run stops."""
        assert self.checker is not None and self.lost_at is not None
        sem = asyncio.Semaphore(1)
        attempt = 0
        while not self.shared.stopping:
            await asyncio.sleep(backoff_delay(attempt, self.shared.rng))
            self.url_i = (self.url_i + 1) % len(self.spec["urls"])
            since = self.checker.contiguous if self.checker.contiguous is not None else 0
            self.resume = {"lost_ns": self.lost_at, "attempts": attempt + 1, "since": since}
            try:
                await self.open(sem, since)
            except Exception as exc:
                self.shared.retry_failures[_reason(exc)] += 1
                attempt += 1
                continue
            self.resume["open_ns"] = time.monotonic_ns()
            self.shared.resumes.append(self.resume)
            return

    async def send_schedule(self, t0: int) -> None:
        """A sender: message k at t0 + offsets[k], content `t=<monotonic ns>`."""
        shared = self.shared
        for k, offset in enumerate(self.spec["offsets"]):
            delay = t0 + offset - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / NS_PER_S)
            if not self.alive or self.sock is None:
                shared.send_failed += 1
                continue
            body = {
                "type": "message",
                "content": f"t={time.monotonic_ns()}",
                "client_id": f"{self.spec['i']}-{k}",
            }
            try:
                await self.sock.send(json.dumps(body))
                shared.sent += 1
            except Exception:
                shared.send_failed += 1

    async def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(Exception):
                await self.sock.close()


def _reason(exc: BaseException) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None:
        return f"http_{status}"
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:
        return f"close_{rcvd.code}"
    return type(exc).__name__


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _app_pings(members: list[Member], interval: float) -> None:
    """The web client's heartbeat: a `ping` frame per socket every `interval` s, spread evenly."""
    if interval <= 0 or not members:
        return
    step = interval / len(members)
    while True:
        for m in members:
            if m.alive and m.sock is not None:
                with contextlib.suppress(Exception):
                    await m.sock.send('{"type":"ping"}')
            await asyncio.sleep(step)


async def _acks(shared: Shared, timeout: float) -> None:
    """A sender's acks, as long as they come (bounded): a busy server answers late, not never."""
    deadline = time.monotonic() + timeout
    while shared.acked + shared.send_failed < shared.sent and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # polling the count the sockets' callbacks keep


def _behind(members: list[Member], targets: dict[int, int]) -> list[Member]:
    out = []
    for m in members:
        c = m.checker
        if c is None or m.spec["room"] not in targets:
            continue
        if (c.contiguous or 0) < targets[m.spec["room"]] or (
            m.resume is not None and "synced_ns" not in m.resume
        ):
            out.append(m)
    return out


async def _drain(members: list[Member], targets: dict[int, int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _behind(members, targets) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # polling what the sockets' callbacks recorded


def export(shared: Shared, members: list[Member], targets: dict[int, int], cpu: float) -> dict[str, Any]:
    integrity: Counter[str] = Counter()
    for m in members:
        if m.checker is not None:
            integrity.update(m.checker.problems(targets.get(m.spec["room"])))
    return {
        "connected": sum(m.checker is not None for m in members),
        "connect_failures": dict(shared.connect_failures),
        "connect_ms": shared.connect_ms,
        "lat": shared.lat,
        "per_message": [(r, s, *v) for (r, s), v in shared.per_message.items()],
        "integrity": dict(integrity),
        "behind": len(_behind(members, targets)),
        "frame_types": dict(shared.frame_types),
        "errors": dict(shared.errors),
        "closes": dict(shared.closes),
        "retry_failures": dict(shared.retry_failures),
        "resumes": shared.resumes,
        "unresumed": sum(1 for m in members if m.checker is not None and not m.alive),
        "sent": shared.sent,
        "acked": shared.acked,
        "send_failed": shared.send_failed,
        "cpu_seconds": round(cpu, 3),
    }


async def worker_main(run: dict[str, Any], specs: list[dict[str, Any]], pipe: Connection) -> None:
    shared = Shared(run)
    members = [Member(s, shared) for s in specs]
    sem = asyncio.Semaphore(run["connect_concurrency"])
    cpu0 = _cpu()
    pinger: asyncio.Task[None] | None = None
    try:
        while True:
            msg = await _pipe_recv(pipe, run["phase_timeout"])
            if msg[0] == "connect":
                lo, hi = msg[1]
                batch = members[round(lo * len(members)) : round(hi * len(members))]
                await asyncio.gather(*(m.first_open(sem) for m in batch))
                pipe.send(
                    (
                        "ready",
                        {
                            "connected": sum(m.alive for m in members),
                            "failures": dict(shared.connect_failures),
                        },
                    )
                )
            elif msg[0] == "start":
                gc.collect()
                gc.freeze()  # no full collection over the latency lists mid-run
                cpu0 = _cpu()
                pinger = asyncio.create_task(_app_pings(members, run.get("app_ping", 0.0)))
                await asyncio.gather(*(m.send_schedule(msg[1]) for m in members if m.spec.get("offsets")))
                await _acks(shared, run["connect_timeout"])
                pipe.send(
                    (
                        "sent",
                        {m.spec["room"]: m.spec.get("max_ack", 0) for m in members if m.spec.get("offsets")},
                    )
                )
            elif msg[0] == "hold":
                await asyncio.sleep(msg[1])  # deliberate: idle sockets held for the measured window
                pipe.send(("held", {"alive": sum(m.alive for m in members), "closes": dict(shared.closes)}))
            elif msg[0] == "drain":
                await _drain(members, msg[1], msg[2])
                shared.stopping = True
                pipe.send(("result", export(shared, members, msg[1], _cpu() - cpu0)))
            else:
                return
    finally:
        shared.stopping = True
        if pinger is not None:
            pinger.cancel()
        await asyncio.gather(*(m.close() for m in members))


def worker_entry(run: dict[str, Any], specs: list[dict[str, Any]], pipe: Connection) -> None:
    raise_nofile_limit()
    try:
        run_async(worker_main(run, specs, pipe))
    except Exception as exc:  # report instead of dying silently
        with contextlib.suppress(Exception):
            pipe.send(("crash", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()
