"""The push payload and preview, and the preference that applies in a room."""

from __future__ import annotations

import json

from api.domain.push.planning import PAYLOAD_LIMIT, preview_of, push_payload
from api.domain.push.prefs import effective_level


def test_the_room_override_wins_then_the_global_level_then_mentions() -> None:
    assert effective_level("all", "none") == "none"
    assert effective_level("none", None) == "none"
    assert effective_level(None, None) == "mentions"
    assert effective_level("bogus", "also-bogus") == "mentions"


def test_previews_are_at_most_140_characters_and_single_line() -> None:
    assert preview_of("text", "short\n\nand  spaced", None) == "short and spaced"
    long = preview_of("text", "字" * 500, None)
    assert len(long) == 140 and long.endswith("…")
    assert (
        preview_of("incident_data", None, {"temperature": 85, "line": "L3"})
        == '{"temperature":85,"line":"L3"}'
    )
    assert preview_of("image_ref", "", None) == "[image]"
    assert preview_of("file_ref", None, None) == "[file]"


def test_the_payload_has_the_contract_fields_and_a_url_to_the_message() -> None:
    payload = push_payload(
        kind="mention",
        room_id="r1",
        room_title="Line 3",
        message_id="m1",
        sequence_number=42,
        sender_display_name="Mei",
        preview="hello",
    )
    assert payload == {
        "kind": "mention",
        "room_id": "r1",
        "room_title": "Line 3",
        "message_id": "m1",
        "sequence_number": 42,
        "sender_display_name": "Mei",
        "preview": "hello",
        "url": "/rooms/r1?seq=42",
    }


def test_oversized_free_text_is_trimmed_to_fit_and_the_ids_are_kept() -> None:
    payload = push_payload(
        kind="message",
        room_id="r" * 36,
        room_title="🔥" * 2000,
        message_id="m" * 36,
        sequence_number=1,
        sender_display_name="名" * 1000,
        preview="x" * 140,
    )
    assert len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()) <= PAYLOAD_LIMIT
    assert payload["room_id"] == "r" * 36 and payload["message_id"] == "m" * 36
