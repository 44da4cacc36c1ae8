"""`andon worker` yields the CPU to the realtime path: every thread of it runs reniced."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.workers.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]


def _thread_niceness(pid: int) -> dict[int, int]:
    """Niceness of each thread of `pid`, from /proc (field 19 of stat, after the command name)."""
    out: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(task.name)] = int(fields[16])
    return out


def test_every_worker_thread_runs_at_the_default_niceness(stack: Stack) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    niceness = _thread_niceness(stack.worker.proc.pid)
    # The Celery pool threads, the relay and the asyncio runtime: more than the main thread.
    assert len(niceness) > 2
    assert set(niceness.values()) == {min(19, base + 10)}


def test_a_niceness_out_of_range_is_refused() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", "worker", "--nice", "25"],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert b"--nice must be between 0 and 19" in proc.stderr
