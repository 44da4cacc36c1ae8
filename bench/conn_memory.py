"""Memory per room socket, and whether a burst's memory comes back after the sockets close.

Starts a PostgreSQL and a Redis of its own (`tests.support.fault_stack.private_services`) and one
`andon serve` process, makes U users in R rooms, then:

1. `start`: RSS of the server after start-up; `warm`: after a warm-up burst of 50 sockets
   opened and closed (first-use caches, pools);
2. `open`: N room sockets opened at once (all connecting together), each past its `connected`
   frame;
3. `closed`: all N closed by the clients, once the server has seen every close (its socket
   count back to the warm figure, read from /metrics);
4. `later`: after `--settle` more seconds idle;
5. `second_open` / `second_closed`: the same burst again (memory the first burst left behind and
   the second one reuses is the allocator's, not a leak: a leak grows again).

RSS is the server process's VmRSS from /proc. Prints one JSON object (progress on stderr).
`--debug` loads a probe into the server (a `sitecustomize` on PYTHONPATH, nothing in the code
changes) that, on SIGUSR1, writes gc counts of the per-socket classes, glibc's `mallinfo2`, and
the top tracemalloc differences since the warm phase; `--trim-probe` makes the probe call
`malloc_trim(0)` after dumping and report RSS after it.

    python bench/conn_memory.py --sockets 2000 [--debug] [--env MALLOC_ARENA_MAX=2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402

from tests.support.clients import Api, User  # noqa: E402
from tests.support.fault_stack import STACK_SETTINGS, admin_sql, private_services  # noqa: E402
from tests.support.servers import ServerProcess, start_server  # noqa: E402

PROBE = textwrap.dedent(
    '''
    """Memory probe for bench/conn_memory.py (loaded as sitecustomize into `andon serve`)."""
    import ctypes, gc, json, os, signal, sys, tracemalloc

    _OUT = os.environ["ANDON_MEMPROBE_OUT"]
    _TRIM = os.environ.get("ANDON_MEMPROBE_TRIM") == "1"
    _base = []
    if os.environ.get("ANDON_MEMPROBE_TRACE") == "1":
        tracemalloc.start(8)

    class _Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    def _rss():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def _pymalloc():
        """Arenas and blocks from sys._debugmallocstats (it writes to fd 2: capture it)."""
        import tempfile
        with tempfile.TemporaryFile() as tmp:
            saved = os.dup(2)
            os.dup2(tmp.fileno(), 2)
            try:
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
        wanted = ("# arenas allocated current", "# arenas highwater mark", "# bytes in allocated blocks",
                  "# bytes in available blocks", "# bytes lost to pool headers",
                  "Total")
        out = {}
        for line in text.splitlines():
            for key in wanted:
                if line.startswith(key):
                    out[key.strip("# ")] = int(line.rsplit("=", 1)[-1].replace(",", "").strip() or 0)
        return out

    def _dump(signum, frame):
        gc.collect()
        names = ("Connection", "RoomSession", "AndonWebSocketProtocol", "WebSocket", "AuthUser",
                 "RoomState", "Task", "Future")
        counts = dict.fromkeys(names, 0)
        for obj in gc.get_objects():
            t = type(obj)
            n = t.__name__
            if n in counts:
                if n == "Connection":
                    n = f"{t.__module__}.{n}"
                counts[n] = counts.get(n, 0) + 1
        out = {"rss_kib": _rss(), "gc_objects": len(gc.get_objects()), "types": counts,
               "frozen": gc.get_freeze_count(), "pymalloc": _pymalloc()}
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallinfo2.restype = _Mallinfo2
            mi = libc.mallinfo2()
            out["mallinfo2"] = {n: getattr(mi, n) for n, _ in _Mallinfo2._fields_}
        except (OSError, AttributeError):
            libc = None
        if tracemalloc.is_tracing():
            snap = tracemalloc.take_snapshot()
            out["traced_kib"] = tracemalloc.get_traced_memory()[0] // 1024
            if _base:
                top = snap.compare_to(_base[0], "traceback")[:12]
                out["top"] = [
                    {"kib": s.size_diff // 1024, "count": s.count_diff,
                     "where": [f"{fr.filename.rsplit('/', 3)[-1]}:{fr.lineno}" for fr in s.traceback[-4:]]}
                    for s in top
                ]
            else:
                _base.append(snap)
        if _TRIM and libc is not None:
            libc.malloc_trim(0)
            out["rss_after_trim_kib"] = _rss()
        with open(_OUT, "a") as f:
            f.write(json.dumps(out) + "\\n")

    signal.signal(signal.SIGUSR1, _dump)
    '''
)


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def socket_count(server: ServerProcess) -> float:
    """Open room sockets as the server counts them (its gauge on /metrics)."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{server.base_url}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("andon_ws_connections") and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def open_burst(server: ServerProcess, users: list[User], rooms: list[str], n: int) -> list[Any]:
    async def one(i: int) -> Any:
        user, room = users[i % len(users)], rooms[i % len(rooms)]
        ws = await websockets.connect(
            f"{server.ws_url}/ws/{room}", additional_headers=user.headers, open_timeout=60, max_size=2**22
        )
        async with asyncio.timeout(60):
            while json.loads(await ws.recv()).get("type") != "connected":
                pass
        return ws

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def close_burst(socks: list[Any]) -> None:
    await asyncio.gather(*(ws.close() for ws in socks), return_exceptions=True)


