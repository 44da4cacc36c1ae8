"""`create_app(settings)`: the only place that wires services, routes and plugins."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
import socket as socketlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from litestar import Litestar, MediaType, Request, Response, get
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.response import File
from sqlalchemy import exc as sa_exc

from api.domain.core import metrics as metric_values
from api.domain.core.bus import Bus
from api.domain.core.db import Database, PoolExhausted, create_engine
from api.domain.core.errors import DomainError
from api.domain.core.redis_pool import connect_redis
from api.domain.core.replica import Replica
from api.domain.core.services import Services
from api.domain.core.settings import Settings
from api.domain.messages.send import MessageWriter
from api.domain.outbox.relay import OutboxKicker
from api.domain.presence import Presence
from api.domain.webhooks.intake import WebhookIntake
from api.http import (
    auth,
    files,
    health,
    messages,
    metrics,
    push,
    queries,
    reports,
    rooms,
    search,
    urgent,
    webhooks,
)
from api.http.access_log import AccessLogMiddleware, loggable_path
from api.http.deps import note_writes
from api.http.openapi import document_errors
from api.ws.gateway import room_socket
from api.ws.hub import Hub
from api.ws.user_gateway import user_socket
from search.backends import open_search_backend

log = logging.getLogger("andon")

WEB_DIR = Path(__file__).resolve().parent / "webdist"
# Explicit types for what Vite emits (the system's mime table may lack some).
_MEDIA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
}


def _error_response(
    status: int, detail: str, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response({"status_code": status, "detail": detail}, status_code=status, headers=headers)


def _domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return _error_response(exc.http_status, exc.message, headers)


def _pool_exhausted(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    return _error_response(503, "the database is busy; try again", {"Retry-After": "1"})


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    extra = getattr(exc, "extra", None)
    if extra:
        body["extra"] = extra
    return Response(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _database_unreachable(exc: BaseException) -> bool:
    """A failure to reach PostgreSQL (down, restarting, refusing), as opposed to a bug."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    orig = getattr(exc, "orig", None) or exc.__cause__
    return isinstance(
        exc, ConnectionError | asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError
    ) or (orig is not None and orig is not exc and _database_unreachable(orig))


_unreachable_logged = [0.0]


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, sa_exc.TimeoutError | PoolExhausted):
        return _pool_exhausted(request, exc)
    if _database_unreachable(exc):
        # An outage, not a bug: one warning line per burst, no traceback; clients retry.
        now = time.monotonic()
        if now - _unreachable_logged[0] > 10.0:
            _unreachable_logged[0] = now
            log.warning("database unreachable: %s; answering 503", type(exc).__name__)
        return _error_response(503, "the database is unreachable; try again", {"Retry-After": "2"})
    log.exception("unhandled error on %s %s", request.method, loggable_path(request.url.path))
    return _error_response(500, "internal server error")


def _web_file(path: str) -> Path | None:
    if not WEB_DIR.is_dir():
        return None
    candidate = (WEB_DIR / path.lstrip("/")).resolve()
    if WEB_DIR.resolve() not in candidate.parents and candidate != WEB_DIR.resolve():
        return None
    return candidate if candidate.is_file() else None


# The web client's pages: scripts and styles only from this origin (no inline code: Vite emits
# none), sockets only to this origin, images also as blob: (an upload's preview), and the page
# never framed. Everything the PWA does works under it (the end-to-end tests run under it).
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; worker-src 'self'; manifest-src 'self'; font-src 'self'; "
        "media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@get(["/", "/{path:path}"], include_in_schema=False)
async def web_client(path: str = "/") -> Response[Any]:
    """The PWA: static files, with index.html for client-side routes."""
    if path.startswith(("/api/", "/ws/", "/schema")):
        raise NotFoundException("not found")
    found = _web_file(path) if path not in ("", "/") else None
    if found is None:
        index = _web_file("index.html")
        if index is None:
            return Response(
                "<!doctype html><title>Andon</title><p>The web client is not built. Run "
                "<code>npm ci &amp;&amp; npm run build</code> in <code>webclient/</code>.</p>",
                media_type=MediaType.HTML,
                headers=PAGE_SECURITY_HEADERS,
            )
        return File(
            index,
            content_disposition_type="inline",
            media_type=MediaType.HTML,
            headers={"Cache-Control": "no-cache", **PAGE_SECURITY_HEADERS},
        )
    cache = "public, max-age=31536000, immutable" if "/assets/" in str(found) else "no-cache"
    media_type = (
        _MEDIA_TYPES.get(found.suffix.lower())
        or mimetypes.guess_type(found.name)[0]
        or "application/octet-stream"
    )
    return File(
        found,
        content_disposition_type="inline",
        media_type=media_type,
        headers={"Cache-Control": cache, **PAGE_SECURITY_HEADERS},
    )


