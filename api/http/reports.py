"""`GET /api/rooms/{room_id}/report?format=html|pdf|md|csv|json`: the room's incident report.

Access is checked (404 no room, 403 not a member) and the header facts and charts prepared
before the first byte, so refusals are ordinary error responses; the report then streams.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import Provide
from litestar.response import Stream

from api.domain import reports
from api.domain.auth.sessions import AuthUser
from api.domain.core.settings import Settings
from api.http.deps import current_user, services_of
from api.http.files import content_disposition, storage_of
from api.http.openapi import RoomId

AUTH = {"user": Provide(current_user)}
# The report is our own markup with the users' text escaped; still, if it is opened in the
# browser, nothing in it may run or load from elsewhere.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"


def link_base(request: Request[Any, Any, Any], settings: Settings) -> str:
    """Where the report's file links point: this request's origin when it is one the server
    answers on (ALLOWED_ORIGINS, or its own listen address), never a Host header it does not know."""
    origin = f"{request.url.scheme}://{request.url.netloc}"
    if settings.origin_allowed(origin):
        return origin
    configured = [o for o in settings.allowed_origins if o != "*"] or list(settings.own_origins)
    return configured[0].rstrip("/") if configured else ""


@get(
    "/api/rooms/{room_id:str}/report",
    dependencies=AUTH,
    summary="The room's incident report (members; OWNER and admins see deleted content and edit history)",
)
async def room_report(
    request: Request[Any, Any, Any],
    user: AuthUser,
    room_id: RoomId,
    format: str = "html",
    download: str = "1",
) -> Stream:
    fmt = reports.check_format(format)
    services = services_of(request)
    prepared = await reports.prepare(
        services.db,
        storage_of(request),
        room_id,
        user,
        base_url=link_base(request, services.settings),
        timezone=services.settings.display_timezone,
    )
    inline = download in ("0", "false") and fmt in ("html", "pdf")
    return Stream(
        reports.stream_report(prepared, fmt),
        media_type=reports.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": content_disposition(
                "inline" if inline else "attachment", reports.file_name(prepared, fmt)
            ),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "Content-Security-Policy": REPORT_CSP,
        },
    )
