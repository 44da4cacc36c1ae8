"""What the task threads of one worker process share: an event loop, the database, Redis.

The domain code is async (SQLAlchemy + asyncpg, redis.asyncio) and Celery's threads pool is
not, so the process runs one asyncio loop in a background thread and every task hands its
coroutines to it (:meth:`WorkerRuntime.run`, always with a timeout). One loop means one
connection pool for the whole process instead of one per thread. Web Push sends are blocking
(`requests`) and run in the task's own thread with a session per thread, so a slow push service
never stalls the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
import requests
from celery import Celery
from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc

from api.domain.core.bus import Bus
from api.domain.core.db import Database, create_engine
from api.domain.core.redis_pool import connect_redis, connect_single
from api.domain.core.services import Services
from api.domain.core.settings import Settings
from api.domain.outbox.relay import OutboxRelay
from api.domain.presence import Presence
from api.domain.push.vapid import VapidKeys, load_or_create_vapid_key
from search.backends import open_search_backend
from search.base import SearchBackend
from workers.broker_watch import BrokerWatch, Heartbeat, held_delivery_tags
from workers.publish import celery_enqueue
from workers.webpush_http import new_push_session

log = logging.getLogger(__name__)

T = TypeVar("T")

# Longest a task waits for one piece of domain work (the database pool times out well before).
DEFAULT_TIMEOUT = 60.0
# A push claim outlives the push timeout by this much before another worker may take it over.
CLAIM_MARGIN = 5.0

_lock = threading.Lock()


class WorkerRuntime:
    """Process-wide resources for tasks; built lazily on first use, closed at worker shutdown."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="andon-worker-loop", daemon=True)
        self._thread.start()
        assert settings.redis_configured
        redis = connect_redis(settings, socket_connect_timeout=5)
        # Celery's broker: the same Redis, or on a Redis Cluster the single Redis beside it
        # (CELERY_BROKER_URL). The broker watch and the heartbeats read and write its keys.
        self.broker_redis = redis
        if settings.redis_cluster_nodes and settings.broker_url:
            self.broker_redis = connect_single(settings.broker_url, settings, socket_connect_timeout=5)
        engine = create_engine(settings)
        # SQL errors would otherwise quote their bound values (message text) into the logs.
        engine.sync_engine.hide_parameters = True
        self.services = Services(
            settings=settings,
            db=Database(engine),
            redis=redis,
            bus=Bus(redis, settings.redis_prefix),
        )
        # Only is_focused is used here; the process id names no presence of this process.
        self.presence = Presence(
            redis,
            settings.redis_prefix,
            f"worker-{os.getpid()}",
            settings.ws_ping_interval + settings.ws_pong_timeout,
        )
        self.claim_timeout = settings.push_timeout + CLAIM_MARGIN
        # The relay publishes through a thread of its own, so tasks queueing many pushes at once
        # never hold up the next outbox row.
        self._relay_publisher = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="andon-relay")
        self.relay = OutboxRelay(
            self.services.db,
            celery_enqueue(app, self._relay_publisher),
            stale_seconds=settings.outbox_stale_seconds,
            claim_timeout=self.claim_timeout,
        )
        # What tasks use to queue the pushes they planned (the loop's default executor).
        self.task_relay = OutboxRelay(
            self.services.db,
            celery_enqueue(app),
            stale_seconds=settings.outbox_stale_seconds,
            claim_timeout=self.claim_timeout,
        )
        self._vapid: VapidKeys | None = None
        self._search: SearchBackend | None = None
        self._search_lock = asyncio.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._relay_task: concurrent.futures.Future[None] | None = None
        self._watch_task: concurrent.futures.Future[None] | None = None
        self._heartbeat: Heartbeat | None = None
        self._heartbeat_task: concurrent.futures.Future[None] | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        """Run `coro` on the shared loop and wait for it (cancelled if it outlasts `timeout`).

        Database and Redis errors come back as :class:`StoreError`, which names the error but
        carries none of its text: drivers put bound values (message text, endpoints) into their
        messages, and Celery logs a failing task's exception.
        """
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"worker operation took longer than {timeout}s") from None
        except (sa_exc.SQLAlchemyError, asyncpg.PostgresError, RedisError, OSError) as exc:
            raise StoreError(_describe(exc)) from None

    @property
    def vapid(self) -> VapidKeys:
        """The VAPID key pair (shared with the API through ANDON_DATA_DIR or configured)."""
        if self._vapid is None:
            with _lock:
                if self._vapid is None:
                    self._vapid = load_or_create_vapid_key(
                        self.settings.data_dir, self.settings.vapid_private_key
                    )
        return self._vapid

    def push_session(self) -> requests.Session:
        """This thread's push session (kept-alive connections to push services)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = new_push_session(allow_private=self.settings.push_allow_private_endpoints)
            self._local.session = session
            with _lock:
                self._sessions.append(session)
        return session

    async def search_backend(self) -> SearchBackend:
        """The search backend, checked ready on first use (call on the loop)."""
        async with self._search_lock:
            if self._search is None:
                backend = open_search_backend(
                    self.services.db.engine, self.settings.meili_url, self.settings.meili_master_key
                )
                await backend.ensure_ready()
                self._search = backend
            return self._search

    def start_relay(self) -> None:
        """Start the outbox relay on the loop (idempotent)."""
        if self._relay_task is None or self._relay_task.done():
            coro = self.relay.run(
                self.services.redis, self.settings.redis_prefix, self.settings.outbox_sweep_seconds
            )
            self._relay_task = asyncio.run_coroutine_threadsafe(coro, self.loop)
            log.info("outbox relay started")

        if self._watch_task is None or self._watch_task.done():
            # Beside the relay: it notices lost queues and dead workers' messages in seconds.
            watch = BrokerWatch(self.broker_redis, self.settings.redis_prefix, self.relay.forget_enqueued)
            self._watch_task = asyncio.run_coroutine_threadsafe(watch.run(), self.loop)

    def start_heartbeat(self, node: str) -> None:
        """Announce this worker and the messages it holds, every second (idempotent)."""
        if self._heartbeat_task is None or self._heartbeat_task.done():
            from celery.worker import state

            self._heartbeat = Heartbeat(
                self.broker_redis,
                self.settings.redis_prefix,
                node,
                lambda: held_delivery_tags(state.requests),
            )
            self._heartbeat_task = asyncio.run_coroutine_threadsafe(self._heartbeat.run(), self.loop)

    def stop_heartbeat(self) -> None:
        """Stop beating and remove the heartbeat (a clean shutdown: kombu restores the rest)."""
        heartbeat, self._heartbeat = self._heartbeat, None
        _stop(self.loop, self._heartbeat_task, "worker heartbeat")
        self._heartbeat_task = None
        if heartbeat is not None:
            try:
                self.run(heartbeat.stop(), timeout=5)
            except Exception:
                log.info("worker heartbeat not removed at shutdown")

    def stop_relay(self) -> None:
        """Stop the relay; a pass in progress is cancelled (its transaction rolls back)."""
        task, self._relay_task = self._relay_task, None
        _stop(self.loop, task, "outbox relay")
        watch, self._watch_task = self._watch_task, None
        _stop(self.loop, watch, "broker watch")

    def close(self) -> None:
        """Release everything (worker shutdown)."""
        self.stop_relay()
        self.stop_heartbeat()

        async def _close() -> None:
            if self._search is not None:
                await self._search.close()
            await self.services.redis.aclose()
            if self.broker_redis is not self.services.redis:
                await self.broker_redis.aclose()
            await self.services.db.dispose()

        try:
            self.run(_close(), timeout=15)
        except Exception:
            log.warning("worker resources did not close cleanly", exc_info=True)
        for session in self._sessions:
            session.close()
        self._relay_publisher.shutdown(wait=False)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def _stop(loop: asyncio.AbstractEventLoop, task: concurrent.futures.Future[None] | None, what: str) -> None:
    if task is None or task.done():
        return
    loop.call_soon_threadsafe(task.cancel)
    try:
        task.result(10)
    except concurrent.futures.CancelledError:
        pass  # What cancelling it asked for.
    except concurrent.futures.TimeoutError:
        log.warning("%s did not stop within 10s; shutting down anyway", what)
    except Exception:
        log.exception("%s ended with an error", what)


class StoreError(RuntimeError):
    """PostgreSQL, Redis or the network failed; the message names the error class only."""


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(exc, "sqlstate", None)
    name = type(orig).__name__ if orig is not None else type(exc).__name__
    return f"{name}" + (f" (SQLSTATE {code})" if code else "")


def get_runtime(app: Celery) -> WorkerRuntime:
    """The app's runtime, built on first use in this process."""
    runtime: WorkerRuntime | None = getattr(app, "andon_runtime", None)
    if runtime is None:
        with _lock:
            runtime = getattr(app, "andon_runtime", None)
            if runtime is None:
                runtime = WorkerRuntime(app, app.andon_settings)  # type: ignore[attr-defined]
                app.andon_runtime = runtime  # type: ignore[attr-defined]
    return runtime


def close_runtime(app: Celery) -> None:
    """Close the app's runtime if one was built."""
    runtime: WorkerRuntime | None = getattr(app, "andon_runtime", None)
    if runtime is not None:
        app.andon_runtime = None  # type: ignore[attr-defined]
        runtime.close()
