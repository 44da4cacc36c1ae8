"""Tokenizer, highlighter, tsquery building, documents and the Meilisearch pure parts."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from search.base import QueryTerm, SearchQuery
from search.documents import document_from_message, incident_data_text, version_from_timestamp
from search.highlight import highlight
from search.meilisearch import Sentinels, build_filter, build_q, quote_filter_value
from search.pg_tsearch import build_tsqueries, tsvector_literal
from search.query_syntax import parse_query
from search.tokens import query_pieces, tokenize

TAG = re.compile(r"<[^>]*>")


def lexemes(text: str, **kw: bool) -> list[tuple[str, int]]:
    return [(t.lexeme, t.position) for t in tokenize(text, **kw)]


def test_words_split_at_letter_digit_boundaries_and_fold_case_and_width() -> None:
    assert lexemes("PJ-3401 pj3401 ＰＪ－３４０１") == [
        ("pj", 0),
        ("3401", 1),
        ("pj", 2),
        ("3401", 3),
        ("pj", 4),
        ("3401", 5),
    ]


def test_cjk_runs_give_bigrams_and_unigrams_at_shared_positions() -> None:
    assert lexemes("設備溫度") == [
        ("設備", 0),
        ("設", 0),
        ("備溫", 1),
        ("備", 1),
        ("溫度", 2),
        ("溫", 2),
        ("度", 3),
    ]
    assert lexemes("設備溫度 x", for_query=True) == [("設備", 0), ("備溫", 1), ("溫度", 2), ("x", 4)]


def test_token_offsets_point_into_the_original_text() -> None:
    raw = "ＰＪ－３４０１ café"
    spans = [raw[t.start : t.end] for t in tokenize(raw)]
    assert spans == ["ＰＪ", "３４０１", "café"]


def test_only_a_last_word_piece_of_two_characters_or_more_is_a_prefix() -> None:
    assert [p.prefix for p in query_pieces("PJ-34", True)] == [False, True]
    assert [p.prefix for p in query_pieces("line 1", True)] == [False, False]
    assert [p.prefix for p in query_pieces("溫度", True)] == [False]
    assert [p.prefix for p in query_pieces("temp", False)] == [False]


def test_highlight_escapes_raw_text_and_marks_matches_only() -> None:
    content = '<img src=x onerror="alert(1)"> &amp; 溫度 <mark>fake</mark> pump'
    out = highlight(content, parse_query("溫度 pump mark").terms)

    assert {m.group(0) for m in TAG.finditer(out)} == {"<mark>", "</mark>"}
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out
    assert "&amp;amp;" in out
    assert "&lt;<mark>mark</mark>&gt;fake&lt;/<mark>mark</mark>&gt;" in out
    assert out.endswith("<mark>pump</mark>")


def test_highlight_marks_phrases_and_chinese_substrings_as_one_span() -> None:
    out = highlight("設備溫度上升; line 3 stopped", parse_query('溫度上升 "line 3"').terms)
    assert out == "設備<mark>溫度上升</mark>; <mark>line 3</mark> stopped"


def test_highlight_marks_a_single_chinese_character() -> None:
    assert highlight("溫度 升溫", parse_query("溫").terms) == "<mark>溫</mark>度 升<mark>溫</mark>"


def test_highlight_without_matches_is_just_escaped() -> None:
    assert highlight("a < b", (QueryTerm("zzz"),)) == "a &lt; b"


def test_tsvector_has_positions_weights_and_edge_grams() -> None:
    tsv = tsvector_literal("Temp 85", "Li")
    assert "'temp':1A" in tsv
    assert "'85':2A" in tsv
    assert "'li':" in tsv and "D" in tsv.split("'li':")[1].split(" ")[0]
    for gram in ("'~te'", "'~tem'", "'~temp'", "'~85'", "'~li'"):
        assert gram in tsv


def test_tsqueries_keep_prefixes_out_of_the_index() -> None:
    q = build_tsqueries(parse_query("溫度上升 PJ-3401").terms)
    assert q is not None
    assert ":*" not in q.index
    assert q.index == "('溫度' <1> '度上' <1> '上升') & ('pj' & '~3401')"
    assert q.full == "('溫度' <1> '度上' <1> '上升') & ('pj' <1> '3401':*)"
    assert q.recheck
    assert q.exact == "('溫度' <1> '度上' <1> '上升') & ('pj' <1> '3401')"


def test_short_prefix_alone_needs_no_recheck() -> None:
    q = build_tsqueries(parse_query("pump te").terms)
    assert q is not None
    assert q.index == "'pump' & '~te'"
    assert not q.recheck


def test_quotes_in_lexemes_cannot_break_out() -> None:
    q = build_tsqueries((QueryTerm("it's"),))
    assert q is not None
    assert q.full == "('it' <1> 's')"


def test_incident_data_renders_keys_and_values_in_order() -> None:
    data = {"temperature": 85.0, "pressure": 120.5, "line": "L3", "ok": True, "sub": {"note": "溫度上升"}}
    assert incident_data_text(data) == "temperature 85 pressure 120.5 line L3 ok true sub note 溫度上升"
    assert incident_data_text('{"a": [1, 2]}') == "a 1 2"


def test_document_from_message_skips_deleted_and_system_messages() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    row = {
        "message_id": "6f0ad1c4-3f0e-4d57-9a25-6a4c6c1f1b11",
        "room_id": "1b0e7d3a-94f4-4c7d-9f43-3a4a6f1e8c22",
        "sender_id": "a@example.com",
        "message_type": "incident_data",
        "content": None,
        "data": {"temperature": 85},
        "created_at": at,
        "updated_at": at,
        "sequence_number": 7,
        "deleted_at": None,
    }
    doc = document_from_message(row, None)
    assert doc is not None
    assert doc.content == "temperature 85"
    assert doc.sender_display_name == "a@example.com"
    assert doc.version == version_from_timestamp(at)
    assert document_from_message({**row, "deleted_at": at}, "A") is None
    assert document_from_message({**row, "message_type": "system"}, "A") is None


def test_meilisearch_filters_quote_every_value() -> None:
    query = SearchQuery(
        room_ids=["r"],
        sender_ids=['x" OR room_id = "other'],
        message_types=["image_ref"],
        after=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parts = build_filter(query, ["6f0ad1c4-3f0e-4d57-9a25-6a4c6c1f1b11"])
    assert parts[0] == "deleted = false"
    assert parts[1] == 'room_id IN ["6f0ad1c4-3f0e-4d57-9a25-6a4c6c1f1b11"]'
    assert parts[2] == 'sender_id IN ["x\\" OR room_id = \\"other"]'
    assert parts[4] == "created_at > 1767225600000000"
    assert quote_filter_value("a\\") == '"a\\\\"'


def test_meilisearch_q_keeps_phrases_and_drops_stray_quotes() -> None:
    assert build_q(parse_query('pump "line 3" a"b').terms) == 'pump "line 3" a b'


def test_meilisearch_highlight_escapes_everything_but_the_sentinels() -> None:
    s = Sentinels()
    fake = "<mark>x</mark>"
    out = s.to_html(f"<script>{s.pre}pump{s.post}</script>{fake}")
    assert out == "&lt;script&gt;<mark>pump</mark>&lt;/script&gt;&lt;mark&gt;x&lt;/mark&gt;"
    assert Sentinels().pre != s.pre


def test_incident_data_units_follow_their_readings_and_the_units_key_is_not_text() -> None:
    data = {"pressure": 95, "station": "ST-7", "_units": {"pressure": "bar"}, "timestamp": "2026-12-04T02:15:00Z"}
    assert incident_data_text(data) == "pressure 95 bar station ST-7 timestamp 2026-12-04T02:15:00Z"
    # A malformed `_units` is indexed like any other field.
    assert incident_data_text({"t": 1, "_units": "C"}) == "t 1 _units C"
