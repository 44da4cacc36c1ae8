"""Typing indicators per the spec: cleared after TYPING_TIMEOUT of *inactivity* (the timer
restarts on every `typing` frame), and not lost when the typist types again right after sending."""

from __future__ import annotations

import asyncio
import time

from tests.support.clients import Api, User, WsClient


async def _typist_and_watcher(api: Api) -> tuple[User, WsClient, WsClient]:
    """An OWNER (who types, on `a`) and an EDITOR watching (`b`), both connected to one room."""
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    a, b = await api.connect(owner, room_id), await api.connect(editor, room_id)
    await a.next("presence")
    return owner, a, b


async def test_the_auto_clear_timer_restarts_on_every_typing_frame(server_factory, database_url: str) -> None:
    srv = server_factory(TYPING_TIMEOUT="1.0")
    api = Api(srv.base_url, database_url)
    try:
        owner, a, b = await _typist_and_watcher(api)
        await a.send({"type": "typing", "is_typing": True})
        assert (await b.next("typing"))["is_typing"] is True
        # A typist's keystrokes 0.3 s apart, for longer than the timeout: every one of them
        # counts, so the indicator stays on and clears one timeout after the last.
        for _ in range(5):
            await asyncio.sleep(0.3)  # the typist's pace, not a wait for the server
            await a.send({"type": "typing", "is_typing": True})
        last_sent = time.monotonic()
        while True:
            frame = await b.next("typing", timeout=5)
            if frame["is_typing"] is False:
                break
        cleared_after = time.monotonic() - last_sent
        assert cleared_after >= 0.9, f"cleared {cleared_after:.2f}s after the last typing frame"
        assert frame["user_id"] == owner.user_id
    finally:
        await api.aclose()


async def test_typing_right_after_sending_is_not_lost(api: Api) -> None:
    _, a, b = await _typist_and_watcher(api)
    await a.send({"type": "typing", "is_typing": True})
    assert (await b.next("typing"))["is_typing"] is True
    # Send, and start the next message at once: within a second of the last typing frame and
    # before the first message is even stored.
    await a.send({"type": "message", "content": "valve closed", "client_id": "c-typing-1"})
    await a.send({"type": "typing", "is_typing": True})
    seen: list[tuple[str, bool | None]] = []
    while not seen or seen[-1] != ("typing", True):
        frame = await b.next("typing", "message", timeout=2.5)
        seen.append((frame["type"], frame.get("is_typing")))
    # The message cleared the old indicator; the new one came after it and stays on.
    assert seen == [("typing", False), ("message", None), ("typing", True)], seen
    assert (await a.next("ack"))["client_id"] == "c-typing-1"


async def test_stopping_clears_once_and_a_stray_stop_is_not_broadcast(api: Api) -> None:
    _, a, b = await _typist_and_watcher(api)
    await a.send({"type": "typing", "is_typing": False})  # not typing: nothing to clear
    await a.send({"type": "typing", "is_typing": True})
    await a.send({"type": "typing", "is_typing": False})
    first = await b.next("typing", timeout=5)
    second = await b.next("typing", timeout=5)
    assert (first["is_typing"], second["is_typing"]) == (True, False)
    # The next frame b gets is the marker message, not another typing frame.
    await a.send_message("marker")
    assert (await b.next("typing", "message"))["type"] == "message"
