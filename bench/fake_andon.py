#!/usr/bin/env python3
"""A tiny stand-in for the Andon server, to exercise ws_load.py itself (not a benchmark target).

It speaks just the part of CONTRACT.md that the load generator uses — login, rooms, members, the
``connected`` frame, ``message`` → ``ack`` + broadcast — in one process with in-memory state, and can
inject faults so that the generator's integrity checks can be seen to fire:

    FAKE_FAULT=drop:N     every N-th broadcast frame is not sent to one receiver (a gap)
    FAKE_FAULT=dup:N      every N-th broadcast frame is sent twice to one receiver (a duplicate)
    FAKE_FAULT=swap:N     every N-th broadcast pair is swapped for one receiver (out of order)

Users live in a JSON file (``FAKE_ANDON_USERS``, default ``/tmp/fake_andon_users.json``) so that
``python bench/fake_andon.py users add EMAIL --name N --password P`` (the ``--andon-cmd``) can add them.

    python bench/fake_andon.py serve --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

USERS_FILE = Path(os.environ.get("FAKE_ANDON_USERS", "/tmp/fake_andon_users.json"))


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def load_users() -> dict[str, dict[str, str]]:
    try:
        data: dict[str, dict[str, str]] = json.loads(USERS_FILE.read_text())
        return data
    except (OSError, ValueError):
        return {}


class Room:
    def __init__(self, room_id: str, title: str) -> None:
        self.room_id = room_id
        self.title = title
        self.members: dict[str, str] = {}
        self.seq = 0
        self.conns: set[FakeConn] = set()
        self.client_ids: dict[tuple[str, str], dict[str, Any]] = {}


class FakeConn:
    def __init__(self, send: Any, user: str) -> None:
        self.send = send
        self.user = user
        self.held: str | None = None


class Fake:
    def __init__(self, fault: str | None) -> None:
        self.tokens: dict[str, str] = {}
        self.rooms: dict[str, Room] = {}
        kind, _, every = (fault or "").partition(":")
        self.fault_kind = kind or None
        self.fault_every = int(every or 0)
        self.broadcasts = 0

    # -- HTTP -----------------------------------------------------------------------------------------

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        user = self.tokens.get(headers.get("authorization", "").removeprefix("Bearer "))
        path, method = scope["path"], scope["method"]
        status, payload = 404, {"status_code": 404, "detail": "not found"}
        data = json.loads(body) if body else {}
        if path in ("/healthz", "/readyz"):
            status, payload = 200, {"status": "ok"}
        elif path == "/api/auth/login" and method == "POST":
            u = load_users().get(str(data.get("email", "")).lower())
            if u and u["password"] == data.get("password"):
                token = uuid.uuid4().hex
                self.tokens[token] = str(data["email"]).lower()
                status = 200
                payload = {"token": token, "user": {"user_id": data["email"], "display_name": u["name"]}}
            else:
                status, payload = 401, {"status_code": 401, "detail": "bad credentials"}
        elif user is None:
            status, payload = 401, {"status_code": 401, "detail": "unauthorized"}
        elif path == "/api/rooms" and method == "POST":
            room = Room(str(uuid.uuid4()), data["title"])
            room.members[user] = "OWNER"
            self.rooms[room.room_id] = room
            status, payload = 201, {"room_id": room.room_id, "title": room.title, "status": "active"}
        elif path.startswith("/api/rooms/") and path.endswith("/members") and method == "POST":
            room = self.rooms[path.split("/")[3]]
            if data["user_id"] in room.members:
                status, payload = 409, {"status_code": 409, "detail": "already a member"}
            else:
                room.members[data["user_id"]] = data["role"]
                room.seq += 1  # the member_added system message takes a number
                status, payload = 201, {"user_id": data["user_id"], "role": data["role"]}
        out = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": out})

    # -- WebSocket ------------------------------------------------------------------------------------

    async def websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        user = self.tokens.get(headers.get("authorization", "").removeprefix("Bearer "))
        room = self.rooms.get(scope["path"].split("/")[-1])
        if user is None:
            await send({"type": "websocket.close", "code": 4401, "reason": "unauthorized"})
            return
        if room is None:
            await send({"type": "websocket.close", "code": 4404})
            return
        if user not in room.members:
            await send({"type": "websocket.close", "code": 4403})
            return
        conn = FakeConn(send, user)
        first = {
            "type": "connected",
            "room_id": room.room_id,
            "user_id": user,
            "role": room.members[user],
            "last_sequence_number": room.seq,
            "server_time": now_iso(),
            "online": [],
        }
        await send({"type": "websocket.send", "text": json.dumps(first)})
        room.conns.add(conn)
        try:
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    return
                frame = json.loads(msg.get("text") or msg.get("bytes") or "{}")
                if frame.get("type") != "message":
                    err = {"type": "error", "code": "invalid", "message": "unsupported here"}
                    await send({"type": "websocket.send", "text": json.dumps(err)})
                    continue
                await self.on_message(room, conn, user, frame)
        finally:
            room.conns.discard(conn)

    async def on_message(self, room: Room, conn: FakeConn, user: str, frame: dict[str, Any]) -> None:
        send = conn.send
        cid = frame.get("client_id")
        key = (user, str(cid))
        if cid is not None and key in room.client_ids:
            await send({"type": "websocket.send", "text": json.dumps(room.client_ids[key])})
            return
        await asyncio.sleep(0.0005)  # a pretend commit
        room.seq += 1
        created = now_iso()
        message: dict[str, Any] = {
            "message_id": str(uuid.uuid4()),
            "room_id": room.room_id,
            "sender_id": user,
            "sender_display_name": user,
            "content": frame.get("content"),
            "message_type": "text",
            "mentions": [],
            "file_id": None,
            "file_url": None,
            "client_id": cid,
            "created_at": created,
            "edited_at": None,
            "deleted_at": None,
            "sequence_number": room.seq,
            "reactions": {},
        }
        ack = {
            "type": "ack",
            "client_id": cid,
            "message_id": message["message_id"],
            "sequence_number": room.seq,
            "created_at": created,
        }
        if cid is not None:
            room.client_ids[key] = ack
        await send({"type": "websocket.send", "text": json.dumps(ack)})
        text = json.dumps({"type": "message", **message})
        self.broadcasts += 1
        victim = None
        if self.fault_every and self.broadcasts % self.fault_every == 0:
            victim = next(iter(room.conns - {conn}), None)
        for c in list(room.conns):
            if c is victim and self.fault_kind == "drop":
                continue
            if c is victim and self.fault_kind == "swap":
                c.held = text  # sent after the next frame
                continue
            try:
                await c.send({"type": "websocket.send", "text": text})
                if c is victim and self.fault_kind == "dup":
                    await c.send({"type": "websocket.send", "text": text})
                if c.held is not None:
                    held, c.held = c.held, None
                    await c.send({"type": "websocket.send", "text": held})
            except Exception:  # a closing connection
                room.conns.discard(c)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=8765)
    u = sub.add_parser("users")
    u.add_argument("action", choices=["add"])
    u.add_argument("email")
    u.add_argument("--name", required=True)
    u.add_argument("--password", required=True)
    args = p.parse_args()
    if args.cmd == "users":
        import fcntl

        with open(USERS_FILE.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            users = load_users()
            users[args.email.lower()] = {"name": args.name, "password": args.password}
            tmp = USERS_FILE.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(users))
            tmp.replace(USERS_FILE)
        return 0
    import uvicorn

    app = Fake(os.environ.get("FAKE_FAULT"))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", ws="websockets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
