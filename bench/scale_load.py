#!/usr/bin/env python3
"""Issue 19, items 1-3 at scale: a big room, many idle connections, a resume storm. One JSON object.

Each scenario starts its own stack (``bench/scale_stack.py``: a private PostgreSQL and Redis,
``andon serve`` processes), writes its users, tokens and rooms straight into the database, and
drives sockets from worker processes (``bench/scale_client.py``). Sizes are flags, so the same
code runs tiny in ``bench/test_scale_load.py`` and large by hand:

- ``bigroom``: one room of ``--members`` members spread over two servers, ``--rate`` msg/s for
  ``--duration`` s; delivery per (message, member) and until the last member, integrity (gaps,
  duplicates, reorders); beside it ``--small-conns`` sockets in rooms of ``--small-size`` with
  ``--small-rate`` msg/s in total, whose fan-out is timed the same way (their members in
  ``--small-procs`` generator processes of their own). Presence frames per member
  over the connect and the run show whether presence stays linear.
- ``idle``: ``--sockets`` idle sockets on one server (rooms of ``--room-size``): RSS per socket,
  and the server's CPU over ``--hold`` s with protocol pings every ``--ping-interval`` (the
  contract's 30 s) and the presence heartbeat; optional ``--app-ping`` s (the web client's 5 s
  heartbeat). The server's open-files limit is reported; this process raises its own (and, as
  root, the hard one) so the servers it starts inherit it.
- ``storm``: ``--clients`` sockets in ``--rooms`` rooms over two servers, ``--rate`` msg/s sent
  on the first; ``--kill-after`` s into the run the second is SIGKILLed; its clients reconnect
  with the web client's backoff and jitter to the first with ``since``. Catch-up = kill →
  the replay's ``sync_complete``; integrity over every client's whole stream; 1011 closes and
  ``PoolExhausted`` in the survivor's log are pool timeouts.

    python bench/scale_load.py --scenario bigroom --members 4000 --small-conns 1000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from scale_client import worker_entry  # noqa: E402
from scale_stack import Stack, raise_own_limits, server_figures  # noqa: E402
from ws_load import Workers, host_cpu_seconds, summarize, tree_cpu_seconds  # noqa: E402

from tests.support.fault_stack import private_services  # noqa: E402

TARGETS = {
    "bigroom": [("big_all_ms.p99", 500.0), ("small_all_ms.p99", 25.0)],
    "idle": [("kib_per_socket", 16.0), ("hold_server_cores", 0.10)],
    "storm": [("catch_up_ms.p99", 5000.0)],
}


def log(msg: str) -> None:
    print(f"[scale_load {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def source(i: int) -> str:
    """A loopback source address per 20,000 sockets (one address has ~28,000 ephemeral ports)."""
    return f"127.0.0.{2 + i // 20000}"


def schedule(rate: float, duration: float, phase: float = 0.0) -> list[int]:
    """Send offsets (ns) of one sender: `rate` msg/s for `duration` s, shifted by `phase` of a period."""
    if rate <= 0:
        return []
    return [int((k + phase) / rate * 1e9) for k in range(int(rate * duration))]


def member_specs(
    rooms: list[int], fx: Any, urls: list[str], first_user: int = 0, big_room: int | None = None
) -> list[dict[str, Any]]:
    """One spec per member socket: its room, token, source address and URLs (its own first)."""
    specs = []
    user = first_user
    for r, size in enumerate(rooms):
        for _ in range(size):
            own = user % len(urls)
            specs.append(
                {
                    "i": user,
                    "room": r,
                    "big": r == big_room,
                    "token": fx.tokens[user],
                    "source": source(user),
                    "urls": [f"{urls[(own + j) % len(urls)]}/ws/{fx.room_ids[r]}" for j in range(len(urls))],
                }
            )
            user += 1
    return specs


def sender_specs(fx: Any, url: str, rates: list[float], duration: float) -> list[dict[str, Any]]:
    n = len(rates)
    return [
        {
            "i": f"owner{r}",
            "room": r,
            "token": fx.owner_tokens[r],
            "urls": [f"{url}/ws/{fx.room_ids[r]}"],
            "offsets": schedule(rate, duration, r / n),
        }
        for r, rate in enumerate(rates)
    ]


def split(specs: list[dict[str, Any]], procs: int) -> list[list[dict[str, Any]]]:
    return [specs[i::procs] for i in range(procs) if specs[i::procs]]


def run_config(args: argparse.Namespace, reconnect: bool) -> dict[str, Any]:
    return {
        "connect_timeout": args.connect_timeout,
        "connect_concurrency": args.connect_concurrency,
        "phase_timeout": args.phase_timeout,
        "reconnect": reconnect,
        "app_ping": getattr(args, "app_ping", 0.0),
        "seed": 19,
    }


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The workers' exports summed (counters), concatenated (samples), and per message combined
    (a room's members sit in several workers: the last arrival over all, the receivers summed)."""
    out: dict[str, Any] = {"lat": {"big": [], "small": []}, "resumes": [], "connect_ms": []}
    counters: dict[str, Counter[str]] = {}
    messages: dict[tuple[int, int], list[int]] = {}
    for res in results:
        for key, value in res.items():
            if key == "lat":
                for kind, values in value.items():
                    out["lat"][kind].extend(values)
            elif key == "per_message":
                for room, seq, stamp, last, count in value:
                    entry = messages.setdefault((room, seq), [stamp, last, 0])
                    entry[1] = max(entry[1], last)
                    entry[2] += count
            elif isinstance(value, list):
                out[key].extend(value)
            elif isinstance(value, dict):
                counters.setdefault(key, Counter()).update(value)
            else:
                out[key] = out.get(key, 0) + value
    out.update({k: dict(v) for k, v in counters.items()})
    out["per_message"] = [(r, s, *v) for (r, s), v in messages.items()]
    return out


