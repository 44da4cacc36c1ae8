"""`GET /metrics`: Prometheus text format.

Protected either way: with `METRICS_TOKEN` set, only `Authorization: Bearer <METRICS_TOKEN>`
gets in; without one, only a client on the loopback interface that did not come through a
proxy (a request carrying forwarding headers is a proxied one, even from 127.0.0.1).
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from api.domain.core import metrics
from api.domain.outbox import jobs
from api.http.deps import services_of

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_scraper(request: Request[Any, Any, Any], token: str | None) -> None:
    """401 without the right bearer token when one is configured; else 403 unless local."""
    if token:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise NotAuthorizedException(
                "a valid METRICS_TOKEN bearer token is required",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return
    proxied = any(name in request.headers for name in _FORWARDING_HEADERS)
    if proxied or not _loopback(request.client.host if request.client else None):
        raise PermissionDeniedException("metrics are served to loopback clients only (or set METRICS_TOKEN)")


@get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    services = services_of(request)
    check_scraper(request, services.settings.metrics_token)
    sample = getattr(request.app.state, "sample_metrics", None)
    if callable(sample):
        sample()  # this process's gauges as of now; the others' are at most 5 s old
    shared = await metrics.read_shared(
        services.db, services.redis, services.settings.redis_prefix, jobs.QUEUES
    )
    return Response(
        metrics.render(shared),
        media_type=metrics.CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )
