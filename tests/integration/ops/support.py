"""Helpers for the operations tests: waiting on frames, on processes, on HTTP answers, on the log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
from redis.asyncio import Redis

from tests.support.clients import WsClient
from tests.support.servers import ServerProcess


async def frame_where(
    ws: WsClient, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> dict[str, Any]:
    """The first frame already received or still to come that satisfies `pred`."""
    for frame in ws.frames:
        if pred(frame):
            return frame
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"no matching frame within {timeout}s; last frames: {ws.frames[-5:]}")
        frame = await ws.recv(remaining)
        if pred(frame):
            return frame


def online_ids(frame: dict[str, Any]) -> set[str]:
    return {u["user_id"] for u in frame.get("online", [])}


async def process_serving(redis: Redis, prefix: str, room_id: str, user_id: str) -> str | None:
    """The presence process id (`host-pid-random`) that counts `user_id`'s connection to the room."""
    for raw in await redis.smembers(f"{prefix}:presprocs:{{{room_id}}}"):
        process_id = raw.decode() if isinstance(raw, bytes) else raw
        if await redis.hget(f"{prefix}:pres:{{{room_id}}}:{process_id}", user_id):
            return str(process_id)
    return None


def pid_of(process_id: str) -> int:
    return int(process_id.rsplit("-", 2)[1])


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        # The command name is in parentheses and may hold spaces: the fields after it are fixed.
        return int(stat.read().rsplit(")", 1)[1].split()[1])


async def wait_http(
    url: str, pred: Callable[[int | None], bool], timeout: float = 10.0, **kwargs: Any
) -> int | None:
    """Poll `url` until `pred(status)` (None when the connection is refused); returns that status."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            try:
                status: int | None = (await http.get(url, **kwargs)).status_code
            except httpx.HTTPError:
                status = None
            if pred(status):
                return status
            if loop.time() > deadline:
                raise TimeoutError(f"{url}: last status {status}")
            await asyncio.sleep(0.02)


def sigterm(server: ServerProcess) -> float:
    """SIGTERM the server's process group (as `docker stop` would); returns when it was sent."""
    os.killpg(server.proc.pid, signal.SIGTERM)
    return time.monotonic()


async def exited_within(server: ServerProcess, since: float, timeout: float = 40.0) -> float:
    """Wait (bounded) for the server to exit; returns the seconds since `since`."""
    await asyncio.to_thread(server.proc.wait, timeout)
    return time.monotonic() - since


async def wait_for_log(server: ServerProcess, pred: Callable[[str], bool], timeout: float = 30.0) -> str:
    """Poll the server's captured log until `pred(text)` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        text = server.log()
        if pred(text):
            return text
        if loop.time() > deadline:
            raise TimeoutError(f"log condition not met within {timeout}s:\n{text[-3000:]}")
        await asyncio.sleep(0.05)


def log_records(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a captured server log (the CLI's banner lines are plain text)."""
    records = []
    for line in text.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records
