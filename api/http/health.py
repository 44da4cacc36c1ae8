"""Liveness, readiness, and the client configuration."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from sqlalchemy import text

from api.http.deps import services_of


@get("/healthz", summary="Liveness", include_in_schema=True)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", summary="Readiness: the database and Redis answer")
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    if getattr(request.app.state, "draining", False):
        # SIGTERM: this process is closing its sockets; send new clients elsewhere.
        return Response({"status": "draining"}, status_code=503)
    services = services_of(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(3):
            async with services.db.read() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        # Reported in the answer (a 503 the load balancer acts on); probes come every few
        # seconds, so a log line each would only repeat it. REST requests log the outage once.
        checks["database"] = "unavailable"
    try:
        async with asyncio.timeout(3):
            await services.redis.ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "unavailable"  # as above: the answer is the report
    ok = all(v == "ok" for v in checks.values())
    return Response({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)


@get("/api/config", summary="Settings the web client needs (no sign-in needed)")
async def client_config(request: Request[Any, Any, Any]) -> dict[str, Any]:
    s = services_of(request).settings
    return {
        "display_timezone": s.display_timezone,
        "edit_window_seconds": s.edit_window_seconds,
        "typing_timeout": s.typing_timeout,
        "max_upload_bytes": s.max_upload_bytes,
    }