def all_received(per_message: list[Any], receivers: dict[int, int], rooms: set[int]) -> list[float]:
    """Per message of `rooms`: send → its last receiver (ms), for messages every receiver got."""
    return [(last - stamp) / 1e6 for r, _s, stamp, last, n in per_message if r in rooms and n == receivers[r]]


def connect(workers: Workers, timeout: float, lo: float = 0.0, hi: float = 1.0) -> dict[str, Any]:
    """Open the fraction [lo, hi) of every worker's sockets; bounded by `timeout`."""
    t = time.monotonic()
    workers.broadcast(("connect", (lo, hi)))
    ready = workers.gather("ready", timeout)
    report = {
        "connected": sum(r["connected"] for r in ready),
        "failures": dict(sum((Counter(r["failures"]) for r in ready), Counter())),
        "seconds": round(time.monotonic() - t, 2),
    }
    log(f"connected {report}")
    return report


def run_traffic(workers: Workers, args: argparse.Namespace, on_start: Any = None) -> tuple[float, float]:
    """Senders run their schedule; returns the wall seconds it took and the whole machine's busy
    cores meanwhile (other sessions' work on a shared machine shows there)."""
    busy0 = host_cpu_seconds()[0]
    t0 = time.monotonic_ns() + 500_000_000
    workers.broadcast(("start", t0))
    if on_start is not None:
        on_start(t0)
    workers.gather("sent", args.duration + args.phase_timeout)
    wall = (time.monotonic_ns() - t0) / 1e9
    return wall, round((host_cpu_seconds()[0] - busy0) / max(wall, 1e-9), 2)


def drain(
    workers: Workers, stack: Stack, room_ids: list[str], timeout: float
) -> tuple[dict[str, Any], dict[int, int]]:
    targets = asyncio.run(stack.last_seqs(room_ids))
    workers.broadcast(("drain", targets, timeout))
    return merge(workers.gather("result", timeout + 60)), targets


def integrity(res: dict[str, Any]) -> dict[str, Any]:
    got = {
        k: res.get("integrity", {}).get(k, 0)
        for k in ("gaps", "duplicates", "out_of_order", "stale", "missing_tail")
    }
    got["behind_at_end"] = res.get("behind", 0)
    got["all_zero"] = not any(got.values())
    return got


