"""Reads from a streaming replica, and read-your-writes while the replica's replay is paused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import text

from api.domain.core.db import Database, create_engine
from api.domain.core.replica import Replica
from api.domain.core.settings import Settings
from tests.conftest import redis_url
from tests.replica.conftest import DATABASE
from tests.support.clients import Api
from tests.support.pg_replica import PrimaryAndReplica


@pytest_asyncio.fixture
async def replica_api(replica_server, pg_pair: PrimaryAndReplica) -> AsyncIterator[Api]:
    server = replica_server()
    client = Api(server.base_url, pg_pair.primary.url(DATABASE))
    try:
        yield client
    finally:
        await client.aclose()
        await pg_pair.resume_replay()


def _contents(page: dict) -> list[object]:
    return [m["content"] for m in page["messages"]]


async def test_reads_come_from_the_replica_and_a_writer_reads_their_own_writes(
    replica_api: Api, pg_pair: PrimaryAndReplica
) -> None:
    api = replica_api
    writer, reader = await api.user("writer"), await api.user("reader")
    room_id = await api.room_with(writer, (reader, "EDITOR"))
    ws = await api.connect(writer, room_id)
    await ws.send_message("before the pause")
    await pg_pair.caught_up()
    await pg_pair.pause_replay()

    ack = await ws.send_message("while the replica is paused")
    data = await ws.send_message({"pressure_bar": 7.5}, message_type="incident_data")
    # The writer's reads find their writes: the replica is behind them, so the primary answers.
    assert "while the replica is paused" in _contents(await api.history(writer, room_id))
    r = await api.http.get(
        f"/api/rooms/{room_id}/incident-data", params={"field": "pressure_bar"}, headers=writer.headers
    )
    assert r.status_code == 200 and [p["message_id"] for p in r.json()["points"]] == [data["message_id"]]
    # Someone who wrote nothing reads the (paused) replica: the page stops before the new message.
    seen = _contents(await api.history(reader, room_id))
    assert "before the pause" in seen and "while the replica is paused" not in seen
    r = await api.http.get(
        f"/api/rooms/{room_id}/incident-data", params={"field": "pressure_bar"}, headers=reader.headers
    )
    assert r.status_code == 200 and r.json()["points"] == []

    await pg_pair.resume_replay()
    await pg_pair.caught_up()
    page = await api.history(reader, room_id)
    assert max(m["sequence_number"] for m in page["messages"]) == data["sequence_number"]
    assert ack["sequence_number"] in {m["sequence_number"] for m in page["messages"]}
    assert "while the replica is paused" in _contents(page)
    await ws.close()


async def test_a_rest_write_remembers_its_position(
    replica_api: Api, pg_pair: PrimaryAndReplica, redis_prefix: str
) -> None:
    """A successful REST write by a signed-in user stores the primary's WAL position for them."""
    api = replica_api
    owner = await api.user("owner")
    redis = Redis.from_url(redis_url())
    try:
        key = f"{redis_prefix}:lsn:{{{owner.user_id}}}"
        assert await redis.get(key) is None
        await api.room(owner)
        position = await redis.get(key)
        assert position is not None
        assert await pg_pair.replica_sql(f"SELECT CAST('{position.decode()}' AS pg_lsn) > '0/0'")
    finally:
        await redis.aclose()


async def test_a_server_that_is_not_a_replica_is_never_read_as_one(
    pg_pair: PrimaryAndReplica, redis_prefix: str
) -> None:
    """DATABASE_REPLICA_URL pointing at a primary (not in recovery): every read falls back to the primary."""
    settings = Settings(db_pool_size=2, db_max_overflow=0)
    db = Database(create_engine(settings, pg_pair.primary.url(DATABASE)))
    wrong = create_engine(settings, pg_pair.primary.url(DATABASE))
    good = create_engine(settings, pg_pair.replica.url(DATABASE))
    redis = Redis.from_url(redis_url())
    try:
        for engine, in_recovery in ((wrong, False), (good, True)):
            replica = Replica(db, engine, redis, redis_prefix)
            async with replica.read(None) as conn:
                assert (await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is in_recovery
    finally:
        await redis.aclose()
        await wrong.dispose()
        await good.dispose()
        await db.dispose()


async def test_the_replica_serves_a_writer_once_it_has_replayed_their_write(
    pg_pair: PrimaryAndReplica, redis_prefix: str
) -> None:
    """Routing by position: behind the user's write → primary; caught up → replica (no error path)."""
    settings = Settings(db_pool_size=2, db_max_overflow=0)
    db = Database(create_engine(settings, pg_pair.primary.url(DATABASE)))
    engine = create_engine(settings, pg_pair.replica.url(DATABASE))
    redis = Redis.from_url(redis_url())
    replica = Replica(db, engine, redis, redis_prefix)
    warnings: list[BaseException] = []
    replica._warn = warnings.append  # type: ignore[method-assign]
    try:
        await pg_pair.pause_replay()
        async with db.transaction() as uow:
            await uow.conn.execute(text("CREATE TABLE IF NOT EXISTS ryw_probe (n int)"))
            await uow.conn.execute(text("INSERT INTO ryw_probe VALUES (1)"))
        await replica.note_write(["writer"])
        assert await replica._replica_connection("writer") is None
        conn = await replica._replica_connection("reader")
        assert conn is not None
        await conn.close()
        await pg_pair.resume_replay()
        await pg_pair.caught_up()
        conn = await replica._replica_connection("writer")
        assert conn is not None
        assert (await conn.execute(text("SELECT count(*) FROM ryw_probe"))).scalar_one() == 1
        await conn.close()
        assert warnings == []
    finally:
        await pg_pair.resume_replay()
        await redis.aclose()
        await engine.dispose()
        await db.dispose()
