"""Structured JSON logs on stderr. Nothing here ever formats tokens, passwords or message content."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

# Defence in depth: anything that looks like a credential is masked before a line is written.
_SECRET = re.compile(r"(?i)(token=|bearer\s+|andon_session=|password[\"']?\s*[:=]\s*[\"']?)[^\s&\"',;]+")


def scrub(text: str) -> str:
    return _SECRET.sub(lambda m: m.group(1) + "***", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key in ("request_id", "conn_id", "room_id", "user_id", "status", "path", "method", "duration_ms"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints query strings (a `?token=` would leak): it stays off.
    logging.getLogger("uvicorn.access").disabled = True
    # SQL echo would print bound parameters (user ids, token digests): never above WARNING.
    for noisy in ("sqlalchemy", "sqlalchemy.engine", "alembic.runtime.plugins", "celery", "kombu", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
