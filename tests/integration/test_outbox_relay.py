"""The outbox relay against a real database and Redis, with a recording `enqueue` in place of
Celery: what is published, when again, and what a failure leaves behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import text

from api.domain import outbox
from api.domain.core.db import Database, create_engine
from api.domain.core.settings import Settings
from api.domain.outbox import jobs
from api.domain.outbox.job_state import load_for_job, mark_job_done
from api.domain.outbox.relay import OutboxKicker, OutboxRelay, kick_key, wait_for_kick
from api.domain.push import deliveries as push_deliveries
from tests.conftest import ADMIN_URL, REDIS_URL
from tests.support.workers import fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def relay_db_url() -> Iterator[str]:
    # A database of its own: the relay takes every due row it finds.
    with fresh_database(ADMIN_URL) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def db(relay_db_url: str) -> AsyncIterator[Database]:
    database = Database(create_engine(Settings(db_pool_size=4, db_max_overflow=4), relay_db_url))
    async with database.transaction() as uow:
        # Each test starts from an empty outbox.
        await uow.conn.execute(text("TRUNCATE outbox, push_deliveries"))
    try:
        yield database
    finally:
        await database.dispose()


class Recorder:
    """An `enqueue` that records what it is given, or fails when told to."""

    def __init__(self) -> None:
        self.published: list[jobs.Job] = []
        self.fail = False
        self.delay = 0.0

    async def __call__(self, batch: Sequence[jobs.Job]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.published.extend(batch)


async def _add(db: Database, kind: str, payload: dict[str, object] | None = None) -> int:
    async with db.transaction() as uow:
        return await outbox.add(uow.conn, kind, payload or {"room_id": str(uuid.uuid4()), "message_ids": []})


async def _enqueued(db: Database, outbox_id: int) -> tuple[bool, int, bool]:
    async with db.read() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT enqueued_at IS NOT NULL AS q, attempts, done_at IS NOT NULL AS d FROM outbox WHERE outbox_id = :i"
                ),
                {"i": outbox_id},
            )
        ).one()
    return bool(row.q), int(row.attempts), bool(row.d)


def _relay(db: Database, recorder: Recorder, stale: float = 60.0) -> OutboxRelay:
    return OutboxRelay(db, recorder, stale_seconds=stale, claim_timeout=30.0)


async def test_each_due_row_is_published_once_by_job_name_and_queue(db: Database) -> None:
    created = await _add(db, outbox.MESSAGES_CREATED)
    edited = await _add(
        db, outbox.MESSAGE_EDITED, {"room_id": str(uuid.uuid4()), "message_id": str(uuid.uuid4())}
    )
    recorder = Recorder()
    relay = _relay(db, recorder)

    assert await relay.drain() == 3
    assert await relay.drain() == 0

    assert sorted((j.name, j.args, j.queue) for j in recorder.published) == sorted(
        [
            ("mentions.notify_messages", (created,), "mentions"),
            ("index.messages", (created, edited), "index"),
            ("audit.append", (edited,), "audit"),
        ]
    )
    assert await _enqueued(db, created) == (True, 1, False)


async def test_a_failed_publish_leaves_the_row_unsent_for_the_next_pass(db: Database) -> None:
    row = await _add(db, outbox.MESSAGES_CREATED)
    recorder = Recorder()
    recorder.fail = True
    relay = _relay(db, recorder)

    with pytest.raises(ConnectionError):
        await relay.drain()
    assert await _enqueued(db, row) == (False, 0, False)

    recorder.fail = False
    assert await relay.drain() == 2
    assert await _enqueued(db, row) == (True, 1, False)


async def test_a_stale_row_is_sent_again_with_only_its_missing_jobs_then_closes(db: Database) -> None:
    row_id = await _add(db, outbox.MESSAGES_CREATED)
    recorder = Recorder()
    relay = _relay(db, recorder, stale=1.0)
    await relay.drain()
    async with db.transaction() as uow:
        row = await load_for_job(uow.conn, row_id, jobs.NOTIFY_MESSAGES)
        assert row is not None
        await mark_job_done(uow.conn, row, jobs.NOTIFY_MESSAGES)
        # as if the queue message had been lost (a Redis restart) a while ago
        await uow.conn.execute(
            text("UPDATE outbox SET enqueued_at = now() - interval '5 seconds' WHERE outbox_id = :i"),
            {"i": row_id},
        )
    recorder.published.clear()

    assert await relay.drain() == 1
    assert [(j.name, j.args) for j in recorder.published] == [("index.messages", (row_id,))]
    assert await _enqueued(db, row_id) == (True, 2, False)

    async with db.transaction() as uow:
        row = await load_for_job(uow.conn, row_id, jobs.INDEX_MESSAGES)
        assert row is not None and not row.job_done
        await mark_job_done(uow.conn, row, jobs.INDEX_MESSAGES)
        await mark_job_done(uow.conn, row, jobs.INDEX_MESSAGES)  # a repeat changes nothing
        await uow.conn.execute(
            text("UPDATE outbox SET enqueued_at = now() - interval '1 hour' WHERE outbox_id = :i"),
            {"i": row_id},
        )
    assert (await _enqueued(db, row_id))[2] is True
    recorder.published.clear()
    assert await relay.drain() == 0
    async with db.read() as conn:
        done_jobs = (
            await conn.execute(text("SELECT done_jobs FROM outbox WHERE outbox_id = :i"), {"i": row_id})
        ).scalar_one()
    assert sorted(done_jobs) == ["index.messages", "mentions.notify_messages"]


async def test_the_wait_before_sending_again_doubles_with_each_attempt(db: Database) -> None:
    row_id = await _add(db, outbox.MESSAGES_CREATED)
    recorder = Recorder()
    relay = _relay(db, recorder, stale=10.0)
    async with db.transaction() as uow:
        # queued three times already, the last time 30 s ago: 10 s * 2^2 = 40 s have not passed
        await uow.conn.execute(
            text(
                "UPDATE outbox SET attempts = 3, enqueued_at = now() - interval '30 seconds' WHERE outbox_id = :i"
            ),
            {"i": row_id},
        )
    assert await relay.drain() == 0
    async with db.transaction() as uow:
        await uow.conn.execute(
            text("UPDATE outbox SET enqueued_at = now() - interval '41 seconds' WHERE outbox_id = :i"),
            {"i": row_id},
        )
    assert await relay.drain() == 2


async def test_a_row_of_a_kind_without_jobs_is_closed(db: Database) -> None:
    row_id = await _add(db, "room.archived", {"room_id": str(uuid.uuid4())})
    recorder = Recorder()

    assert await _relay(db, recorder).drain() == 0

    assert recorder.published == []
    assert (await _enqueued(db, row_id))[2] is True


async def test_two_relays_draining_at_once_never_publish_a_row_twice(db: Database) -> None:
    rows = [await _add(db, outbox.MESSAGES_CREATED) for _ in range(40)]
    first, second = Recorder(), Recorder()
    first.delay = second.delay = 0.05
    relays = [OutboxRelay(db, r, stale_seconds=60, claim_timeout=30, batch=7) for r in (first, second)]

    await asyncio.gather(*(relay.drain() for relay in relays))

    published = [(j.name, i) for j in first.published + second.published for i in j.args]
    assert sorted(published) == sorted(
        (name, r) for r in rows for name in jobs.jobs_for(outbox.MESSAGES_CREATED)
    )
    assert first.published and second.published  # both took a share


async def _delivery(
    db: Database, status: str, claimed_ago: float | None = None, *, on_wire: bool = False
) -> int:
    async with db.transaction() as uow:
        conn = uow.conn
        user = f"u-{uuid.uuid4().hex[:8]}@example.com"
        room, message = uuid.uuid4(), uuid.uuid4()
        await conn.execute(text("INSERT INTO tr_users (user_id, display_name) VALUES (:u, 'U')"), {"u": user})
        await conn.execute(
            text("INSERT INTO incident_rooms (room_id, title, created_by) VALUES (:r, 'R', :u)"),
            {"r": room, "u": user},
        )
        await conn.execute(
            text(
                "INSERT INTO messages (message_id, room_id, sequence_number, sender_id, message_type, content) "
                "VALUES (:m, :r, 1, :u, 'text', 'hi')"
            ),
            {"m": message, "r": room, "u": user},
        )
        sub = (
            await conn.execute(
                text(
                    "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth) VALUES (:u, :e, 'p', 'a') "
                    "RETURNING subscription_id"
                ),
                {"u": user, "e": f"https://push.example.net/{uuid.uuid4().hex}"},
            )
        ).scalar_one()
        return int(
            (
                await conn.execute(
                    text(
                        "INSERT INTO push_deliveries (message_id, subscription_id, user_id, kind, status, claimed_at, "
                        "enqueued_at, wire_at) "
                        "VALUES (:m, :s, :u, 'mention', :st, now() - make_interval(secs => CAST(:ago AS float8)), "
                        "CAST(:queued AS timestamptz), CASE WHEN :wire THEN now() END) RETURNING delivery_id"
                    ),
                    {
                        "m": message,
                        "s": sub,
                        "u": user,
                        "st": status,
                        "ago": claimed_ago or 0.0,
                        "wire": on_wire,
                        # a claimed delivery was queued when it was claimed; a pending one never yet
                        "queued": None
                        if claimed_ago is None
                        else datetime.now(UTC) - timedelta(seconds=claimed_ago),
                    },
                )
            ).scalar_one()
        )


async def test_planned_pushes_are_queued_once_and_abandoned_claims_taken_over(db: Database) -> None:
    pending = await _delivery(db, "pending")
    abandoned = await _delivery(db, "sending", claimed_ago=120)
    in_progress = await _delivery(db, "sending", claimed_ago=1)
    finished = await _delivery(db, "sent")
    recorder = Recorder()
    relay = _relay(db, recorder)

    await relay.drain()
    await relay.drain()

    queued = [i for j in recorder.published for i in j.args]
    assert sorted(queued) == sorted([pending, abandoned])
    assert {(j.name, j.queue) for j in recorder.published} == {("push.send", "push")}
    assert in_progress not in queued and finished not in queued


async def test_an_abandoned_claim_whose_request_had_left_is_closed_and_never_sent_again(db: Database) -> None:
    # given a worker died after its push request started to leave (wire_at set), and another
    # died after claiming but before sending anything
    sent_maybe = await _delivery(db, "sending", claimed_ago=120, on_wire=True)
    never_left = await _delivery(db, "sending", claimed_ago=120)
    recorder = Recorder()

    # when the relay sweeps, and a worker tries to claim the first one anyway
    await _relay(db, recorder).drain()
    async with db.transaction() as uow:
        claimed = await push_deliveries.claim(uow.conn, sent_maybe, 30.0)

    # then only the one that never left is sent again; the other is closed as interrupted
    queued = [i for j in recorder.published for i in j.args]
    assert queued == [never_left]
    assert claimed is None
    async with db.read() as conn:
        row = (
            await conn.execute(
                text("SELECT status, last_outcome FROM push_deliveries WHERE delivery_id = :d"),
                {"d": sent_maybe},
            )
        ).one()
    assert (row.status, row.last_outcome) == ("failed", push_deliveries.INTERRUPTED)


async def test_a_worker_claiming_an_interrupted_delivery_closes_it_instead_of_sending(db: Database) -> None:
    # given an abandoned claim whose request had left, not yet swept
    delivery = await _delivery(db, "sending", claimed_ago=120, on_wire=True)

    # when a worker's redelivered task claims it
    async with db.transaction() as uow:
        claimed = await push_deliveries.claim(uow.conn, delivery, 30.0)

    # then there is nothing to send and the delivery is closed
    assert claimed is None
    async with db.read() as conn:
        status = (
            await conn.execute(
                text("SELECT status FROM push_deliveries WHERE delivery_id = :d"), {"d": delivery}
            )
        ).scalar_one()
    assert status == "failed"


async def test_forgetting_the_queues_publishes_every_unfinished_row_again_at_once(db: Database) -> None:
    # given rows and a delivery published a moment ago (far from stale), and a finished row
    waiting = await _add(db, outbox.MESSAGES_CREATED)
    finished = await _add(db, outbox.MESSAGES_CREATED)
    pending = await _delivery(db, "pending")
    recorder = Recorder()
    relay = _relay(db, recorder, stale=3600)
    await relay.drain()
    async with db.transaction() as uow:
        for name in jobs.jobs_for(outbox.MESSAGES_CREATED):
            row = await load_for_job(uow.conn, finished, name)
            assert row is not None
            await mark_job_done(uow.conn, row, name)
    recorder.published.clear()

    # when the broker is known to have lost its queues
    assert await relay.forget_enqueued() == (1, 1)
    await relay.drain()

    # then the unfinished ones are published again right away, the finished one is not
    outbox_ids = {i for j in recorder.published if j.name != jobs.PUSH_SEND for i in j.args}
    delivery_ids = [i for j in recorder.published if j.name == jobs.PUSH_SEND for i in j.args]
    assert outbox_ids == {waiting} and delivery_ids == [pending]


async def test_the_kicker_wakes_a_waiting_relay_and_coalesces_bursts() -> None:
    prefix = f"andonkick{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL)
    listener = Redis.from_url(REDIS_URL)
    kicker = OutboxKicker(redis, prefix)
    try:
        waiting = asyncio.create_task(wait_for_kick(listener, prefix, 10))
        for _ in range(50):
            kicker()
        await kicker.aclose()
        assert await asyncio.wait_for(waiting, 10) is True
        # a burst leaves at most one more wake-up behind, never a backlog
        assert await redis.llen(kick_key(prefix)) <= 1
    finally:
        await redis.delete(kick_key(prefix))
        await redis.aclose()
        await listener.aclose()


async def test_with_nothing_to_wake_it_the_wait_ends_after_its_interval() -> None:
    listener = Redis.from_url(REDIS_URL)
    try:
        assert await wait_for_kick(listener, f"andonkick{uuid.uuid4().hex[:8]}", 0.2) is False
    finally:
        await listener.aclose()


async def test_an_idle_wait_longer_than_the_socket_timeout_ends_quietly_and_still_wakes() -> None:
    """redis-py's default socket timeout (5 s) equals the sweep interval: one long BLPOP timed out
    on every idle pass, the relay backed off up to 10 s, and a mention then was pushed late."""
    prefix = f"andonkick{uuid.uuid4().hex[:8]}"
    listener = Redis.from_url(REDIS_URL, socket_timeout=1.5)
    kicker_redis = Redis.from_url(REDIS_URL)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await wait_for_kick(listener, prefix, 3.0) is False  # longer than the socket timeout
        assert loop.time() - started >= 2.9
        waiting = asyncio.create_task(wait_for_kick(listener, prefix, 30.0))
        await asyncio.sleep(2.0)  # idle past the socket timeout before the kick comes
        kicked_at = loop.time()
        await kicker_redis.rpush(kick_key(prefix), 1)
        assert await asyncio.wait_for(waiting, 5) is True
        assert loop.time() - kicked_at < 1.0
    finally:
        await kicker_redis.delete(kick_key(prefix))
        await kicker_redis.aclose()
        await listener.aclose()


async def test_a_delivery_waiting_for_its_retry_is_neither_queued_nor_claimed_early(db: Database) -> None:
    from api.domain.push import deliveries as push_deliveries

    delivery = await _delivery(db, "pending")
    async with db.transaction() as uow:
        await uow.conn.execute(
            text(
                "UPDATE push_deliveries SET next_attempt_at = now() + interval '30 seconds', enqueued_at = now() "
                "WHERE delivery_id = :d"
            ),
            {"d": delivery},
        )
    recorder = Recorder()

    assert await _relay(db, recorder, stale=0.001).drain() == 0
    async with db.transaction() as uow:
        early = await push_deliveries.claim(uow.conn, delivery, 30.0)
    assert isinstance(early, push_deliveries.Busy) and 25 < early.seconds <= 30

    async with db.transaction() as uow:
        await uow.conn.execute(
            text(
                "UPDATE push_deliveries SET next_attempt_at = now() - interval '1 second' WHERE delivery_id = :d"
            ),
            {"d": delivery},
        )
        due = await push_deliveries.claim(uow.conn, delivery, 30.0)
    assert isinstance(due, push_deliveries.ClaimedDelivery) and due.attempts == 1
