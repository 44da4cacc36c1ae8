"""The server side of ``bench/scale_load.py``: a private PostgreSQL and Redis, `andon serve`
processes on them, fixtures written straight into the database, and /proc figures.

The services are ``tests.support.fault_stack.private_services`` (a cluster initialised in a
temporary directory with ``max_connections=200``, a ``redis-server`` without persistence), so a
run neither disturbs nor is disturbed by the machine's own PostgreSQL and Redis, and a server
process can be SIGKILLed. Each scenario gets a fresh database copied from the migrated template
and a Redis key prefix of its own.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(HERE), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from ws_load import read_rss_kib, tree_cpu_seconds  # noqa: E402

from tests.support.fault_stack import TEMPLATE_DB, PrivateServices, admin_sql  # noqa: E402
from tests.support.servers import ServerProcess, start_server  # noqa: E402

# What every scenario's servers run with: the realtime defaults, a rate limit far above one
# person's (the senders are bench users), warnings only in the log (10,000 "websocket opened"
# lines would be measured as server work).
SERVER_ENV = {
    "RATE_LIMIT_PER_SECOND": "100000",
    "RATE_LIMIT_BURST": "100000",
    "LOG_LEVEL": "WARNING",
}


def raise_own_limits(sockets: int) -> dict[str, int]:
    """Open-file limits for this process and the servers and workers it starts (inherited).

    The soft limit goes to the hard one; as root, the hard one too, up to what the sockets of a
    run need (a server holds one descriptor per socket, the generator as many again).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(hard, 2 * sockets + 4096)
    if want > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {"soft": soft, "hard": hard}


@dataclass
class Fixtures:
    room_ids: list[str]
    tokens: list[str]  # tokens[u] signs in user u
    owner_tokens: list[str]  # owner_tokens[r] signs in room r's owner (its sender)


@dataclass
class Stack:
    """A scenario's database, Redis prefix and server processes."""

    services: PrivateServices
    name: str
    env: dict[str, str] = field(default_factory=dict)
    servers: list[ServerProcess] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    async def create(self, extra_env: dict[str, str]) -> None:
        await admin_sql(self.services.pg, f'CREATE DATABASE "{self.name}" TEMPLATE "{TEMPLATE_DB}"')
        self.env = {
            **SERVER_ENV,
            "DATABASE_URL": self.services.pg.url(self.name),
            "REDIS_URL": self.services.redis.url,
            "ANDON_REDIS_PREFIX": self.name,
            "ANDON_DATA_DIR": tempfile.mkdtemp(prefix=f"andon-{self.name}-"),
            **extra_env,
        }

    def start(self, count: int) -> list[ServerProcess]:
        for _ in range(count):
            self.servers.append(start_server(self.env, timeout=120))
        print(f"[scale_load] servers {[s.pid for s in self.servers]}", file=sys.stderr, flush=True)
        return self.servers

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def logged(self, text: str) -> int:
        """Lines of the servers' logs that contain `text` (for example PoolExhausted)."""
        return sum(line.count(text) for s in self.servers for line in s.log().splitlines())

    async def fixtures(self, rooms: list[int]) -> Fixtures:
        """Users, sign-in tokens, rooms and memberships, written with COPY.

        `rooms[r]` is how many members room r has besides its owner; users are numbered across
        rooms (room 0's first, then room 1's…), one user per socket.
        """
        import asyncpg

        from api.domain.auth.credentials import new_token, token_digest

        users = [f"u{i}-{self.name}@bench.andon.test" for i in range(sum(rooms))]
        owners = [f"owner{r}-{self.name}@bench.andon.test" for r in range(len(rooms))]
        tokens = [new_token() for _ in users]
        owner_tokens = [new_token() for _ in owners]
        room_ids = [uuid.uuid4() for _ in rooms]
        expires = datetime.now(UTC) + timedelta(days=1)
        members = [(rid, owners[r], "OWNER") for r, rid in enumerate(room_ids)]
        start = 0
        for r, size in enumerate(rooms):
            members += [(room_ids[r], users[u], "EDITOR") for u in range(start, start + size)]
            start += size
        conn = await asyncpg.connect(self.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "tr_users",
                    records=[(u, f"Member {i}") for i, u in enumerate(users)]
                    + [(o, f"Owner {r}") for r, o in enumerate(owners)],
                    columns=["user_id", "display_name"],
                )
                await conn.copy_records_to_table(
                    "auth_tokens",
                    records=[
                        (token_digest(t), u, expires)
                        for t, u in zip([*tokens, *owner_tokens], [*users, *owners], strict=True)
                    ],
                    columns=["token_hash", "user_id", "expires_at"],
                )
                await conn.copy_records_to_table(
                    "incident_rooms",
                    records=[(rid, f"scale {self.name} #{r}", owners[r]) for r, rid in enumerate(room_ids)],
                    columns=["room_id", "title", "created_by"],
                )
                await conn.copy_records_to_table(
                    "room_members", records=members, columns=["room_id", "user_id", "role"]
                )
        finally:
            await conn.close()
        return Fixtures([str(r) for r in room_ids], tokens, owner_tokens)

    async def last_seqs(self, room_ids: list[str]) -> dict[int, int]:
        """Each room's committed `last_seq`, by room index."""
        import asyncpg

        conn = await asyncpg.connect(self.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            rows = await conn.fetch(
                "SELECT room_id::text AS r, last_seq FROM incident_rooms WHERE room_id = ANY($1::uuid[])",
                room_ids,
            )
        finally:
            await conn.close()
        index = {rid: i for i, rid in enumerate(room_ids)}
        return {index[row["r"]]: int(row["last_seq"]) for row in rows}


def server_figures(server: ServerProcess) -> dict[str, Any]:
    """RSS, CPU seconds, open descriptors and the open-files limit of a server process."""
    pid = server.pid
    limit = None
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                limit = {"soft": int(line.split()[3]), "hard": int(line.split()[4])}
    except (OSError, ValueError, IndexError):
        pass
    try:
        fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        fds = None
    return {
        "rss_kib": read_rss_kib(pid),
        "cpu_seconds": tree_cpu_seconds([pid]),
        "open_fds": fds,
        "nofile": limit,
    }


def run(coro: Any) -> Any:
    return asyncio.run(coro)
