"""`andon serve`: the API and WebSocket server under uvicorn, with what it needs around it.

Migrations first, embedded PostgreSQL and Redis when no URL is configured (and then a worker
process too), a metrics directory shared by the server's processes, and a drain on SIGTERM
before uvicorn closes the sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from api.domain.core.procs import WANTED_OPEN_FILES, pid_alive, raise_open_files_limit
from api.domain.core.settings import Settings, get_settings
from api.embedded import backing_services
from api.logs import configure as configure_logging
from api.logs import dict_config

log = logging.getLogger("andon")

# The collector's thresholds in served processes (see `_settle_heap`): a young-generation pass
# every 10,000 net allocations (CPython: 700; a pass over 10,000 objects takes a few ms), the
# middle one every 20 of those, and a full one after 100 middle ones (and CPython's own rule:
# only once a quarter as many objects as survived the last full pass have been promoted since).
GC_THRESHOLDS = (10_000, 20, 100)

# Upper bound on the app's own drain (SIGTERM) before uvicorn's shutdown takes over.
DRAIN_BOUND_SECONDS = 14.0


def app_factory() -> Any:
    """Uvicorn's factory (one call per worker process): settings come from the environment."""
    from api.app import create_app

    configure_logging(get_settings().log_level)
    app = create_app(get_settings())
    _drain_before_exit(app)
    app.on_startup.append(_settle_heap)
    return app


def _settle_heap() -> None:
    """Move what start-up built (modules, classes, SQLAlchemy metadata) out of the GC's reach.

    A served process holds ~140,000 tracked objects after start-up and adds only ~10,000 for
    100 open sockets. CPython's full (generation 2) collection walks all of them: 50-60 ms on
    this class of machine, an event-loop stall that lands on whatever batch is in flight (one
    such pause was a whole p99 in the closed-loop benchmark). Frozen objects are skipped by
    every collection, so later full collections walk only what the process made since.
    Start-up objects live as long as the process, so nothing collectable is kept by this.
    Only `andon serve` does it: tests build many apps in one process.

    Then fewer, cheaper collections (`GC_THRESHOLDS`): with CPython's default first threshold
    (700 allocations) the objects of a frame still in flight (decoded frames, queued writes, the
    tick's pending runs) are promoted at every step, and full collections follow, each walking
    every socket's and user stream's state: with 1,000 user streams in 50 rooms each, seven
    full collections in 40 s of the user-stream benchmark, one of 349 ms inside its window.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _drain_before_exit(app: Any) -> None:
    """On SIGTERM/SIGINT, run the app's drain (`app.state.drain`) before uvicorn shuts down.

    Left to itself, uvicorn closes the listening socket and fails every open WebSocket at
    once, and only then runs the lifespan shutdown: /readyz could never say 503 and acks of
    sends in flight would be lost with their sockets. uvicorn installs its signal handlers
    before it loads the app (this factory runs inside `Server.serve`), so they are wrapped
    here: the first signal starts the drain, and uvicorn's own handler runs once it is done
    (bounded). A second SIGINT is passed on at once (force quit); a repeated SIGTERM (with
    `--workers`, the supervisor forwards the one the process group already got) is ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    uvicorn_handlers: dict[int, Any] = {int(sig): signal.getsignal(sig) for sig in signals}
    started: list[asyncio.Task[None]] = []

    def pass_on(sig: int) -> None:
        handler = uvicorn_handlers[sig]
        if callable(handler):
            handler(sig, None)
        else:
            signal.signal(sig, handler)
            signal.raise_signal(sig)

    async def drain_then_exit(sig: int) -> None:
        try:
            async with asyncio.timeout(DRAIN_BOUND_SECONDS):
                await app.state.drain()
        except BaseException:
            log.exception("graceful drain did not finish; shutting down anyway")
        finally:
            pass_on(sig)

    def on_signal(sig: int, _frame: Any) -> None:
        if started:
            if sig == signal.SIGINT:
                pass_on(sig)
            return
        drain = getattr(app.state, "drain", None)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if drain is None or loop is None:
            pass_on(sig)  # not started yet: nothing to drain
            return
        log.info("signal %s: draining", signal.Signals(sig).name)
        started.append(loop.create_task(drain_then_exit(sig)))

    for sig in signals:
        signal.signal(sig, on_signal)


def _metrics_dir(settings: Settings) -> tuple[Path, bool]:
    """prometheus_client's multiprocess directory for this `andon serve` (see api.domain.core.metrics).

    Set before any process imports prometheus_client, so every worker process writes its values
    there and a scrape merges them. One directory per host and process: replicas may share
    ANDON_DATA_DIR. Returns the path and whether this command owns it (and removes it at exit).
    """
    explicit = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if explicit:
        path, owned = Path(explicit), False
        path.mkdir(parents=True, exist_ok=True)
        # Values of an earlier run must not add to this one's.
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        host = socket.gethostname()
        base = settings.data_dir.resolve() / "metrics"
        path, owned = base / f"{host}-{os.getpid()}", True
        for old in base.glob(f"{host}-*"):
            pid = old.name.rsplit("-", 1)[-1]
            if old != path and pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path, owned


