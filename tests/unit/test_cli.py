"""The `andon` command lists every command, and a missing dependency is an error, not a gap."""

from __future__ import annotations

import argparse
import sys

import pytest

from api import cli


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_command_is_listed() -> None:
    commands = _commands(cli.build_parser())
    assert set(commands) == {"serve", "worker", "migrate", "users", "audit", "search", "report"}
    assert set(_commands(commands["audit"])) == {"verify"}
    assert set(_commands(commands["search"])) == {"reindex"}


def test_a_command_whose_module_cannot_be_imported_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # None in sys.modules makes the import fail as a missing module would.
    monkeypatch.setitem(sys.modules, "api.cli_search", None)
    assert cli.main(["search", "reindex"]) == 2
    err = capsys.readouterr().err
    assert "`andon search` needs the Python module 'api.cli_search'" in err


def test_serve_raises_the_open_files_limit_as_far_as_the_hard_limit_allows() -> None:
    """A fresh process with a soft limit of 256 comes out at min(65536, hard)."""
    import resource
    import subprocess
    import sys

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    code = (
        "import resource\n"
        "from api.domain.core.procs import raise_open_files_limit\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "print(*raise_open_files_limit())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    soft_after, hard_after = map(int, out.stdout.split())
    expected = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    assert (soft_after, hard_after) == (expected, hard)
