"""Structured JSON logs on stderr. Nothing here ever formats tokens, passwords or message content.

Every process (`andon serve`, each of its `--workers` processes, `andon worker`) applies
:func:`dict_config`: uvicorn applies it itself in each worker process it spawns, before it
imports anything noisy, so no line comes out in another format. Request and connection ids
travel in context variables, set by the HTTP middleware and the WebSocket gateway, and are
added to every line logged while they are set.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

# Defence in depth: anything that looks like a credential is masked before a line is written.
_SECRET = re.compile(
    r"(?i)((?:token|password|secret)[\"']?\s*[:=]\s*[\"']?|bearer\s+|andon_session=)[^\s&\"',;]+"
)

request_id_var: ContextVar[str | None] = ContextVar("andon_request_id", default=None)
conn_id_var: ContextVar[str | None] = ContextVar("andon_conn_id", default=None)

_FIELDS = (
    "request_id",
    "conn_id",
    "room_id",
    "user_id",
    "method",
    "path",
    "status",
    "close_code",
    "duration_ms",
)

# Loggers that would print bound SQL parameters, task arguments or debug chatter.
_QUIET = ("sqlalchemy", "sqlalchemy.engine", "alembic.runtime.plugins", "celery", "kombu", "asyncio")


def scrub(text: str) -> str:
    return _SECRET.sub(lambda m: m.group(1) + "***", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "msg": scrub(record.getMessage()),
        }
        for key in _FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class ContextFilter(logging.Filter):
    """Adds the current request and connection ids to a record that does not name its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "conn_id", None) is None:
            record.conn_id = conn_id_var.get()
        return True


class DropSocketHandshakeLines(logging.Filter):
    """uvicorn logs each WebSocket handshake with its query string (`?token=`) at INFO on
    `uvicorn.error`: our own access lines replace those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith('%s - "WebSocket '))


def stderr_handler() -> logging.Handler:
    """The one handler: JSON lines on stderr, with request/connection ids."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    # Warnings (a library's DeprecationWarning at import) become JSON lines too. This factory
    # is what every process runs first when it sets up logging, hence here.
    logging.captureWarnings(True)
    return handler


def dict_config(level: str = "INFO") -> dict[str, Any]:
    """The logging configuration, as uvicorn's `log_config` (applied in every worker process)."""
    loggers: dict[str, Any] = {
        # uvicorn's own loggers go through the root handler (JSON).
        "uvicorn": {"level": level, "handlers": [], "propagate": True},
        "uvicorn.error": {
            "level": level,
            "handlers": [],
            "propagate": True,
            "filters": ["drop_socket_handshakes"],
        },
        # Its access log prints query strings (a `?token=` would leak): it stays off, ours replaces it.
        "uvicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    }
    for name in _QUIET:
        loggers[name] = {"level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"drop_socket_handshakes": {"()": DropSocketHandshakeLines}},
        "handlers": {"stderr": {"()": stderr_handler}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": loggers,
    }


def configure(level: str = "INFO") -> None:
    logging.config.dictConfig(dict_config(level))
