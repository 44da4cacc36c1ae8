"""`from:` values against display names: whole names, any word, CJK substrings."""

from __future__ import annotations

import pytest

from search.names import like_patterns, name_matches


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Maintenance Team", "Maintenance"),
        ("Maintenance Team", "team"),
        ("Maintenance Team", "maintenance team"),
        ("Maintenance Team", "ＭＡＩＮＴＥＮＡＮＣＥ"),  # full-width, as some IMEs type it
        ("Chen Wei Ming", "Chen Wei"),
        ("Ops-Night_Shift", "shift"),
        ("王大明", "大明"),
        ("設備課 王大明", "王大明"),
    ],
)
def test_a_value_names_the_user(name: str, value: str) -> None:
    assert name_matches(name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Maintenance Team", "maint"),  # a word, not a prefix of one
        ("Wei Chen", "Chen Wei"),  # words in the name's order
        ("Maintenance Team", "Team Alpha"),
        ("王大明", "李"),
        ("Maintenance Team", ""),
        ("", "team"),
    ],
)
def test_a_value_does_not_name_the_user(name: str, value: str) -> None:
    assert not name_matches(name, value)


def test_like_patterns_narrow_by_every_word_and_escape_wildcards() -> None:
    assert like_patterns("Maintenance Team") == ["%maintenance%", "%team%"]
    assert like_patterns("100%") == ["%100%"]
    assert like_patterns("a_b") == ["%a%", "%b%"]
    assert like_patterns("x\\%y") == ["%x%", "%y%"]