async def _seed_demo(settings: Settings) -> list[tuple[str, str]]:
    """Demo users and a room; the passwords are stable per data directory."""
    from sqlalchemy import text

    from api.domain.auth.users import do_upsert_user
    from api.domain.core.db import Database, create_engine

    secret_file = settings.data_dir / "demo-password"
    if secret_file.exists():
        password = secret_file.read_text().strip()
    else:
        password = "andon-" + secrets.token_urlsafe(6)
        secret_file.write_text(password)
        os.chmod(secret_file, 0o600)
    users = [
        ("operator@andon.local", "Line Operator", True),
        ("maintenance@andon.local", "Maintenance Team", False),
    ]
    db = Database(create_engine(settings.with_(db_pool_size=1, db_max_overflow=0)))
    try:
        async with db.transaction() as uow:
            for email, name, admin in users:
                await do_upsert_user(uow.conn, email, name, password, admin)
            existing = (
                await uow.conn.execute(
                    text("SELECT room_id FROM incident_rooms WHERE title = 'Line 3 — demo incident'")
                )
            ).first()
            if existing is None:
                room = (
                    await uow.conn.execute(
                        text(
                            "INSERT INTO incident_rooms (room_id, title, description, created_by) VALUES "
                            "(gen_random_uuid(), 'Line 3 — demo incident', 'Temperature alarm on the reflow oven', "
                            "'operator@andon.local') RETURNING room_id"
                        )
                    )
                ).first()
                assert room is not None
                await uow.conn.execute(
                    text(
                        "INSERT INTO room_members (room_id, user_id, role) VALUES (:r, 'operator@andon.local', 'OWNER'), "
                        "(:r, 'maintenance@andon.local', 'EDITOR')"
                    ),
                    {"r": room.room_id},
                )
    finally:
        await db.dispose()
    return [(email, password) for email, _n, _a in users]


def serve(args: argparse.Namespace) -> int:
    """Run `andon serve` until a signal stops it; embedded services and the worker stop with it."""
    if args.host:
        os.environ["ANDON_HOST"] = args.host
    if args.port is not None:
        os.environ["ANDON_PORT"] = str(args.port)
    get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log_level)
    _open_files_limit()
    metrics_path, owns_metrics = _metrics_dir(settings)
    try:
        with backing_services(settings) as backing:
            _serve(args, backing.settings, start_worker=args.with_worker or (backing.embedded and not args.no_worker))
        return 0
    finally:
        if owns_metrics:
            shutil.rmtree(metrics_path, ignore_errors=True)


def _open_files_limit() -> None:
    """Each WebSocket is a file descriptor: raise the soft limit as far as the hard one allows."""
    soft, hard = raise_open_files_limit()
    if soft < WANTED_OPEN_FILES:
        logging.getLogger("andon.serve").warning(
            "open-files limit is %d (hard %d): each process holds fewer than that many connections; "
            "raise the hard limit (ulimit -Hn, LimitNOFILE=, ulimits: nofile) to %d for 50,000",
            soft,
            hard,
            WANTED_OPEN_FILES,
        )


def _serve(args: argparse.Namespace, settings: Settings, start_worker: bool) -> None:
    from api.domain.core.db import migrate

    assert settings.database_url
    migrate(settings.database_url)
    if args.demo:
        creds = asyncio.run(_seed_demo(settings))
        print("\nDemo users (password in", settings.data_dir / "demo-password", "):", file=sys.stderr)
        for email, password in creds:
            print(f"  {email}  /  {password}", file=sys.stderr)
    worker_proc: subprocess.Popen[bytes] | None = None
    if start_worker:
        worker_proc = subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], start_new_session=True)
    try:
        print(f"\nAndon is serving on http://{settings.host}:{settings.port}\n", file=sys.stderr)
        _run_uvicorn(settings, args.workers)
    finally:
        if worker_proc is not None and worker_proc.poll() is None:
            worker_proc.send_signal(signal.SIGTERM)
            try:
                worker_proc.wait(20)
            except subprocess.TimeoutExpired:
                worker_proc.kill()


def _run_uvicorn(settings: Settings, workers: int) -> None:
    import uvicorn

    config = uvicorn.Config(
        "api.cli_serve:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        loop="uvloop" if _has("uvloop") else "asyncio",
        # httptools with header and body timeouts (api/http/protocol.py); h11 bounds only the head.
        http="api.http.protocol:AndonHttpProtocol" if _has("httptools") else "h11",
        h11_max_incomplete_event_size=64 * 1024,
        # Explicit: an idle keep-alive connection is closed after this (HTTP_KEEP_ALIVE_TIMEOUT).
        timeout_keep_alive=max(1, round(settings.http_keep_alive_timeout)),
        # uvicorn's sans-I/O protocol, leaner per socket and with a direct frame path.
        ws="api.ws.protocol:AndonWebSocketProtocol",
        ws_max_size=64 * 1024,
        # Off by default: a zlib context per socket costs ~40 KiB of memory each and every
        # fan-out frame would be compressed once per receiver (WS_COMPRESSION=true enables it).
        ws_per_message_deflate=settings.ws_compression,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_pong_timeout,
        access_log=False,
        # Applied by uvicorn in this process and in each worker process it spawns.
        log_config=dict_config(settings.log_level),
        lifespan="on",
        timeout_graceful_shutdown=10,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown; with a Python handler
    # in place that becomes SystemExit, so the callers' `finally` blocks still stop the children.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run()


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


