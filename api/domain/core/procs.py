"""Process checks shared by the CLI and the metrics cleanup (no heavy imports: the CLI calls this
before prometheus_client may be imported)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# 50,000 connections (issue 19) plus the pools, pub/sub, log and listening sockets.
WANTED_OPEN_FILES = 65536


def raise_open_files_limit(wanted: int = WANTED_OPEN_FILES) -> tuple[int, int]:
    """Raise this process's soft limit on open files towards `wanted`, as far as allowed.

    The soft limit (often 1024) bounds how many WebSockets one process can hold; the hard limit
    is the most an unprivileged process may ask for. Returns (soft, hard) after the attempt;
    children (uvicorn's worker processes) inherit the raised limit.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass  # a container may forbid even that: keep what we have
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard
