"""The shared `room_activity` bytes say exactly what a stream's own encoding says."""

from __future__ import annotations

from typing import Any

import msgspec

from api.ws.user_stream_state import RoomRun, Watch
from api.ws.user_stream_tick import SharedActivity


def _message(seq: int, sender: str, mentions: list[str]) -> dict[str, Any]:
    return {
        "type": "message",
        "message_id": f"m{seq}",
        "room_id": "r1",
        "sender_id": sender,
        "sender_display_name": sender.title(),
        "content": f"text {seq} with \"quotes\" and 中文",
        "message_type": "text",
        "mentions": mentions,
        "created_at": "2026-12-04T08:00:00.123Z",
        "sequence_number": seq,
    }


def test_spliced_activity_equals_the_full_encoding() -> None:
    run = RoomRun()
    for seq, sender, mentions in ((7, "a@x", []), (8, "b@x", ["c@x"]), (9, "a@x", ["c@x", "a@x"])):
        run.add(_message(seq, sender, mentions))
    watches = []
    for user in ("a@x", "b@x", "c@x"):
        watch = Watch(stream=type("S", (), {"user": type("U", (), {"user_id": user})()})(), room_id="r1", seq=6)  # type: ignore[arg-type]
        watch.counting = False
        watch.unread = 4
        run.apply(watch)
        watches.append(watch)
    shared = SharedActivity("r1", run)
    for watch in watches:
        spliced = msgspec.json.decode(shared.of(watch))
        assert spliced == msgspec.json.decode(watch.activity())
    counts = {w.stream.user.user_id: (w.unread, w.mentions) for w in watches}
    assert counts == {"a@x": (5, 0), "b@x": (6, 0), "c@x": (7, 2)}
