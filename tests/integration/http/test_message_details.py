"""Extensions the web client shows: an attachment's name, type and size, and who reacted."""

from __future__ import annotations

import io

from tests.support.clients import Api

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 40


async def test_attachment_name_type_and_size_travel_with_the_message(api: Api) -> None:
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    r = await api.http.post(
        f"/api/rooms/{room_id}/files",
        files={"file": ("泵浦 leak.png", io.BytesIO(PNG), "text/plain")},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    file_id = r.json()["file_id"]
    expected = {"filename": "泵浦 leak.png", "content_type": "image/png", "size": len(PNG)}
    a = await api.connect(owner, room_id)
    b = await api.connect(editor, room_id)
    await a.send_message("Seal leak, **see** photo", message_type="image_ref", file_id=file_id)
    await a.send_message("plain text")
    live = await b.next("message")
    assert live["file"] == expected  # the live frame, as every receiver gets it
    assert (await b.next("message"))["file"] is None
    page = await api.history(editor, room_id)
    by_type = {m["message_type"]: m for m in page["messages"]}
    assert by_type["image_ref"]["file"] == expected
    assert by_type["text"]["file"] is None
    # A deleted message keeps nothing of its attachment.
    await a.send({"type": "delete_message", "message_id": live["message_id"]})
    await b.next("message_deleted")
    (gone,) = [
        m for m in (await api.history(editor, room_id))["messages"] if m["message_id"] == live["message_id"]
    ]
    assert gone["file"] is None and gone["content"] is None


async def test_history_says_who_reacted_with_display_names_in_order(api: Api) -> None:
    owner = await api.user("owner", display_name="Owner <b>One</b>")
    ed = await api.user("ed", display_name="Ed Two")
    room_id = await api.room_with(owner, (ed, "EDITOR"))
    a = await api.connect(owner, room_id)
    b = await api.connect(ed, room_id)
    first = await a.send_message("pressure 4.2 bar")
    second = await a.send_message("valve closed")
    for ws, emoji in ((a, "👍"), (b, "👍"), (b, "🔥"), (a, "🔥")):
        await ws.send({"type": "add_reaction", "message_id": first["message_id"], "emoji": emoji})
        await ws.next("reaction_added")
    await a.send({"type": "remove_reaction", "message_id": first["message_id"], "emoji": "🔥"})
    await a.next("reaction_removed")

    for params in ({}, {"after_sequence": 0}, {"around_sequence": 1}):
        page = await api.history(ed, room_id, **params)
        msgs = {m["message_id"]: m for m in page["messages"]}
        assert msgs[first["message_id"]]["reacted_by"] == {
            "👍": [
                {"user_id": owner.user_id, "display_name": "Owner <b>One</b>"},
                {"user_id": ed.user_id, "display_name": "Ed Two"},
            ],
            "🔥": [{"user_id": ed.user_id, "display_name": "Ed Two"}],
        }
        assert msgs[first["message_id"]]["reactions"] == {"👍": 2, "🔥": 1}
        assert msgs[second["message_id"]]["reacted_by"] == {}
