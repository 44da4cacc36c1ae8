"""Uploads and downloads."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body

from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Invalid
from api.domain.files import INLINE_TYPES, do_upload, load_file, make_storage
from api.http.deps import current_user, services_of
from api.http.openapi import FileId, RoomId

AUTH = {"user": Provide(current_user)}


def storage_of(request: Request[Any, Any, Any]) -> Any:
    state = request.app.state
    if getattr(state, "file_storage", None) is None:
        state.file_storage = make_storage(services_of(request))
    return state.file_storage


@post("/api/rooms/{room_id:str}/files", dependencies=AUTH, status_code=201, summary="Upload a file to a room")
async def upload(
    request: Request[Any, Any, Any],
    user: AuthUser,
    room_id: RoomId,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> dict[str, Any]:
    upload = data.get("file")
    if not isinstance(upload, UploadFile):
        raise Invalid("a multipart field named `file` is required")
    services = services_of(request)
    content = await upload.read(services.settings.max_upload_bytes + 1)
    return await do_upload(services, storage_of(request), user, room_id, upload.filename, content)


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the UTF-8 name in filename*."""
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename) or "file"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@get("/api/files/{file_id:str}", dependencies=AUTH, summary="Download a file (members of its room only)")
async def download(request: Request[Any, Any, Any], user: AuthUser, file_id: FileId) -> Response[bytes]:
    meta, content = await load_file(services_of(request), storage_of(request), user, file_id)
    inline = meta["content_type"] in INLINE_TYPES
    return Response(
        content,
        media_type=meta["content_type"] if inline else "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(
                "inline" if inline else "attachment", meta["filename"]
            ),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=86400",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
