"""The contract every SearchBackend keeps; the same tests run against each backend.

Each test makes its own rooms (fresh UUIDs), which also proves the room filter isolates them.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from search.base import SearchBackend, SearchDocument, SearchQuery, SearchResults
from search.query_syntax import parse_query

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TAG = re.compile(r"<[^>]*>")


def new_room() -> str:
    return str(uuid.uuid4())


def doc(
    room_id: str,
    content: str,
    *,
    minutes: int = 0,
    sender_id: str = "alice@example.com",
    name: str = "Alice",
    message_type: str = "text",
    version: int = 1,
    message_id: str | None = None,
    seq: int | None = None,
) -> SearchDocument:
    return SearchDocument(
        message_id=message_id or str(uuid.uuid4()),
        room_id=room_id,
        sender_id=sender_id,
        sender_display_name=name,
        message_type=message_type,
        content=content,
        created_at=T0 + timedelta(minutes=minutes),
        sequence_number=seq if seq is not None else minutes + 1,
        version=version,
    )


async def find(backend: SearchBackend, q: str, rooms: list[str], **kw: Any) -> SearchResults:
    parsed = parse_query(q)
    return await backend.search(SearchQuery(room_ids=rooms, terms=parsed.terms, **kw))


def ids(results: SearchResults) -> set[str]:
    return {h.message_id for h in results.hits}


async def test_every_english_word_must_match(backend: SearchBackend) -> None:
    room = new_room()
    both = doc(room, "Cooling pump pressure dropped to 2 bar", minutes=1)
    one = doc(room, "Cooling pump restarted", minutes=2)
    other = doc(room, "Pressure sensor replaced", minutes=3)
    await backend.index([both, one, other])

    results = await find(backend, "pump pressure", [room])

    assert ids(results) == {both.message_id}
    assert results.total == 1


async def test_matching_ignores_case_and_width(backend: SearchBackend) -> None:
    room = new_room()
    d = doc(room, "ＰＵＭＰ Ｐ-７ tripped on OVERCURRENT")
    await backend.index([d])

    assert ids(await find(backend, "pump overcurrent", [room])) == {d.message_id}
    assert ids(await find(backend, "p-7", [room])) == {d.message_id}


async def test_last_word_matches_as_prefix_the_others_do_not(backend: SearchBackend) -> None:
    room = new_room()
    d = doc(room, "Oven temperature reached 230 degrees")
    await backend.index([d])

    assert ids(await find(backend, "oven temp", [room])) == {d.message_id}
    assert ids(await find(backend, "temp oven", [room])) == set()
    assert ids(await find(backend, "tempe", [room])) == {d.message_id}


async def test_quoted_phrase_matches_only_as_a_phrase(backend: SearchBackend) -> None:
    room = new_room()
    phrase = doc(room, "Line 3 stopped at 14:05 after a jam", minutes=1)
    scattered = doc(room, "Line 4 running; station 3 stopped briefly", minutes=2)
    await backend.index([phrase, scattered])

    assert ids(await find(backend, '"line 3 stopped"', [room])) == {phrase.message_id}
    assert ids(await find(backend, "line 3 stopped", [room])) == {phrase.message_id, scattered.message_id}


async def test_chinese_matches_by_substring(backend: SearchBackend) -> None:
    room = new_room()
    rise = doc(room, "設備溫度上升，請確認冷卻水", minutes=1)
    fall = doc(room, "模具溫度下降到 180 度", minutes=2)
    yield_ = doc(room, "今日良率 97.5%", minutes=3)
    await backend.index([rise, fall, yield_])

    assert ids(await find(backend, "溫度", [room])) == {rise.message_id, fall.message_id}
    assert ids(await find(backend, "溫度上升", [room])) == {rise.message_id}
    assert ids(await find(backend, "備溫", [room])) == {rise.message_id}
    assert ids(await find(backend, "良率", [room])) == {yield_.message_id}
    assert ids(await find(backend, "壓力", [room])) == set()


async def test_single_chinese_character_matches_anywhere_in_a_run(backend: SearchBackend) -> None:
    room = new_room()
    end_of_run = doc(room, "冷卻水不足 請處理 模具升", minutes=1)
    middle = doc(room, "設備溫度上升", minutes=2)
    await backend.index([end_of_run, middle])

    assert ids(await find(backend, "升", [room])) == {end_of_run.message_id, middle.message_id}
    assert ids(await find(backend, "水", [room])) == {end_of_run.message_id}


async def test_part_numbers_match_however_they_are_typed(backend: SearchBackend) -> None:
    room = new_room()
    hyphen = doc(room, "Replaced bearing PJ-3401 on press 2", minutes=1)
    glued = doc(room, "pj3401 out of stock, order more", minutes=2)
    other = doc(room, "PJ-3402 is the wrong size", minutes=3)
    await backend.index([hyphen, glued, other])

    assert ids(await find(backend, "PJ-3401", [room])) == {hyphen.message_id, glued.message_id}
    assert ids(await find(backend, "pj3401", [room])) == {hyphen.message_id, glued.message_id}
    assert ids(await find(backend, "PJ-340", [room])) == {
        hyphen.message_id,
        glued.message_id,
        other.message_id,
    }
    assert ids(await find(backend, "PJ-3403", [room])) == set()


async def test_mixed_scripts_in_one_query_and_one_message(backend: SearchBackend) -> None:
    room = new_room()
    mixed = doc(room, "PJ-3401 模具溫度 85°C, pump 壓力 正常", minutes=1)
    english = doc(room, "PJ-3401 mould temperature 85C", minutes=2)
    await backend.index([mixed, english])

    assert ids(await find(backend, "PJ-3401 溫度", [room])) == {mixed.message_id}
    assert ids(await find(backend, "pump 壓力", [room])) == {mixed.message_id}
    # Spacing between scripts does not matter, the order of the pieces does.
    assert ids(await find(backend, "模具溫度85", [room])) == {mixed.message_id}
    assert ids(await find(backend, "85模具溫度", [room])) == set()
    assert ids(await find(backend, '"溫度 85"', [room])) == {mixed.message_id}


async def test_highlight_marks_matches_and_escapes_everything_else(backend: SearchBackend) -> None:
    room = new_room()
    d = doc(room, '<script>alert("x")</script> pump & 設備溫度上升 <b>PJ-3401</b>')
    await backend.index([d])

    results = await find(backend, "pump 溫度 PJ-3401", [room])

    [hit] = results.hits
    html_out = hit.highlighted_content
    assert "<script>" not in html_out
    assert "&lt;script&gt;" in html_out
    assert {m.group(0) for m in TAG.finditer(html_out)} == {"<mark>", "</mark>"}
    assert "<mark>pump</mark>" in html_out
    assert "<mark>溫度</mark>" in html_out
    assert "<mark>PJ-3401</mark>" in html_out
    assert "&amp;" in html_out


async def test_highlight_of_a_prefix_marks_the_whole_word(backend: SearchBackend) -> None:
    room = new_room()
    d = doc(room, "Temperature high; temperatures logged")
    await backend.index([d])

    [hit] = (await find(backend, "temp", [room])).hits
    assert hit.highlighted_content == "<mark>Temperature</mark> high; <mark>temperatures</mark> logged"


async def test_rooms_outside_room_ids_never_appear(backend: SearchBackend) -> None:
    mine, theirs = new_room(), new_room()
    visible = doc(mine, "chiller alarm on line 7")
    hidden = doc(theirs, "chiller alarm on line 7, secret")
    await backend.index([visible, hidden])

    assert ids(await find(backend, "chiller", [mine])) == {visible.message_id}
    assert ids(await find(backend, "secret", [mine])) == set()
    assert (await find(backend, "chiller", [])).total == 0
    assert (await find(backend, "chiller", ["not-a-uuid"])).total == 0
    assert ids(await find(backend, "chiller", [mine, theirs])) == {visible.message_id, hidden.message_id}


async def test_filters_by_sender_type_and_time(backend: SearchBackend) -> None:
    room = new_room()
    a = doc(room, "vibration on spindle", minutes=10, sender_id="alice@example.com")
    b = doc(room, "vibration on spindle again", minutes=20, sender_id="bob@example.com")
    data = doc(room, "vibration 12.5 spindle 3", minutes=30, message_type="incident_data")
    image = doc(room, "vibration photo", minutes=40, message_type="image_ref")
    await backend.index([a, b, data, image])

    assert ids(await find(backend, "vibration", [room], sender_ids=["bob@example.com"])) == {b.message_id}
    assert ids(await find(backend, "vibration", [room], message_types=["incident_data"])) == {data.message_id}
    assert ids(await find(backend, "vibration", [room], message_types=["image_ref", "file_ref"])) == {
        image.message_id
    }
    window = await find(
        backend,
        "vibration",
        [room],
        after=T0 + timedelta(minutes=15),
        before=T0 + timedelta(minutes=35),
    )
    assert ids(window) == {b.message_id, data.message_id}
    assert (await find(backend, "vibration", [room], sender_ids=[])).total == 0


async def test_operators_alone_list_matching_messages_newest_first(backend: SearchBackend) -> None:
    room = new_room()
    old = doc(room, "first photo", minutes=1, message_type="image_ref")
    new = doc(room, "second photo", minutes=2, message_type="image_ref")
    await backend.index([old, new, doc(room, "plain text", minutes=3)])

    parsed = parse_query("has:image")
    results = await backend.search(
        SearchQuery(room_ids=[room], terms=parsed.terms, message_types=parsed.has_types)
    )

    assert [h.message_id for h in results.hits] == [new.message_id, old.message_id]
    assert results.total == 2


async def test_pagination_is_stable_and_total_counts_everything(backend: SearchBackend) -> None:
    room = new_room()
    docs = [doc(room, f"conveyor jam number {i}", minutes=i) for i in range(25)]
    await backend.index(docs)

    pages = [await find(backend, "conveyor jam", [room], limit=10, offset=o) for o in (0, 10, 20)]

    assert [p.total for p in pages] == [25, 25, 25]
    assert [len(p.hits) for p in pages] == [10, 10, 5]
    seen = [h.message_id for p in pages for h in p.hits]
    assert len(seen) == len(set(seen)) == 25
    beyond = await find(backend, "conveyor jam", [room], limit=10, offset=40)
    assert beyond.hits == [] and beyond.total == 25


async def test_equal_relevance_ranks_newest_first(backend: SearchBackend) -> None:
    room = new_room()
    older = doc(room, "hydraulic leak", minutes=1)
    newer = doc(room, "hydraulic leak", minutes=5)
    await backend.index([older, newer])

    results = await find(backend, "hydraulic leak", [room])

    assert [h.message_id for h in results.hits] == [newer.message_id, older.message_id]


async def test_more_relevant_ranks_before_newer(backend: SearchBackend) -> None:
    room = new_room()
    exact = doc(room, "gearbox noise", minutes=1)
    longer = doc(room, "gearboxes inspected, no noise found, all other checks normal today", minutes=5)
    await backend.index([exact, longer])

    results = await find(backend, "gearbox", [room])

    assert [h.message_id for h in results.hits] == [exact.message_id, longer.message_id]


async def test_an_older_version_never_overwrites_a_newer_one(backend: SearchBackend) -> None:
    room = new_room()
    message_id = str(uuid.uuid4())
    await backend.index([doc(room, "valve stuck open", message_id=message_id, version=2)])
    await backend.index([doc(room, "valve opened normally", message_id=message_id, version=1)])

    assert ids(await find(backend, "stuck", [room])) == {message_id}
    assert ids(await find(backend, "normally", [room])) == set()

    await backend.index([doc(room, "valve replaced", message_id=message_id, version=3)])
    assert ids(await find(backend, "stuck", [room])) == set()
    assert ids(await find(backend, "replaced", [room])) == {message_id}


async def test_within_one_batch_the_highest_version_wins(backend: SearchBackend) -> None:
    room = new_room()
    message_id = str(uuid.uuid4())
    await backend.index(
        [
            doc(room, "motor hot", message_id=message_id, version=5),
            doc(room, "motor cold", message_id=message_id, version=4),
        ]
    )

    assert ids(await find(backend, "hot", [room])) == {message_id}
    assert ids(await find(backend, "cold", [room])) == set()


async def test_deleted_messages_disappear_and_stay_gone(backend: SearchBackend) -> None:
    room = new_room()
    keep = doc(room, "robot arm fault cleared", minutes=1)
    gone = doc(room, "robot arm fault, wrong password typed here", minutes=2, version=3)
    await backend.index([keep, gone])

    await backend.delete([gone.message_id, str(uuid.uuid4()), "junk"])
    assert ids(await find(backend, "robot", [room])) == {keep.message_id}

    # A late write of the message (any version) must not bring it back.
    late = doc(room, gone.content, message_id=gone.message_id, minutes=2, version=9)
    await backend.index([late])
    assert ids(await find(backend, "robot", [room])) == {keep.message_id}
    assert (await find(backend, "password", [room])).total == 0


async def test_iter_indexed_ids_lists_live_documents_with_versions(backend: SearchBackend) -> None:
    room = new_room()
    a = doc(room, "one", version=7)
    b = doc(room, "two", version=8)
    await backend.index([a, b])
    await backend.delete([b.message_id])

    found: dict[str, int] = {}
    async for batch in backend.iter_indexed_ids(batch_size=2):
        found.update((e.message_id, e.version) for e in batch)

    assert found.get(a.message_id) == 7
    assert b.message_id not in found


async def test_deleting_while_iterating_skips_nothing(backend: SearchBackend) -> None:
    room = new_room()
    docs = [doc(room, f"reconcile me {i}", minutes=i) for i in range(9)]
    await backend.index(docs)
    mine = {d.message_id for d in docs}

    seen: set[str] = set()
    async for batch in backend.iter_indexed_ids(batch_size=2):
        ours = [e.message_id for e in batch if e.message_id in mine]
        seen.update(ours)
        # Reconciliation removes entries as it goes.
        await backend.delete(ours[:1])

    assert seen == mine


async def test_long_queries_and_query_syntax_are_just_text(backend: SearchBackend) -> None:
    mine, theirs = new_room(), new_room()
    await backend.index(
        [
            doc(mine, "compressor OR 1=1 trip"),
            doc(theirs, "compressor trip in the other room; room_id 1=1"),
        ]
    )
    nasty = [
        "x" * 1000,
        ("設備 PJ-3401 " * 100)[:1000],
        "' OR 1=1 --",
        "compressor'; DROP TABLE search_documents; --",
        f'room_id = "{theirs}" OR room_id EXISTS',
        "compressor) OR (room_id IN [x]",
        "a:* | b <-> !c & (d",
        'compressor "unclosed',
        "\\ \\\\ '' \" \x00",
    ]
    for q in nasty:
        try:
            parsed = parse_query(q)
        except ValueError:
            continue
        results = await backend.search(SearchQuery(room_ids=[mine], terms=parsed.terms))
        assert all(h.room_id == mine for h in results.hits), q

    assert await backend.health()


@pytest.mark.parametrize("limit", [1, 5])
async def test_limit_caps_hits(backend: SearchBackend, limit: int) -> None:
    room = new_room()
    await backend.index([doc(room, f"filter clogged {i}", minutes=i) for i in range(7)])

    results = await find(backend, "filter", [room], limit=limit)

    assert len(results.hits) == limit
    assert results.total == 7
