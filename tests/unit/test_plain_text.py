"""Web Push bodies show a message's words, not its Markdown source."""

from __future__ import annotations

import pytest

from api.domain.messages.plain_text import plain_text
from api.domain.push.planning import PREVIEW_CHARS, preview_of


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**Line 3** is _down_", "Line 3 is down"),
        ("see [the runbook](https://wiki.example/rb/7) now", "see the runbook now"),
        ("dashboard: https://grafana.example/d/1", "dashboard: https://grafana.example/d/1"),
        ("<https://grafana.example/d/2>", "https://grafana.example/d/2"),
        ("use `reset --hard` first", "use reset --hard first"),
        ("- check valve\n- call shift lead", "check valve call shift lead"),
        ("1. stop\n2. lock out", "stop lock out"),
        ("> quoted\n\nanswer", "quoted answer"),
        ("```\npressure 95\n```", "pressure 95"),
        ("line one\nline two", "line one line two"),
        ("plain words, nothing to format", "plain words, nothing to format"),
        ("2 * 3 = 6", "2 * 3 = 6"),
        ("壓力 **過高** 請檢查", "壓力 過高 請檢查"),
        ("AT&amp;T \\*not bold\\*", "AT&T *not bold*"),
        ("", ""),
    ],
)
def test_markdown_becomes_its_words(markdown: str, plain: str) -> None:
    assert plain_text(markdown) == plain


def test_html_and_unsafe_links_stay_as_typed_words() -> None:
    assert plain_text('<img src=x onerror="alert(1)"> **ok**') == '<img src=x onerror="alert(1)"> ok'
    # Not a link the client would make: shown as typed rather than as "x".
    assert plain_text("[x](javascript:alert(1))") == "[x](javascript:alert(1))"


def test_push_previews_are_plain_and_still_bounded() -> None:
    assert preview_of("text", "**Press 4** jammed, see [runbook](https://wiki.example/rb)", None) == (
        "Press 4 jammed, see runbook"
    )
    assert preview_of("image_ref", "_blurred_ gauge", None) == "blurred gauge"
    long = preview_of("text", "**" + "字" * 500 + "**", None)
    assert len(long) == PREVIEW_CHARS and long.endswith("…") and "*" not in long
    # Incident data stays its JSON text (keys and values are not Markdown).
    assert preview_of("incident_data", None, {"note": "**x**"}) == '{"note":"**x**"}'