async def wait_count(server: ServerProcess, target: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (count := await socket_count(server)) != target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"server counts {count} sockets, expected {target}")
        await asyncio.sleep(0.2)


class Probe:
    def __init__(self, path: Path, pid: int) -> None:
        self.path, self.pid = path, pid

    def dump(self) -> dict[str, Any]:
        before = self.path.read_text().count("\n") if self.path.exists() else 0
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = self.path.read_text().splitlines() if self.path.exists() else []
            if len(lines) > before:
                out: dict[str, Any] = json.loads(lines[-1])
                return out
            time.sleep(0.1)
        raise TimeoutError("probe did not answer")


async def measure(args: argparse.Namespace, server: ServerProcess, database_url: str, probe: Probe | None) -> dict[str, Any]:
    api = Api(server.base_url, database_url)
    try:
        owner = await api.user("owner")
        users = [owner] + [await api.user(f"u{i}") for i in range(1, args.users)]
        rooms = [await api.room_with(owner, *((u, "EDITOR") for u in users[1:])) for _ in range(args.rooms)]
    finally:
        await api.aclose()
    pid = server.pid
    phases: dict[str, Any] = {}

    def mark(name: str) -> None:
        phases[name] = {"rss_kib": rss_kib(pid)}
        if probe is not None:
            phases[name]["probe"] = probe.dump()
        log(name, json.dumps(phases[name])[:400])

    mark("start")
    base_count = await socket_count(server)
    await close_burst(await open_burst(server, users, rooms, 50))
    await wait_count(server, base_count)
    mark("warm")
    for label in ("", "second_"):
        socks = await open_burst(server, users, rooms, args.sockets)
        await wait_count(server, base_count + args.sockets)
        mark(f"{label}open")
        await close_burst(socks)
        del socks
        await wait_count(server, base_count)
        mark(f"{label}closed")
        if not label:
            await asyncio.sleep(args.settle)  # deliberate: memory given back by itself over time?
            mark("later")
    warm, opened, closed = (phases[k]["rss_kib"] for k in ("warm", "open", "closed"))
    return {
        "sockets": args.sockets,
        "env": args.env,
        "rss_kib": {k: v["rss_kib"] for k, v in phases.items()},
        "per_socket_open_kib": round((opened - warm) / args.sockets, 2),
        "retained_after_close_kib": closed - warm,
        "retained_per_socket_kib": round((closed - warm) / args.sockets, 2),
        "retained_later_kib": phases["later"]["rss_kib"] - warm,
        "second_burst_growth_kib": phases["second_closed"]["rss_kib"] - closed,
        "probe": {k: v.get("probe") for k, v in phases.items()} if probe is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rooms", type=int, default=4)
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--debug", action="store_true", help="gc, mallinfo2 and tracemalloc probe")
    parser.add_argument("--trace", action="store_true", help="with --debug: tracemalloc too (slow)")
    parser.add_argument("--trim-probe", action="store_true", help="with --debug: malloc_trim(0) after each dump")
    parser.add_argument("--keep-data", action="store_true", help="keep the server's log and probe output")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.sockets + 1024)), hard))
    with private_services() as services:
        database = "andon_mem"
        asyncio.run(admin_sql(services.pg, f'CREATE DATABASE "{database}" TEMPLATE andon_faults_template'))
        data_dir = Path(tempfile.mkdtemp(prefix="andon-mem-"))
        env = dict(STACK_SETTINGS)
        env.update(
            {
                "DATABASE_URL": services.pg.url(database),
                "REDIS_URL": services.redis.url,
                "ANDON_REDIS_PREFIX": "andonmem",
                "ANDON_DATA_DIR": str(data_dir),
                "LOG_LEVEL": "WARNING",
                "DB_POOL_SIZE": "10",
                "DB_MAX_OVERFLOW": "20",
                "DB_POOL_TIMEOUT": "30",
            }
        )
        for item in args.env:
            name, _, value = item.partition("=")
            env[name] = value
        probe_path = data_dir / "probe.jsonl"
        if args.debug:
            probe_dir = data_dir / "probe"
            probe_dir.mkdir()
            (probe_dir / "sitecustomize.py").write_text(PROBE)
            env["PYTHONPATH"] = f"{probe_dir}:{ROOT}"
            env["ANDON_MEMPROBE_OUT"] = str(probe_path)
            env["ANDON_MEMPROBE_TRACE"] = "1" if args.trace else "0"
            env["ANDON_MEMPROBE_TRIM"] = "1" if args.trim_probe else "0"
        server = start_server(env)
        try:
            probe = Probe(probe_path, server.pid) if args.debug else None
            result = asyncio.run(measure(args, server, env["DATABASE_URL"], probe))
        finally:
            server.stop()
            if not args.keep_data:
                shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
