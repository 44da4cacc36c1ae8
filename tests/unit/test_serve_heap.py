"""`andon serve` freezes what start-up built, so full GC passes no longer walk it, and collects less often."""

from __future__ import annotations

import gc

from api import cli_serve


def test_the_served_app_freezes_the_start_up_heap(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    # Not the signal handlers: this is pytest's process.
    monkeypatch.setattr(cli_serve, "_drain_before_exit", lambda app: None)
    cli_serve.get_settings.cache_clear()
    thresholds = gc.get_threshold()
    try:
        app = cli_serve.app_factory()
        assert cli_serve._settle_heap in app.on_startup
        before = gc.get_freeze_count()
        cli_serve._settle_heap()
        # Everything tracked at start-up is now in the permanent generation.
        assert gc.get_freeze_count() > before
        assert gc.get_count()[0] < 100
        # And the collector runs less often than CPython's default (700, 10, 10).
        assert gc.get_threshold() == cli_serve.GC_THRESHOLDS == (10_000, 20, 100)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        cli_serve.get_settings.cache_clear()
