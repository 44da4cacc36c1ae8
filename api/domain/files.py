"""Uploaded files: type sniffed from the bytes, stored locally or in S3-compatible storage."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import unicodedata
import uuid
from pathlib import Path
from typing import Any, Protocol

import filetype
from sqlalchemy import text

from api.domain.auth.access import access_room, parse_uuid, require_writer
from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Forbidden, Invalid, NotFound, TooLarge
from api.domain.core.services import Services
from api.domain.core.settings import Settings

log = logging.getLogger(__name__)

# Served inline; everything else is an attachment. SVG is never inline (it can carry script).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"})


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes: ...


class LocalStorage:
    """Files under ANDON_DATA_DIR/files, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise Invalid("bad storage key")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound("file content is missing") from exc


class S3Storage:
    """S3 or MinIO through boto3 (the `s3` extra), called off the event loop."""

    def __init__(
        self, endpoint: str | None, bucket: str, access_key: str | None, secret_key: str | None
    ) -> None:
        import boto3

        self.bucket = bucket
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            try:
                obj = self.client.get_object(Bucket=self.bucket, Key=key)
            except Exception as exc:
                # The row exists, so this is storage failing or out of step with the database
                # (NoSuchKey, credentials, the network): the client sees a 404, operators a log line.
                log.warning("reading file %s from S3 failed (%s)", key, type(exc).__name__)
                raise NotFound("file content is missing") from exc
            body: bytes = obj["Body"].read()
            return body

        return await asyncio.to_thread(read)


def make_storage(services: Services) -> Storage:
    return storage_for(services.settings)


def storage_for(s: Settings) -> Storage:
    """The configured file storage (for code that has settings but no `Services`, like the CLI)."""
    if s.file_storage == "s3":
        assert s.s3_bucket
        return S3Storage(s.s3_endpoint_url, s.s3_bucket, s.s3_access_key, s.s3_secret_key)
    return LocalStorage(s.files_dir)


def sniff(data: bytes) -> str:
    """The content type from the bytes themselves; never the client's claim."""
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return str(kind.mime)
    try:
        data[:8192].decode("utf-8")
        return "text/plain"
    except UnicodeDecodeError:
        return "application/octet-stream"


def clean_filename(name: str | None) -> str:
    name = unicodedata.normalize("NFC", (name or "file").replace("\\", "/").rsplit("/", 1)[-1])
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().strip(".") or "file"
    return name[:255]


async def do_upload(
    services: Services, storage: Storage, user: AuthUser, room_id: object, filename: str | None, data: bytes
) -> dict[str, Any]:
    """Store an upload for a room (OWNER/EDITOR)."""
    if len(data) > services.settings.max_upload_bytes:
        raise TooLarge(f"the file is over {services.settings.max_upload_bytes} bytes")
    if not data:
        raise Invalid("the file is empty")
    async with services.db.read() as conn:
        access = await access_room(conn, room_id, user)
    require_writer(access)
    if access.room["status"] == "archived":
        raise Forbidden("the room is archived (read-only)")
    file_id = uuid.uuid4()
    content_type = sniff(data)
    name = clean_filename(filename)
    key = f"{access.room_id}/{file_id}"
    await storage.put(key, data, content_type)
    async with services.db.transaction() as uow:
        await uow.conn.execute(
            text(
                "INSERT INTO uploaded_files (file_id, room_id, uploader_id, filename, content_type, size, storage_key) "
                "VALUES (:f, :r, :u, :n, :t, :s, :k)"
            ),
            {
                "f": file_id,
                "r": access.room["room_id"],
                "u": user.user_id,
                "n": name,
                "t": content_type,
                "s": len(data),
                "k": key,
            },
        )
    return {
        "file_id": str(file_id),
        "file_url": f"/api/files/{file_id}",
        "filename": name,
        "content_type": content_type,
        "size": len(data),
    }


async def load_file(
    services: Services, storage: Storage, user: AuthUser, file_id: object
) -> tuple[dict[str, Any], bytes]:
    """A file's metadata and bytes, for members of its room only."""
    fid = parse_uuid(file_id, "file_id")
    async with services.db.read() as conn:
        row = (
            await conn.execute(text("SELECT * FROM uploaded_files WHERE file_id = :f"), {"f": fid})
        ).first()
        if row is None:
            raise NotFound("no such file")
        await access_room(conn, row.room_id, user)
    meta = dict(row._mapping)
    return meta, await storage.get(meta["storage_key"])