def build_services(settings: Settings) -> Services:
    """Connections to PostgreSQL and Redis, shared by every request and socket of the process."""
    if not settings.database_url or not settings.redis_configured:
        raise RuntimeError("DATABASE_URL and REDIS_URL (or REDIS_CLUSTER_NODES) must be set (the CLI starts embedded ones)")
    engine = create_engine(settings)
    redis = connect_redis(settings)
    db = Database(engine)
    replica = None
    if settings.database_replica_url:
        replica_engine = create_engine(settings, settings.database_replica_url)
        replica = Replica(db, replica_engine, redis, settings.redis_prefix)
    return Services(
        settings=settings,
        db=db,
        redis=redis,
        bus=Bus(redis, settings.redis_prefix),
        # Wakes the worker's outbox relay after commits (a Redis list; the API never imports Celery).
        outbox_kick=OutboxKicker(redis, settings.redis_prefix),
        replica=replica,
    )


# Every route, REST and WebSocket, then the web client's catch-all last.
ROUTES: list[Any] = [
    auth.login,
    auth.logout,
    auth.me,
    rooms.RoomRoutes,
    webhooks.WebhookRoutes,
    webhooks.deliver,
    messages.history,
    messages.message_versions,
    files.upload,
    queries.my_mentions,
    queries.incident_data,
    queries.incident_data_fields,
    search.search_messages,
    files.download,
    reports.room_report,
    health.healthz,
    health.readyz,
    health.client_config,
    metrics.prometheus_metrics,
    push.vapid_public_key,
    push.SubscriptionRoutes,
    push.NotificationRoutes,
    urgent.acknowledge,
    urgent.UrgentSettingsRoutes,
    urgent.put_urgent_alerts,
    room_socket,
    user_socket,
    web_client,
]

EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: _domain_error,
    PoolExhausted: _pool_exhausted,
    sa_exc.TimeoutError: _pool_exhausted,
    HTTPException: _http_error,
    Exception: _internal_error,
}


def _lifespan(settings: Settings, services: Services | None) -> Any:
    """Start the process's services and hub with the app; stop them (bounded) when it stops."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        svc = services or build_services(settings)
        process_id = f"{socketlib.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        presence = Presence(
            svc.redis, settings.redis_prefix, process_id, settings.ws_ping_interval + settings.ws_pong_timeout
        )
        hub = Hub(svc, presence, MessageWriter(svc), process_id)
        app.state.services = svc
        app.state.presence = presence
        app.state.hub = hub
        app.state.webhook_intake = WebhookIntake(svc, hub.writer)
        app.state.draining = False
        app.state.search_backend = open_search_backend(
            svc.replica.engine if svc.replica is not None else svc.db.engine, settings.meili_url, settings.meili_master_key
        )
        await hub.start()

        async def drain() -> None:
            # SIGTERM (api.cli): /readyz says 503 from now on; the hub closes sockets with 1012.
            app.state.draining = True
            await hub.drain()

        pool_capacity = settings.db_pool_size + settings.db_max_overflow

        def sample_metrics() -> None:
            metric_values.sample_process(hub.queue_lengths(), svc.db.engine.pool, pool_capacity)

        app.state.drain = drain
        app.state.sample_metrics = sample_metrics
        sampler = asyncio.create_task(metric_values.sample_forever(sample_metrics))
        try:
            yield
        finally:
            app.state.draining = True
            sampler.cancel()
            await hub.stop()
            await app.state.search_backend.close()
            metric_values.retire_process()
            if services is None:
                if isinstance(svc.outbox_kick, OutboxKicker):
                    await svc.outbox_kick.aclose()
                await svc.redis.aclose()
                await svc.db.dispose()
                if svc.replica is not None:
                    await svc.replica.engine.dispose()

    return lifespan


def create_app(settings: Settings, services: Services | None = None) -> Litestar:
    """The ASGI application for these settings."""
    document_errors(ROUTES)
    return Litestar(
        route_handlers=ROUTES,
        lifespan=[_lifespan(settings, services)],
        middleware=[AccessLogMiddleware],
        before_send=[note_writes],
        # Logging is ours (api.logs, JSON); Litestar's default config would replace the root handler.
        logging_config=None,
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(title="Andon", version="0.1.0", path="/schema"),
        request_max_body_size=settings.max_upload_bytes + 1024 * 1024,
        debug=False,
    )
