"""The `andon` command: serve, worker, migrate, users add, search reindex, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from api.domain.core.procs import pid_alive
from api.domain.core.settings import Settings, SettingsError, get_settings

log = logging.getLogger("andon")

# Upper bound on the app's own drain (SIGTERM) before uvicorn's shutdown takes over.
DRAIN_BOUND_SECONDS = 14.0


def setup_logging(level: str = "INFO") -> None:
    from api.logs import configure

    configure(level)


def log_config(level: str) -> dict[str, Any]:
    from api.logs import dict_config

    return dict_config(level)


def _app_factory() -> Any:
    """Uvicorn's factory (one call per worker process): settings come from the environment."""
    from api.app import create_app

    setup_logging(get_settings().log_level)
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
    """
    import gc

    gc.collect()
    gc.freeze()


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


def _with_embedded(settings: Settings, need_db: bool = True, need_redis: bool = True) -> tuple[Settings, Any]:
    """Start embedded PostgreSQL/Redis where no URL is configured; export the URLs for children."""
    from api.embedded import EmbeddedServices

    embedded = None
    if (need_db and not settings.database_url) or (need_redis and not settings.redis_url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        embedded = EmbeddedServices(settings.data_dir)
        if need_db and not settings.database_url:
            url = embedded.start_postgres()
            os.environ["DATABASE_URL"] = url
            settings = settings.with_(database_url=url)
            print("Embedded PostgreSQL running under", settings.data_dir / "postgres", file=sys.stderr)
        if need_redis and not settings.redis_url:
            url = embedded.start_redis()
            os.environ["REDIS_URL"] = url
            settings = settings.with_(redis_url=url)
            print("Embedded Redis running under", settings.data_dir / "redis", file=sys.stderr)
        get_settings.cache_clear()
    return settings, embedded


def _migrate(settings: Settings) -> None:
    from api.domain.core.db import migrate

    assert settings.database_url
    migrate(settings.database_url)


async def _add_user(
    settings: Settings, email: str, name: str, password: str | None, admin: bool
) -> dict[str, Any]:
    from api.domain.auth.users import do_upsert_user
    from api.domain.core.db import Database, create_engine

    db = Database(create_engine(settings.with_(db_pool_size=1, db_max_overflow=0)))
    try:
        async with db.transaction() as uow:
            return await do_upsert_user(uow.conn, email, name, password, admin)
    finally:
        await db.dispose()


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


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    if args.host:
        os.environ["ANDON_HOST"] = args.host
    if args.port is not None:
        os.environ["ANDON_PORT"] = str(args.port)
    get_settings.cache_clear()
    settings = get_settings()
    setup_logging(settings.log_level)
    metrics_path, owns_metrics = _metrics_dir(settings)
    settings, embedded = _with_embedded(settings)
    worker_proc: subprocess.Popen[bytes] | None = None
    try:
        _migrate(settings)
        if args.demo:
            creds = asyncio.run(_seed_demo(settings))
            print("\nDemo users (password in", settings.data_dir / "demo-password", "):", file=sys.stderr)
            for email, password in creds:
                print(f"  {email}  /  {password}", file=sys.stderr)
        if args.with_worker or (embedded is not None and not args.no_worker):
            worker_proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "worker"], start_new_session=True
            )
        print(f"\nAndon is serving on http://{settings.host}:{settings.port}\n", file=sys.stderr)
        config = uvicorn.Config(
            "api.cli:_app_factory",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=args.workers,
            loop="uvloop" if _has("uvloop") else "asyncio",
            http="httptools" if _has("httptools") else "h11",
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
            log_config=log_config(settings.log_level),
            lifespan="on",
            timeout_graceful_shutdown=10,
            backlog=4096,
        )
        server = uvicorn.Server(config)
        # uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown; with a Python handler
        # in place that becomes SystemExit, so the `finally` below still stops the children.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        signal.signal(signal.SIGINT, _exit_on_signal)
        if args.workers > 1:
            from uvicorn.supervisors import Multiprocess

            sock = config.bind_socket()
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run()
        return 0
    finally:
        if worker_proc is not None and worker_proc.poll() is None:
            worker_proc.send_signal(signal.SIGTERM)
            try:
                worker_proc.wait(20)
            except subprocess.TimeoutExpired:
                worker_proc.kill()
        if embedded is not None:
            embedded.stop()
        if owns_metrics:
            shutil.rmtree(metrics_path, ignore_errors=True)


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def cmd_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    setup_logging(settings.log_level)
    if not 0 <= args.nice <= 19:
        print("--nice must be between 0 and 19", file=sys.stderr)
        return 2
    if args.nice:
        # Before any thread exists: Linux keeps a niceness per thread and new threads inherit
        # their creator's, so every Celery pool thread runs at this priority.
        os.nice(args.nice)
    settings, embedded = _with_embedded(settings)
    try:
        from workers.celery_app import run_worker

        return run_worker(settings, queues=args.queues, concurrency=args.concurrency)
    finally:
        if embedded is not None:
            embedded.stop()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    setup_logging(settings.log_level)
    settings, embedded = _with_embedded(settings, need_redis=False)
    try:
        _migrate(settings)
        print("database is at the latest revision", file=sys.stderr)
        return 0
    finally:
        if embedded is not None:
            embedded.stop()


def cmd_users_add(args: argparse.Namespace) -> int:
    settings = get_settings()
    setup_logging("WARNING")
    settings, embedded = _with_embedded(settings, need_redis=False)
    try:
        _migrate(settings)
        password = args.password
        generated = False
        if password is None:
            if sys.stdin.isatty():
                password = getpass.getpass("Password (at least 8 characters): ")
                if getpass.getpass("Repeat: ") != password:
                    print("passwords differ", file=sys.stderr)
                    return 2
            else:
                password = secrets.token_urlsafe(12)
                generated = True
        from api.domain.core.errors import DomainError

        try:
            user = asyncio.run(_add_user(settings, args.email, args.name, password, args.admin))
        except DomainError as err:
            print(f"error: {err.message}", file=sys.stderr)
            return 2
        print(f"user {user['user_id']} ({user['display_name']}){' admin' if user['is_admin'] else ''} saved")
        if generated:
            print(f"generated password (shown once): {password}")
        return 0
    finally:
        if embedded is not None:
            embedded.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="andon", description="Realtime chat for production-incident rooms")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API and WebSocket server")
    serve.add_argument("--host", default=None, help="bind address (ANDON_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (ANDON_PORT, default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="server processes sharing rooms through Redis")
    serve.add_argument(
        "--demo", action="store_true", help="create demo users and a room, and print how to sign in"
    )
    serve.add_argument("--with-worker", action="store_true", help="also start a side-effect worker process")
    serve.add_argument("--no-worker", action="store_true", help="do not start a worker in embedded mode")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a Celery worker for the side-effect queues")
    worker.add_argument("--queues", default="push,index,mentions,audit,outbox", help="comma-separated queues")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument(
        "--nice",
        type=int,
        default=10,
        help="CPU niceness to add (0-19) before the worker starts: on a shared host the realtime "
        "path keeps priority over side effects",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply the database migrations")
    migrate.set_defaults(func=cmd_migrate)

    users = sub.add_parser("users", help="manage users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="create or update a user")
    add.add_argument("email")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument(
        "--password", default=None, help="at least 8 characters; asked for or generated when absent"
    )
    add.add_argument("--admin", action="store_true", help="system admin (OWNER rights in every room)")
    add.set_defaults(func=cmd_users_add)

    _extra_commands(sub)
    return parser


def _extra_commands(sub: Any) -> None:
    """Commands contributed by the search and workers packages, when present."""
    try:
        from api.cli_extra import register
    except ImportError:
        return
    register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
