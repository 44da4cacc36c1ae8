"""Encoding server frames, once per event; the bytes are fanned out as they are.

Frame shapes are CONTRACT §3's; `system_frame` / `message_frame` turn a stored message
object into its live frame, so history, replay and gap filling produce identical frames.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def system_frame(message: dict[str, Any]) -> dict[str, Any]:
    """The live `system` frame of a stored system message (CONTRACT §3)."""
    content = dict(message["content"] or {})
    frame: dict[str, Any] = {
        "type": "system",
        "event": content.get("event"),
        "message_id": message["message_id"],
        "sequence_number": message["sequence_number"],
        "user_id": content.get("user_id"),
        "actor_id": content.get("actor_id"),
        "timestamp": message["created_at"],
        "room_id": message["room_id"],
    }
    for key, value in content.items():
        frame.setdefault(key, value)
    return frame


def message_frame(message: dict[str, Any]) -> dict[str, Any]:
    """The live frame of any stored message: `message`, or `system` for system messages."""
    if message["message_type"] == "system":
        return system_frame(message)
    return {"type": "message", **message}
