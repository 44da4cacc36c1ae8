"""A system event's preview: one shape from the live frame and from a database row, people by
name in the English line and in `preview.system`, ids only as the last resort."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from api.domain.core.timefmt import iso
from api.domain.events import system_frame
from api.domain.messages.sequencing import NewMessage, stored_message
from api.domain.rooms.summaries import preview_from_row, preview_of, preview_text, system_fields
from api.ws.user_stream_state import RoomRun

AT = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
ID = "00000000-0000-0000-0000-00000000000a"
NAMES = {"user_display_name": "Carol 林", "actor_display_name": "Ana Wu"}


def _event(event: str, **fields: Any) -> dict[str, Any]:
    return {"event": event, "user_id": "carol@x", "actor_id": "ana@x", **fields}


def _live(content: dict[str, Any]) -> dict[str, Any]:
    """The live `system` frame of a stored event, as the user stream decodes it."""
    new = NewMessage(sender_id="ana@x", message_type="system", data=content, message_id=uuid.UUID(ID))
    message = stored_message(uuid.UUID(int=1), new, 9, AT, "Ana Wu")
    frame: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(system_frame(message)))
    return frame


def _row(content: dict[str, Any], *, sender_name: str | None, user_name: str | None) -> Any:
    """A row of PREVIEW_COLUMNS, as the room list reads it."""
    return SimpleNamespace(
        pv_id=ID,
        pv_sender="ana@x",
        pv_name=sender_name,
        pv_bot=False,
        pv_type="system",
        pv_content=None,
        pv_data=msgspec.json.encode(content).decode(),
        pv_at=AT,
        pv_user_name=user_name,
    )


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (_event("member_added", role="VIEWER"), "Carol 林 was added as VIEWER by Ana Wu"),
        (_event("member_removed"), "Carol 林 was removed by Ana Wu"),
        (_event("member_role_changed", role="EDITOR"), "Carol 林 is now EDITOR (changed by Ana Wu)"),
        (
            _event("room_status_changed", user_id="ana@x", old_status="active", new_status="resolved"),
            "Ana Wu changed the room status from active to resolved",
        ),
        (_event("alert_resolved", title="Press 4 pressure high", text="long body"), "Resolved: Press 4 pressure high"),
        (_event("something_new"), "something new by Ana Wu"),
    ],
)
def test_live_and_stored_previews_are_one_shape_with_names(content: dict[str, Any], line: str) -> None:
    if content["user_id"] == content["actor_id"]:
        content = {**content, "user_display_name": "Ana Wu", "actor_display_name": "Ana Wu"}
    else:
        content = {**content, **NAMES}
    run = RoomRun()
    run.add(_live(content))
    assert run.last is not None
    live = msgspec.json.decode(run.last)
    stored = preview_from_row(_row(content, sender_name="Ana Wu", user_name=None))
    assert live == stored
    assert live["content"] == line and live["sender_display_name"] == "Ana Wu"
    assert live["sender_id"] == "ana@x" and live["sender_is_bot"] is False
    assert live["system"]["event"] == content["event"] and "text" not in live["system"]
    assert live["system"]["actor_display_name"] == "Ana Wu"


def test_stored_names_win_over_todays_names() -> None:
    content = _event("member_removed", **NAMES)
    preview = preview_from_row(_row(content, sender_name="Ana Renamed", user_name=None))
    assert preview is not None
    assert preview["content"] == "Carol 林 was removed by Ana Wu"
    assert preview["sender_display_name"] == "Ana Wu"


def test_an_old_event_takes_names_from_the_users_join() -> None:
    preview = preview_from_row(_row(_event("member_added", role="EDITOR"), sender_name="Ana Wu", user_name="Carol 林"))
    assert preview is not None
    assert preview["content"] == "Carol 林 was added as EDITOR by Ana Wu"
    assert preview["system"]["user_display_name"] == "Carol 林"
    assert preview["system"]["actor_display_name"] == "Ana Wu"


def test_without_any_name_the_line_falls_back_to_ids_and_the_sender_is_empty() -> None:
    content = _event("member_removed")
    stored = preview_from_row(_row(content, sender_name=None, user_name=None))
    run = RoomRun()
    run.add(_live(content))
    assert run.last is not None
    live = msgspec.json.decode(run.last)
    for preview in (stored, live):
        assert preview is not None
        assert preview["content"] == "carol@x was removed by ana@x"
        assert preview["sender_display_name"] == ""
        assert preview["system"] == {"event": "member_removed", "user_id": "carol@x", "actor_id": "ana@x"}


def test_system_fields_keep_scalars_and_cut_long_strings() -> None:
    fields = system_fields(
        {"event": "alert_resolved", "title": "t" * 500, "labels": {"a": 1}, "alert_count": 2, "group_key": None}
    )
    assert fields == {"event": "alert_resolved", "title": "t" * 139 + "…", "alert_count": 2}


def test_other_message_types_keep_their_labels_and_no_system_field() -> None:
    message = {
        "message_id": "m1",
        "sender_id": "ana@x",
        "sender_display_name": "Ana Wu",
        "message_type": "text",
        "content": "hello",
        "created_at": iso(AT),
    }
    preview = preview_of(message)
    assert preview["content"] == "hello" and preview["sender_display_name"] == "Ana Wu"
    assert "system" not in preview
    assert preview_text("image_ref", "") == "[image]"
