"""Typed settings, read from the environment (and a `.env` file) once at start-up.

Nothing reads the environment at import time: call :func:`get_settings` (cached) or build
:class:`Settings` explicitly with :meth:`Settings.from_env` (tests do, with overrides).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

_N = TypeVar("_N", int, float)


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


def _read_dotenv(path: Path) -> dict[str, str]:
    """Parse a minimal `.env` file: KEY=VALUE lines, `#` comments, optional quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _number(env: dict[str, str], key: str, kind: type[_N], what: str, minimum: _N | None) -> _N | None:
    """`env[key]` read as `kind` (None when unset or empty), at least `minimum`."""
    raw = env.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{key} must be {what}, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise SettingsError(f"{key} must be >= {minimum}, got {value}")
    return value


def _int(env: dict[str, str], key: str, default: int, minimum: int | None = None) -> int:
    value = _number(env, key, int, "an integer", minimum)
    return default if value is None else value


def _float(env: dict[str, str], key: str, default: float, minimum: float | None = None) -> float:
    value = _number(env, key, float, "a number", minimum)
    return default if value is None else value


def _tick_ms(env: dict[str, str]) -> int:
    value = _int(env, "USER_STREAM_TICK_MS", 10, 0)
    if value > 1000:
        raise SettingsError(f"USER_STREAM_TICK_MS must be <= 1000, got {value}")
    return value


