"""Real `andon worker` processes for tests: started as subprocesses, ready when they answer a
Celery ping through the broker, stopped (or SIGKILLed) by process group."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from api.domain.core.db import migrate
from api.domain.core.settings import Settings
from workers.celery_app import create_app

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    """A running worker; its Celery node name is `andon.<pid>@<host>` (see run_worker)."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    client: Any = field(repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def nodename(self) -> str:
        import socket

        return f"andon.{self.proc.pid}@{socket.gethostname()}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def answers_ping(self, timeout: float = 0.5) -> bool:
        try:
            replies = self.client.control.ping(destination=[self.nodename], timeout=timeout)
        except Exception:
            # The broker away or just restarted (a fault test): not answering, ask again.
            time.sleep(0.1)
            return False
        return bool(replies)

    def kill(self) -> None:
        """SIGKILL the worker's whole process group: a crash, no warm shutdown."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        self.client.close()


def client_app(env: dict[str, str]) -> Any:
    """A Celery app configured like the workers of `env` (same broker and key prefix)."""
    return create_app(Settings.from_env(env, dotenv=Path("/nonexistent")))


def start_worker(
    env: dict[str, str],
    *,
    queues: str | None = None,
    concurrency: int = 4,
    nice: int | None = None,
    timeout: float = 45.0,
) -> WorkerProcess:
    """Start `andon worker` with `env` and wait until it answers a ping."""
    full_env = dict(os.environ)
    for key in ("DATABASE_URL", "REDIS_URL", "MEILI_URL"):
        full_env.pop(key, None)
    full_env.update(env)
    log_dir = Path(env.get("ANDON_DATA_DIR", "/tmp")) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "api.cli", "worker", "--concurrency", str(concurrency)]
    if queues:
        args += ["--queues", queues]
    if nice is not None:
        args += ["--nice", str(nice)]
    log_path = log_dir / f"worker-{time.time_ns()}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            args,
            cwd=str(ROOT),
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = WorkerProcess(proc, log_path, env, client_app(env))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            worker.client.close()
            raise RuntimeError(f"worker exited early:\n{worker.log()[-4000:]}")
        if worker.answers_ping():
            return worker
    worker.stop()
    raise RuntimeError(f"worker did not answer a ping within {timeout}s:\n{worker.log()[-4000:]}")


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new database migrated to head (its `postgresql+asyncpg://` URL), dropped afterwards.

    Worker tests use their own: a worker's relay takes up every pending outbox row it finds,
    and rows other tests left behind would queue ahead of the ones under test.
    """
    name = f"andon_wtest_{uuid.uuid4().hex[:10]}"
    admin = admin_url.replace("postgresql+asyncpg://", "postgresql://")

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        migrate(url)
        yield url
    finally:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
