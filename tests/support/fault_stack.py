"""Two `andon serve` processes and an `andon worker` on a PostgreSQL and a Redis of their own
(`tests.support.private_services`), for the fault tests and the fault soak.

`private_services()` creates the cluster and Redis and migrates a template database once (with
`andon migrate`); `fault_stack(services)` gives one run a fresh copy of it, a fresh Redis key
prefix and the processes, and stops every process by PID when the block ends, however it ends,
bringing the private services back up if a run left one down.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from tests.support.private_services import PrivatePostgres, PrivateRedis
from tests.support.servers import ROOT, ServerProcess, start_server
from tests.support.workers import WorkerProcess, start_worker

TEMPLATE_DB = "andon_faults_template"

# As the worker tests': pushes time out and claims expire in seconds; small pools.
STACK_SETTINGS = {
    "PUSH_TIMEOUT": "2",
    "OUTBOX_SWEEP_SECONDS": "0.5",
    "OUTBOX_STALE_SECONDS": "10",
    "WORKER_VISIBILITY_TIMEOUT": "30",
    "PUSH_ALLOW_PRIVATE_ENDPOINTS": "true",
    "RATE_LIMIT_PER_SECOND": "1000",
    "RATE_LIMIT_BURST": "1000",
    "LOG_LEVEL": "INFO",
    "DB_POOL_SIZE": "4",
    "DB_MAX_OVERFLOW": "8",
    # A send during an outage fails in seconds, not after the default 10 s pool wait.
    "DB_POOL_TIMEOUT": "3",
}


@dataclass
class PrivateServices:
    pg: PrivatePostgres
    redis: PrivateRedis

    def ensure_running(self) -> None:
        if not self.pg.running:
            self.pg.start()
        if not self.redis.running:
            self.redis.start()


async def admin_sql(pg: PrivatePostgres, sql: str) -> None:
    conn = await asyncpg.connect(pg.admin_url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def private_services() -> Iterator[PrivateServices]:
    """A private PostgreSQL cluster and Redis, with a template database migrated by `andon migrate`."""
    pg = PrivatePostgres.create()
    redis = PrivateRedis.create()
    try:
        pg.start()
        redis.start()
        asyncio.run(admin_sql(pg, f'CREATE DATABASE "{TEMPLATE_DB}"'))
        env = dict(os.environ, DATABASE_URL=pg.url(TEMPLATE_DB))
        for key in ("REDIS_URL", "MEILI_URL"):
            env.pop(key, None)
        subprocess.run(
            [sys.executable, "-m", "api.cli", "migrate"],
            cwd=str(ROOT),
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield PrivateServices(pg, redis)
    finally:
        try:
            redis.destroy()
        finally:
            pg.destroy()


@dataclass
class FaultStack:
    """Two API processes and a worker on the private services, with a database of their own."""

    services: PrivateServices
    servers: list[ServerProcess]
    worker: WorkerProcess
    env: dict[str, str]
    extra: list[ServerProcess | WorkerProcess] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def ws_bases(self) -> list[str]:
        return [s.ws_url for s in self.servers]

    def start_extra_worker(self, concurrency: int = 2) -> WorkerProcess:
        worker = start_worker(self.env, concurrency=concurrency)
        self.extra.append(worker)
        return worker

    def restart_server(self, index: int) -> ServerProcess:
        """A new process on the same port in place of `servers[index]` (after a kill)."""
        old = self.servers[index]
        old.stop()
        server = start_server(self.env, port=old.port)
        self.extra.append(old)
        self.servers[index] = server
        return server

    def replace_worker(self) -> WorkerProcess:
        old = self.worker
        old.kill()
        self.extra.append(old)
        self.worker = start_worker(self.env, concurrency=2)
        return self.worker

    def assert_alive(self, *, except_pids: tuple[int, ...] = ()) -> None:
        """No process died: each is still the one started for the run."""
        procs: list[ServerProcess | WorkerProcess] = [*self.servers, self.worker, *self.extra]
        for proc in procs:
            if proc.pid in except_pids:
                continue
            assert proc.proc.poll() is None, f"process {proc.pid} exited:\n{proc.log()[-3000:]}"

    def all_processes(self) -> list[ServerProcess | WorkerProcess]:
        return [*self.servers, self.worker, *self.extra]


@contextmanager
def fault_stack(
    services: PrivateServices, data_dir: Path | None = None, *, worker_concurrency: int = 2
) -> Iterator[FaultStack]:
    services.ensure_running()
    owned_dir = data_dir is None
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="andon-faults-data-"))
    database = f"andon_faults_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin_sql(services.pg, f'CREATE DATABASE "{database}" TEMPLATE "{TEMPLATE_DB}"'))
    env = dict(STACK_SETTINGS)
    env.update(
        {
            "DATABASE_URL": services.pg.url(database),
            "REDIS_URL": services.redis.url,
            "ANDON_REDIS_PREFIX": f"andonf{uuid.uuid4().hex[:8]}",
            "ANDON_DATA_DIR": str(data_dir),
        }
    )
    started: list[ServerProcess | WorkerProcess] = []
    stack: FaultStack | None = None
    try:
        # Side by side: each takes seconds on a busy machine.
        with ThreadPoolExecutor(3) as pool:
            server_futures = [pool.submit(start_server, env) for _ in range(2)]
            worker_future = pool.submit(start_worker, env, concurrency=worker_concurrency)
            errors: list[BaseException] = []
            servers: list[ServerProcess] = []
            for future in server_futures:
                try:
                    servers.append(future.result())
                except BaseException as exc:
                    errors.append(exc)
            started.extend(servers)
            try:
                worker = worker_future.result()
                started.append(worker)
            except BaseException as exc:
                errors.append(exc)
            if errors:
                raise errors[0]
        stack = FaultStack(services, servers, worker, env)
        yield stack
    finally:
        if stack is not None:
            started = stack.all_processes()
        for proc in started:
            proc.stop()
        services.ensure_running()
        asyncio.run(admin_sql(services.pg, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        if owned_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


async def ready_status(server: ServerProcess) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        try:
            return (await http.get(f"{server.base_url}/readyz")).status_code
        except httpx.HTTPError:
            return 0
