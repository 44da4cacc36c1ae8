"""A private PostgreSQL primary and a streaming replica of it, on free loopback ports.

The primary is initialised with Debian's binaries (`initdb`, `wal_level=replica`); the replica
is a `pg_basebackup -R` copy of it (the `-R` writes `standby.signal` and the
`primary_conninfo`), started as a hot standby that streams the primary's WAL. Both servers are
child processes stopped by PID; the replica can pause and resume its replay, so a test can hold
it behind the primary on purpose.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from api.embedded import _chown_tree, _make_traversable, _run_as
from tests.support.private_services import PrivatePostgres, pg_bin

__all__ = ["PrimaryAndReplica"]


@dataclass
class PrimaryAndReplica:
    primary: PrivatePostgres
    replica: PrivatePostgres

    @classmethod
    def start(cls, timeout: float = 90.0) -> PrimaryAndReplica:
        primary = PrivatePostgres(
            Path(tempfile.mkdtemp(prefix="andon-pg-primary-")),
            options=("wal_level=replica", "max_wal_senders=4", "wal_keep_size=64MB"),
        )
        replica = PrivatePostgres(
            Path(tempfile.mkdtemp(prefix="andon-pg-replica-")), options=("hot_standby=on",)
        )
        pair = cls(primary, replica)
        try:
            primary.init()
            primary.start(timeout)
            pair._base_backup(timeout)
            replica.start(timeout)
            pair.wait_caught_up(timeout)
        except BaseException:
            pair.stop()
            raise
        return pair

    def _base_backup(self, timeout: float) -> None:
        """`pg_basebackup -R` of the primary into the replica's data directory, as the server's user."""
        run_as = _run_as()
        self.replica._as = run_as
        os.chmod(self.replica.workdir, 0o700)
        kwargs: dict[str, object] = {}
        if run_as is not None:
            _make_traversable(self.replica.workdir)
            _chown_tree(self.replica.workdir, run_as)
            kwargs = {"user": run_as[0], "group": run_as[1], "extra_groups": []}
        subprocess.run(
            [
                str(pg_bin() / "pg_basebackup"),
                "-h", "127.0.0.1",
                "-p", str(self.primary.port),
                "-U", "postgres",
                "-D", str(self.replica.pgdata),
                "-R",
                "-X", "stream",
                "--checkpoint=fast",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
            **kwargs,  # type: ignore[arg-type]
        )

    async def primary_lsn(self) -> str:
        conn = await asyncpg.connect(self.primary.admin_url)
        try:
            return str(await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
        finally:
            await conn.close()

    async def replica_sql(self, sql: str) -> object:
        conn = await asyncpg.connect(self.replica.admin_url)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def caught_up(self, timeout: float = 30.0) -> None:
        """Wait (bounded) until the replica has replayed everything the primary has written so far."""
        target = await self.primary_lsn()
        deadline = time.monotonic() + timeout
        while True:
            replayed = await self.replica_sql(
                f"SELECT pg_last_wal_replay_lsn() >= CAST('{target}' AS pg_lsn)"
            )
            if replayed:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"replica did not replay up to {target} within {timeout}s")
            await asyncio.sleep(0.05)

    def wait_caught_up(self, timeout: float) -> None:
        asyncio.run(self.caught_up(timeout))

    async def pause_replay(self) -> None:
        await self.replica_sql("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 30
        while await self.replica_sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise TimeoutError("replica replay did not pause")
            await asyncio.sleep(0.05)

    async def resume_replay(self) -> None:
        await self.replica_sql("SELECT pg_wal_replay_resume()")

    def stop(self) -> None:
        """Stop both servers by PID and remove their files."""
        for server in (self.replica, self.primary):
            try:
                server.stop()
            finally:
                shutil.rmtree(server.workdir, ignore_errors=True)
