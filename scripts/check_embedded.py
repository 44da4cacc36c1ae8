"""Exercise the embedded path once: `andon serve` with no DATABASE_URL/REDIS_URL, sign in,
GET /api/me, stop, and check that every child (PostgreSQL, Redis, worker) is gone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"andon serve exited early with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("andon serve did not become ready")


def children_alive(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(data_dir) in line and "ps -eo" not in line]


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="andon-embedded-"))
    os.chmod(data_dir, 0o755)  # noqa: S103 - embedded PostgreSQL runs as `nobody` when we are root
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEILI_URL")}
    env.update({"ANDON_DATA_DIR": str(data_dir), "ANDON_PORT": str(port)})
    andon = [sys.executable, "-m", "api.cli"]
    log = (data_dir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*andon, "serve", "--demo"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, 120)
        password = (data_dir / "demo-password").read_text().strip()
        r = httpx.post(
            f"{base}/api/auth/login", json={"email": "operator@andon.local", "password": password}, timeout=30
        )
        assert r.status_code == 200, r.text
        me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {r.json()['token']}"}, timeout=10)
        assert me.status_code == 200 and me.json()["user_id"] == "operator@andon.local", me.text
        rooms = httpx.get(
            f"{base}/api/rooms", headers={"Authorization": f"Bearer {r.json()['token']}"}, timeout=10
        ).json()
        assert rooms["rooms"], rooms
        print("embedded: signed in as", me.json()["user_id"], "and saw", len(rooms["rooms"]), "room(s)")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise SystemExit("andon serve did not stop within 60 s of SIGTERM") from None
    deadline = time.monotonic() + 20
    while children_alive(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = children_alive(data_dir)
    if left:
        print("\n".join(left), file=sys.stderr)
        raise SystemExit("embedded services still running after stop")
    # A second start reuses the data.
    proc = subprocess.Popen(
        [*andon, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_ready(base, proc, 120)
        password = (data_dir / "demo-password").read_text().strip()
        r = httpx.post(
            f"{base}/api/auth/login", json={"email": "operator@andon.local", "password": password}, timeout=30
        )
        assert r.status_code == 200, "data was not kept across restarts"
        print("embedded: restart reused the data")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