def _bool(env: dict[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{key} must be true or false, got {raw!r}")


def _opt(env: dict[str, str], key: str) -> str | None:
    raw = env.get(key)
    return raw if raw else None


@dataclass(frozen=True, slots=True)
class Settings:
    """Every variable of CONTRACT §1, plus a few documented extensions."""

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    redis_url: str | None = None
    # Redis Cluster instead of one Redis (docs/deployment.md): seed nodes, host:port each. The
    # Celery broker then needs CELERY_BROKER_URL (one Redis: kombu has no cluster transport).
    redis_cluster_nodes: tuple[str, ...] = ()
    celery_broker_url: str | None = None
    # A streaming replica for history, search, mentions and incident data (docs/deployment.md).
    database_replica_url: str | None = None
    meili_url: str | None = None
    meili_master_key: str | None = None
    data_dir: Path = Path("./var")
    db_pool_size: int = 20
    db_max_overflow: int = 30
    db_pool_timeout: float = 10.0
    db_pool_recycle: int = 1800
    redis_max_connections: int = 128
    redis_pool_timeout: float = 10.0
    ws_ping_interval: float = 30.0
    ws_pong_timeout: float = 10.0
    edit_window_seconds: int = 900
    typing_timeout: float = 3.0
    # Large rooms (docs/big-rooms.md): above this many online members, `presence` and `connected`
    # carry a sample of `online` plus `online_count`, refreshed at most every
    # `presence_large_interval` seconds, and `user_joined`/`user_left` are not broadcast.
    presence_list_max: int = 100
    presence_large_interval: float = 1.0
    rate_limit_per_second: float = 10.0
    rate_limit_burst: int = 30
    # Sign-in throttle (api.domain.auth.throttle): failed attempts per window.
    login_failures_per_account: int = 10
    login_failures_per_address: int = 100
    login_window_seconds: int = 300
    # Incoming webhooks (api.domain.webhooks): deliveries per webhook (Redis buckets shared by
    # every process), and how long an identical delivery counts as a retry of the first.
    webhook_rate_per_second: float = 1.0
    webhook_rate_burst: int = 20
    webhook_dedupe_seconds: int = 3600
    token_ttl_hours: float = 720.0
    allowed_origins: tuple[str, ...] = ()
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:admin@localhost"
    display_timezone: str = "Asia/Taipei"
    file_storage: str = "local"
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    max_upload_bytes: int = 20 * 1024 * 1024
    push_allow_private_endpoints: bool = False
    # Extensions (documented in README): a namespace for Redis keys and channels, so
    # several deployments or test runs can share one Redis server.
    redis_prefix: str = "andon"
    # Outgoing queue bound per WebSocket connection (frames) before it is closed with 1013.
    ws_send_queue_max: int = 1000
    # Sockets past the upgrade that may be signing in and opening (database and Redis work) at
    # once per process; a burst queues here instead of growing every pool and the heap with it.
    ws_setup_concurrency: int = 32
    # Database work of sockets signing in, opening rooms and replaying (`since`, `sync`) at once
    # per process; 0: half the pool (`ws_db_slots`). A resume storm queues here, not in the pool.
    ws_db_concurrency: int = 0
    # User streams (`/ws`): a room's activity is gathered for this many milliseconds and each
    # stream gets one `room_activity` per room with the latest state (0: at the end of the
    # event-loop turn that delivered it). See api/ws/user_stream_tick.py.
    user_stream_tick_ms: int = 10
    ws_compression: bool = False
    # Slow or idle HTTP clients (api/http/protocol.py): seconds for a request's headers to
    # arrive, seconds a request body may stall between two reads, seconds an idle keep-alive
    # connection stays open.
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_keep_alive_timeout: float = 5.0
    metrics_token: str | None = None
    log_level: str = "INFO"
    # Workers (docs/workers.md): the bound on one Web Push exchange; how often the outbox relay
    # sweeps without a wake-up; after how long an enqueued but unfinished outbox row is sent
    # again; and after how long the broker hands an unacknowledged task (its worker died) to
    # another worker. The last must exceed any task's run time plus its retry countdown.
    push_timeout: float = 10.0
    outbox_sweep_seconds: float = 5.0
    outbox_stale_seconds: float = 120.0
    worker_visibility_timeout: float = 900.0
    # Urgent pages (docs/alerts.md): a room's default repeat interval, the shortest one a room
    # may set, the default number of repeats after the first notification, and the most a room
    # may set.
    urgent_repeat_seconds: int = 120
    urgent_min_repeat_seconds: int = 60
    urgent_max_repeats: int = 5
    urgent_max_repeats_limit: int = 30

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, dotenv: Path | None = None, **overrides: Any
    ) -> Settings:
        """Build settings from `environ` (default: os.environ) over a `.env` file.

        Long on purpose: one line per setting, each with its variable name, default and bound in
        one place, so the README's settings table can be checked against it line by line.
        """
        env: dict[str, str] = {}
        env.update(_read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env"))
        env.update(os.environ if environ is None else environ)
        origins = tuple(o.strip().rstrip("/") for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip())
        storage = env.get("FILE_STORAGE", "local") or "local"
        if storage not in {"local", "s3"}:
            raise SettingsError(f"FILE_STORAGE must be 'local' or 's3', got {storage!r}")
        settings = cls(
            host=env.get("ANDON_HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "ANDON_PORT", 8000, 0),
            database_url=_opt(env, "DATABASE_URL"),
            redis_url=_opt(env, "REDIS_URL"),
            redis_cluster_nodes=_cluster_nodes(env.get("REDIS_CLUSTER_NODES", "")),
            celery_broker_url=_opt(env, "CELERY_BROKER_URL"),
            database_replica_url=_opt(env, "DATABASE_REPLICA_URL"),
            meili_url=_opt(env, "MEILI_URL"),
            meili_master_key=_opt(env, "MEILI_MASTER_KEY"),
            data_dir=Path(env.get("ANDON_DATA_DIR", "./var") or "./var"),
            db_pool_size=_int(env, "DB_POOL_SIZE", 20, 1),
            db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 30, 0),
            db_pool_timeout=_float(env, "DB_POOL_TIMEOUT", 10.0, 0),
            db_pool_recycle=_int(env, "DB_POOL_RECYCLE", 1800, -1),
            redis_max_connections=_int(env, "REDIS_MAX_CONNECTIONS", 128, 2),
            redis_pool_timeout=_float(env, "REDIS_POOL_TIMEOUT", 10.0, 0),
            ws_ping_interval=_float(env, "WS_PING_INTERVAL", 30.0, 0.05),
            ws_pong_timeout=_float(env, "WS_PONG_TIMEOUT", 10.0, 0.05),
            edit_window_seconds=_int(env, "EDIT_WINDOW_SECONDS", 900, 0),
            typing_timeout=_float(env, "TYPING_TIMEOUT", 3.0, 0.01),
            presence_list_max=_int(env, "PRESENCE_LIST_MAX", 100, 1),
            presence_large_interval=_float(env, "PRESENCE_LARGE_INTERVAL", 1.0, 0.01),
            rate_limit_per_second=_float(env, "RATE_LIMIT_PER_SECOND", 10.0, 0.001),
            rate_limit_burst=_int(env, "RATE_LIMIT_BURST", 30, 1),
            login_failures_per_account=_int(env, "LOGIN_FAILURES_PER_ACCOUNT", 10, 1),
            login_failures_per_address=_int(env, "LOGIN_FAILURES_PER_ADDRESS", 100, 1),
            login_window_seconds=_int(env, "LOGIN_WINDOW_SECONDS", 300, 1),
            webhook_rate_per_second=_float(env, "WEBHOOK_RATE_PER_SECOND", 1.0, 0.001),
            webhook_rate_burst=_int(env, "WEBHOOK_RATE_BURST", 20, 1),
            webhook_dedupe_seconds=_int(env, "WEBHOOK_DEDUPE_SECONDS", 3600, 0),
            token_ttl_hours=_float(env, "TOKEN_TTL_HOURS", 720.0, 0.0001),
            allowed_origins=origins,
            vapid_private_key=_opt(env, "VAPID_PRIVATE_KEY"),
            vapid_subject=env.get("VAPID_SUBJECT") or "mailto:admin@localhost",
            display_timezone=env.get("DISPLAY_TIMEZONE") or "Asia/Taipei",
            file_storage=storage,
            s3_endpoint_url=_opt(env, "S3_ENDPOINT_URL"),
            s3_bucket=_opt(env, "S3_BUCKET"),
            s3_access_key=_opt(env, "S3_ACCESS_KEY"),
            s3_secret_key=_opt(env, "S3_SECRET_KEY"),
            max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 20 * 1024 * 1024, 1),
            push_allow_private_endpoints=_bool(env, "PUSH_ALLOW_PRIVATE_ENDPOINTS", False),
            redis_prefix=env.get("ANDON_REDIS_PREFIX") or "andon",
            ws_send_queue_max=_int(env, "WS_SEND_QUEUE_MAX", 1000, 1),
            ws_setup_concurrency=_int(env, "WS_SETUP_CONCURRENCY", 32, 1),
            ws_db_concurrency=_int(env, "WS_DB_CONCURRENCY", 0, 0),
            user_stream_tick_ms=_tick_ms(env),
            ws_compression=_bool(env, "WS_COMPRESSION", False),
            http_header_timeout=_float(env, "HTTP_HEADER_TIMEOUT", 10.0, 0.05),
            http_body_timeout=_float(env, "HTTP_BODY_TIMEOUT", 30.0, 0.05),
            http_keep_alive_timeout=_float(env, "HTTP_KEEP_ALIVE_TIMEOUT", 5.0, 1.0),
            metrics_token=_opt(env, "METRICS_TOKEN"),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            push_timeout=_float(env, "PUSH_TIMEOUT", 10.0, 0.1),
            outbox_sweep_seconds=_float(env, "OUTBOX_SWEEP_SECONDS", 5.0, 0.05),
            outbox_stale_seconds=_float(env, "OUTBOX_STALE_SECONDS", 120.0, 1.0),
            worker_visibility_timeout=_float(env, "WORKER_VISIBILITY_TIMEOUT", 900.0, 1.0),
            urgent_repeat_seconds=_int(env, "URGENT_REPEAT_SECONDS", 120, 1),
            urgent_min_repeat_seconds=_int(env, "URGENT_MIN_REPEAT_SECONDS", 60, 1),
            urgent_max_repeats=_int(env, "URGENT_MAX_REPEATS", 5, 0),
            urgent_max_repeats_limit=_int(env, "URGENT_MAX_REPEATS_LIMIT", 30, 0),
        )
        if settings.redis_cluster_nodes and settings.redis_url:
            raise SettingsError("set REDIS_URL or REDIS_CLUSTER_NODES, not both")
        if settings.redis_cluster_nodes and not settings.celery_broker_url:
            raise SettingsError("REDIS_CLUSTER_NODES needs CELERY_BROKER_URL (one Redis for the Celery broker)")
        if settings.file_storage == "s3" and not settings.s3_bucket:
            raise SettingsError("FILE_STORAGE=s3 needs S3_BUCKET (and S3_ENDPOINT_URL for MinIO)")
        return replace(settings, **overrides) if overrides else settings

    def with_(self, **changes: Any) -> Settings:
        """A copy with some values changed."""
        return replace(self, **changes)

    @property
    def own_origins(self) -> tuple[str, ...]:
        """The origins the server itself answers on, used when ALLOWED_ORIGINS is unset.

        Derived from the configured listen address only, never from a request's Host header
        (which a client sets). Listening on every interface adds loopback and this machine's
        own names and addresses; behind a proxy or under another name, set ALLOWED_ORIGINS.
        """
        return _own_origins(self.host, self.port)

    def origin_allowed(self, origin: str, request_host: str | None = None) -> bool:
        """Whether a browser `Origin` may use this server (`request_host` is not trusted: unused)."""
        origin = origin.rstrip("/")
        if self.allowed_origins:
            return origin in self.allowed_origins or "*" in self.allowed_origins
        return origin in self.own_origins

    @property
    def ws_db_slots(self) -> int:
        """How many socket opens and replays may use the database at once (below the pool's size).

        WS_DB_CONCURRENCY, else half of DB_POOL_SIZE + DB_MAX_OVERFLOW (at least one): the rest of
        the pool stays for sends, REST requests and gap fills while thousands of clients resume.
        """
        pool = self.db_pool_size + self.db_max_overflow
        if self.ws_db_concurrency:
            return max(1, min(self.ws_db_concurrency, pool))
        return max(1, pool // 2)

    @property
    def redis_configured(self) -> bool:
        """Whether a Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES) is configured."""
        return bool(self.redis_url or self.redis_cluster_nodes)

    @property
    def broker_url(self) -> str | None:
        """Where Celery's broker lives: CELERY_BROKER_URL, else REDIS_URL."""
        return self.celery_broker_url or self.redis_url

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"


def _cluster_nodes(raw: str) -> tuple[str, ...]:
    """REDIS_CLUSTER_NODES: `host:port` items separated by commas, each port a number."""
    nodes = tuple(item.strip() for item in raw.split(",") if item.strip())
    for node in nodes:
        host, sep, port = node.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"REDIS_CLUSTER_NODES items must be host:port, got {node!r}")
    return nodes


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return Settings.from_env()


@lru_cache(maxsize=8)
def _own_origins(host: str, port: int) -> tuple[str, ...]:
    hosts = {host}
    if host in {"127.0.0.1", "localhost", "0.0.0.0", "::", "::1"}:
        hosts |= {"127.0.0.1", "localhost"}
    if host in {"0.0.0.0", "::"}:
        try:
            name = socket.gethostname()
            hosts |= {name, socket.getfqdn()}
            hosts |= {str(info[4][0]) for info in socket.getaddrinfo(name, None) if info[0] == socket.AF_INET}
        except OSError:
            pass  # no resolvable name: loopback only, and ALLOWED_ORIGINS for anything else
    hosts.discard("0.0.0.0")
    hosts.discard("::")
    return tuple(f"{scheme}://{h}:{port}" for h in sorted(hosts) for scheme in ("http", "https"))
