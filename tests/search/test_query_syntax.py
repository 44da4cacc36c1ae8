"""The `q` parser: words, phrases, operators, limits."""

from __future__ import annotations

import pytest

from search.base import QueryTerm
from search.compose import compose_query
from search.query_syntax import (
    MAX_QUERY_CHARS,
    EmptyQuery,
    QuerySyntaxError,
    QueryTooLong,
    parse_query,
)


def test_words_all_count_and_only_the_last_is_a_prefix() -> None:
    parsed = parse_query("pump  pressure temp")

    assert parsed.terms == (
        QueryTerm("pump"),
        QueryTerm("pressure"),
        QueryTerm("temp", prefix=True),
    )


def test_quoted_phrases_stay_whole_and_are_never_prefixes() -> None:
    parsed = parse_query('"line 3 stopped" pump "冷卻 水"')

    assert parsed.terms == (
        QueryTerm("line 3 stopped", phrase=True),
        QueryTerm("pump"),
        QueryTerm("冷卻 水", phrase=True),
    )


def test_chinese_quotes_and_an_unclosed_quote_make_phrases() -> None:
    assert parse_query("\u201c溫度 上升\u201d").terms == (QueryTerm("溫度 上升", phrase=True),)
    assert parse_query("「良率」 x").terms[0] == QueryTerm("良率", phrase=True)
    assert parse_query('pump "no end').terms == (QueryTerm("pump"), QueryTerm("no end", phrase=True))


def test_operators_become_filters() -> None:
    parsed = parse_query('from:alice@example.com in:3f1c has:image pump FROM:"Chen Wei" has:data')

    assert parsed.from_users == ("alice@example.com", "Chen Wei")
    assert parsed.in_rooms == ("3f1c",)
    assert parsed.has_types == ("image_ref", "incident_data")
    assert parsed.terms == (QueryTerm("pump", prefix=True),)


def test_operators_alone_are_a_valid_query() -> None:
    parsed = parse_query("has:file")

    assert parsed.terms == ()
    assert parsed.has_types == ("file_ref",)


def test_unknown_operators_are_plain_words() -> None:
    parsed = parse_query("foo:bar room_id:1")

    assert [t.text for t in parsed.terms] == ["foo:bar", "room_id:1"]


def test_an_operator_without_a_value_is_a_word() -> None:
    assert parse_query("from: pump").terms == (QueryTerm("from:"), QueryTerm("pump", prefix=True))


def test_unknown_has_value_is_an_error() -> None:
    with pytest.raises(QuerySyntaxError):
        parse_query("has:video pump")


@pytest.mark.parametrize("q", ["", "   ", "!!! --- ,,,", '""', '"  " -- "!"'])
def test_nothing_to_search_is_an_error(q: str) -> None:
    with pytest.raises(EmptyQuery):
        parse_query(q)


def test_length_limit_is_inclusive() -> None:
    assert parse_query("a" * MAX_QUERY_CHARS).terms
    with pytest.raises(QueryTooLong):
        parse_query("a" * (MAX_QUERY_CHARS + 1))


def test_errors_are_value_errors_for_the_api() -> None:
    assert issubclass(QuerySyntaxError, ValueError)
    assert issubclass(EmptyQuery, QuerySyntaxError)
    assert issubclass(QueryTooLong, QuerySyntaxError)


ROOMS = ["r1", "r2", "r3"]


def test_compose_bounds_everything_by_the_readable_rooms() -> None:
    query = compose_query(parse_query("pump in:r2 in:r9"), readable_room_ids=ROOMS)

    assert query is not None
    assert list(query.room_ids) == ["r2"]


def test_compose_returns_none_when_nothing_can_match() -> None:
    assert compose_query(parse_query("pump in:r9"), readable_room_ids=ROOMS) is None
    assert compose_query(parse_query("pump"), readable_room_ids=ROOMS, room_id="r9") is None
    assert compose_query(parse_query("pump"), readable_room_ids=[]) is None
    assert compose_query(parse_query("from:nobody pump"), readable_room_ids=ROOMS, from_sender_ids=[]) is None
    assert compose_query(parse_query("has:image"), readable_room_ids=ROOMS, message_type="text") is None


def test_compose_intersects_operators_with_parameters() -> None:
    query = compose_query(
        parse_query("from:Chen has:image has:file pump"),
        readable_room_ids=ROOMS,
        from_sender_ids=["chen@example.com", "chen.w@example.com"],
        sender_id="chen@example.com",
        message_type="file_ref",
        room_id="r3",
        limit=5,
        offset=10,
    )

    assert query is not None
    assert list(query.room_ids) == ["r3"]
    assert query.sender_ids == ["chen@example.com"]
    assert query.message_types == ["file_ref"]
    assert (query.limit, query.offset) == (5, 10)
    assert query.terms == (QueryTerm("pump", prefix=True),)