def check_targets(name: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path, limit in TARGETS[name]:
        value: Any = report
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out.append(
            {
                "metric": path,
                "limit": f"< {limit}",
                "value": value,
                "met": value is not None and value < limit,
            }
        )
    return out


def bigroom(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    n_small = max(0, args.small_conns // args.small_size)
    rooms = [args.members] + [args.small_size] * n_small
    asyncio.run(stack.create({"WS_PING_INTERVAL": str(args.ping_interval), **dict(args.env)}))
    fx = asyncio.run(stack.fixtures(rooms))
    urls = [s.base_url.replace("http://", "ws://") for s in stack.start(2)]
    specs = member_specs(rooms, fx, urls, big_room=0)
    rates = [args.rate] + [args.small_rate / n_small] * n_small if n_small else [args.rate]
    # The small rooms' members get generator processes of their own: sharing one with big-room
    # members, their frames would wait behind the thousands of big-room frames that process
    # reads per message, and the figure would be the generator's queue, not the server's.
    big = [s for s in specs if s["big"]]
    small = [s for s in specs if not s["big"]]
    groups = [
        *split(big, args.procs),
        *split(small, args.small_procs),
        sender_specs(fx, urls[0], rates, args.duration),
    ]
    workers = Workers(run_config(args, reconnect=False), groups, target=worker_entry)
    try:
        connected = connect(workers, args.phase_timeout)
        before = [server_figures(s) for s in stack.servers]
        wall, host_busy = run_traffic(workers, args)
        res, targets = drain(workers, stack, fx.room_ids, args.drain_timeout)
        after = [server_figures(s) for s in stack.servers]
    finally:
        workers.stop()
    receivers = dict(Counter(s["room"] for s in specs))
    cpu = sum(a["cpu_seconds"] - b["cpu_seconds"] for a, b in zip(after, before, strict=True))
    types = res.get("frame_types", {})
    report = {
        "config": {
            "members": args.members,
            "small_conns": n_small * args.small_size,
            "small_rooms": n_small,
            "rate": args.rate,
            "small_rate": args.small_rate,
            "duration": args.duration,
            "servers": 2,
        },
        "connect": connected,
        "big_ms": summarize(res["lat"]["big"], 1e6),
        "big_all_ms": summarize(all_received(res["per_message"], receivers, {0})),
        "small_ms": summarize(res["lat"]["small"], 1e6),
        "small_all_ms": summarize(all_received(res["per_message"], receivers, set(range(1, n_small + 1)))),
        "messages": {
            "sent": res.get("sent", 0),
            "acked": res.get("acked", 0),
            "big_room_last_seq": targets.get(0),
        },
        "integrity": integrity(res),
        "presence_frames_per_member": round(types.get("presence", 0) / max(1, len(specs)), 2),
        "join_frames_per_member": round(types.get("user_joined", 0) / max(1, len(specs)), 2),
        "frame_types": types,
        "closes": res.get("closes", {}),
        "errors": res.get("errors", {}),
        "server_cpu_ms_per_message": round(cpu * 1000 / max(1, res.get("acked", 0)), 2),
        "server_cores": round(cpu / max(wall, 1e-9), 3),
        "host_busy_cores": host_busy,
        "servers_after": after,
        "client_cpu_seconds": res.get("cpu_seconds"),
    }
    report["ok"] = (
        report["integrity"]["all_zero"] and not report["closes"] and res.get("acked") == res.get("sent")
    )
    return report


def idle(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    n_rooms = max(1, args.sockets // args.room_size)
    rooms = [args.room_size] * n_rooms
    asyncio.run(stack.create({"WS_PING_INTERVAL": str(args.ping_interval), **dict(args.env)}))
    fx = asyncio.run(stack.fixtures(rooms))
    server = stack.start(1)[0]
    specs = member_specs(rooms, fx, [server.ws_url])
    workers = Workers(run_config(args, reconnect=False), split(specs, args.procs), target=worker_entry)
    try:
        figures = {"start": server_figures(server)}
        connected = [connect(workers, args.phase_timeout, 0.0, 0.5)]
        figures["half"] = server_figures(server)
        connected.append(connect(workers, args.phase_timeout, 0.5, 1.0))
        figures["all"] = server_figures(server)
        time.sleep(args.settle)  # deliberate: the opening's presence work settles before the hold
        figures["settled"] = server_figures(server)
        workers.broadcast(("start", time.monotonic_ns()))
        workers.gather("sent", args.phase_timeout)
        workers.broadcast(("hold", args.hold))
        held = workers.gather("held", args.hold + args.phase_timeout)
        figures["held"] = server_figures(server)
        res, _ = drain(workers, stack, fx.room_ids, 5.0)
    finally:
        workers.stop()
    n, half = connected[1]["connected"], connected[0]["connected"]
    rss = {k: v["rss_kib"] for k, v in figures.items()}
    report = {
        "config": {
            "sockets": len(specs),
            "rooms": n_rooms,
            "ping_interval": args.ping_interval,
            "app_ping": args.app_ping,
            "hold": args.hold,
        },
        "connect": connected,
        "rss_kib": rss,
        "kib_per_socket": round((rss["all"] - rss["start"]) / max(1, n), 2),
        "kib_per_socket_marginal": round((rss["all"] - rss["half"]) / max(1, n - half), 2),
        "hold_server_cores": round(
            (figures["held"]["cpu_seconds"] - figures["settled"]["cpu_seconds"]) / args.hold, 4
        ),
        "open_fds": figures["held"]["open_fds"],
        "nofile": figures["held"]["nofile"],
        "alive_after_hold": sum(h["alive"] for h in held),
        "closes": res.get("closes", {}),
        "frame_types": res.get("frame_types", {}),
        "client_cpu_seconds": res.get("cpu_seconds"),
    }
    report["ok"] = report["alive_after_hold"] == len(specs) and not report["closes"]
    return report


class CpuSampler:
    """A process's CPU seconds every `interval` s (a thread), to charge a time window its CPU."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic_ns(), tree_cpu_seconds([self.pid])))
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def at(self, ns: int) -> float | None:
        """CPU seconds at monotonic `ns`, interpolated between samples (None outside them)."""
        pts = self.samples
        for (t0, c0), (t1, c1) in itertools.pairwise(pts):
            if t0 <= ns <= t1:
                return c0 + (c1 - c0) * ((ns - t0) / max(1, t1 - t0))
        return None


def resume_cpu(sampler: CpuSampler, t0: int, kill_ns: int, synced: list[int]) -> dict[str, Any]:
    """The survivor's CPU from the kill until its last resumed client had caught up, per resume.

    `excess`: minus what the same span cost before the kill (traffic start → kill): the openings'
    and replays' share, the steadier figure on a shared machine than the catch-up latency.
    """
    if not synced:
        return {}
    end = max(synced)
    at_t0, at_kill, at_end = sampler.at(t0), sampler.at(kill_ns), sampler.at(end)
    if at_t0 is None or at_kill is None or at_end is None or kill_ns <= t0:
        return {}
    window = (end - kill_ns) / 1e9
    before_cores = (at_kill - at_t0) / ((kill_ns - t0) / 1e9)
    used = at_end - at_kill
    return {
        "window_s": round(window, 2),
        "cores_before_kill": round(before_cores, 3),
        "cores_in_window": round(used / max(window, 1e-9), 3),
        "cpu_ms_per_resume": round(used * 1000 / len(synced), 2),
        "excess_cpu_ms_per_resume": round((used - before_cores * window) * 1000 / len(synced), 2),
    }


def storm(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    size = max(1, args.clients // args.rooms)
    rooms = [size] * args.rooms
    asyncio.run(stack.create({"WS_PING_INTERVAL": str(args.ping_interval), **dict(args.env)}))
    fx = asyncio.run(stack.fixtures(rooms))
    servers = stack.start(2)
    urls = [s.ws_url for s in servers]
    specs = member_specs(rooms, fx, urls)
    senders = sender_specs(fx, urls[0], [args.rate / args.rooms] * args.rooms, args.duration)
    groups = split(specs, args.procs)
    workers = Workers(run_config(args, reconnect=True), [*groups, senders], target=worker_entry)
    killed: dict[str, int] = {}
    sampler = CpuSampler(servers[0].pid)

    def kill_later(t0: int) -> None:
        killed["t0"] = t0
        time.sleep(max(0.0, (t0 + args.kill_after * 1e9 - time.monotonic_ns()) / 1e9))  # the kill's instant
        killed["ns"] = time.monotonic_ns()
        servers[1].kill()
        log("killed the second server (SIGKILL)")

    try:
        connected = connect(workers, args.phase_timeout)
        before = server_figures(servers[0])
        sampler.start()
        wall, host_busy = run_traffic(workers, args, on_start=kill_later)
        res, _targets = drain(workers, stack, fx.room_ids, args.drain_timeout)
        after = server_figures(servers[0])
    finally:
        sampler.stop()
        workers.stop()
    kill_ns = killed["ns"]
    catch_up = [(r["synced_ns"] - kill_ns) / 1e6 for r in res["resumes"] if "synced_ns" in r]
    cpu = after["cpu_seconds"] - before["cpu_seconds"]
    report = {
        "config": {
            "clients": len(specs),
            "rooms": args.rooms,
            "rate": args.rate,
            "duration": args.duration,
            "kill_after": args.kill_after,
            "servers": 2,
        },
        "connect": connected,
        "on_killed_server": sum(1 for s in specs if s["urls"][0].startswith(urls[1])),
        "resumed": len(res["resumes"]),
        "caught_up": len(catch_up),
        "catch_up_ms": summarize(catch_up),
        "reconnect_ms": summarize((r["open_ns"] - kill_ns) / 1e6 for r in res["resumes"]),
        "attempts": dict(Counter(r["attempts"] for r in res["resumes"])),
        "retry_failures": res.get("retry_failures", {}),
        "unresumed": res.get("unresumed", 0),
        "integrity": integrity(res),
        "closes": res.get("closes", {}),
        "pool_timeouts": {
            "close_1011": res.get("closes", {}).get("1011", 0),
            "pool_exhausted_logged": stack.logged("PoolExhausted"),
        },
        "messages": {
            "sent": res.get("sent", 0),
            "acked": res.get("acked", 0),
            "send_failed": res.get("send_failed", 0),
        },
        "survivor_cpu_ms_per_message": round(cpu * 1000 / max(1, res.get("acked", 0)), 2),
        "survivor_cores": round(cpu / max(wall, 1e-9), 3),
        "survivor_resume_cpu": resume_cpu(
            sampler, killed["t0"], kill_ns, [r["synced_ns"] for r in res["resumes"] if "synced_ns" in r]
        ),
        "host_busy_cores": host_busy,
        "errors": res.get("errors", {}),
        "client_cpu_seconds": res.get("cpu_seconds"),
    }
    pool = report["pool_timeouts"]
    report["ok"] = (
        report["integrity"]["all_zero"]
        and report["caught_up"] == report["on_killed_server"]
        and not pool["close_1011"]
        and not pool["pool_exhausted_logged"]
        and not report["unresumed"]
    )
    return report


SCENARIOS = {"bigroom": bigroom, "idle": idle, "storm": storm}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="bigroom", help="bigroom, idle, storm, or several comma-separated")
    p.add_argument("--procs", type=int, default=2, help="generator worker processes (senders get one more)")
    p.add_argument("--members", type=int, default=10000)
    p.add_argument("--small-conns", type=int, default=1000)
    p.add_argument("--small-size", type=int, default=20)
    p.add_argument("--small-rate", type=float, default=50.0)
    p.add_argument(
        "--small-procs", type=int, default=1, help="generator processes of the small rooms' members (bigroom)"
    )
    p.add_argument("--sockets", type=int, default=50000)
    p.add_argument("--room-size", type=int, default=50)
    p.add_argument("--hold", type=float, default=65.0)
    p.add_argument("--settle", type=float, default=3.0)
    p.add_argument("--app-ping", type=float, default=0.0, help="client `ping` frame interval, s (0: none)")
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--rooms", type=int, default=100)
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="msg/s (bigroom: in the big room, default 5; storm: total, default 100)",
    )
    p.add_argument("--duration", type=float, default=None, help="s of sending (bigroom 30, storm 20)")
    p.add_argument("--kill-after", type=float, default=5.0)
    p.add_argument(
        "--ping-interval", type=float, default=30.0, help="WS_PING_INTERVAL of the servers (contract: 30)"
    )
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--connect-timeout", type=float, default=60.0)
    p.add_argument("--phase-timeout", type=float, default=600.0)
    p.add_argument("--drain-timeout", type=float, default=60.0)
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the servers")
    args = p.parse_args(argv)
    args.env = [tuple(item.split("=", 1)) for item in args.env if "=" in item]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.scenario.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        print(f"unknown scenario(s) {unknown}; choose from {sorted(SCENARIOS)}", file=sys.stderr)
        return 2
    sockets = max(args.members + args.small_conns, args.sockets if "idle" in names else 0, args.clients)
    limits = raise_own_limits(sockets)
    out: dict[str, Any] = {
        "host": {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()},
        "nofile": limits,
    }
    with private_services() as services:
        for name in names:
            scenario_args = argparse.Namespace(**vars(args))
            scenario_args.rate = args.rate if args.rate is not None else (5.0 if name == "bigroom" else 100.0)
            scenario_args.duration = (
                args.duration if args.duration is not None else (30.0 if name == "bigroom" else 20.0)
            )
            stack = Stack(services, f"scale_{name}_{uuid.uuid4().hex[:8]}")
            log(f"{name}: starting")
            try:
                out[name] = SCENARIOS[name](scenario_args, stack)
                out[name]["targets"] = check_targets(name, out[name])
            finally:
                stack.stop()
    out["host"]["loadavg_after"] = os.getloadavg()
    out["ok"] = all(out[n]["ok"] for n in names)
    print(json.dumps(out, indent=2))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
