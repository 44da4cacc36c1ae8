"""`andon report`'s progress bar: redrawn in place on a terminal, a line per 10% elsewhere."""

from __future__ import annotations

import io

from api.cli_report import ProgressBar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_ends_with_a_newline() -> None:
    out = _Tty()
    bar = ProgressBar(out)
    bar(0, 100_000)
    bar(100_000, 100_000)
    bar.finish()
    text = out.getvalue()
    assert text.startswith("\r[" + "." * 30 + "]   0% 0/100,000 messages")
    assert "\r[" + "#" * 30 + "] 100% 100,000/100,000 messages" in text and text.endswith("\n")


def test_elsewhere_one_line_per_tenth() -> None:
    out = io.StringIO()
    bar = ProgressBar(out)
    for done in range(0, 100_001, 500):
        bar(done, 100_000)
    bar.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11 and lines[0] == "report:   0% 0/100,000 messages"
    assert lines[-1] == "report: 100% 100,000/100,000 messages"
