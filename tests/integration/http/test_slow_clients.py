"""Slow and idle HTTP clients against a real `andon serve` (raw sockets): a head that never
completes, a body that stalls, an idle keep-alive connection are each closed within their bound;
normal requests and WebSocket upgrades are not affected."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.clients import Api
from tests.support.servers import ServerProcess, start_server

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
KEEP_ALIVE = 1.0
# Slack for a loaded machine: the bound is the setting plus this.
SLACK = 3.0


@pytest.fixture(scope="module")
def impatient_server(base_env: dict[str, str]) -> Iterator[ServerProcess]:
    env = dict(base_env)
    env.update(
        HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        HTTP_BODY_TIMEOUT=str(BODY_TIMEOUT),
        HTTP_KEEP_ALIVE_TIMEOUT=str(int(KEEP_ALIVE)),
    )
    server = start_server(env)
    try:
        yield server
    finally:
        server.stop()


def _connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(HEADER_TIMEOUT + BODY_TIMEOUT + KEEP_ALIVE + 2 * SLACK)
    return sock


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (head and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    started = time.monotonic()
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


def test_a_client_that_stalls_half_way_through_a_header_line_is_disconnected(
    impatient_server: ServerProcess,
) -> None:
    with _connect(impatient_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaa")
        received, took = _read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408")
    assert took < HEADER_TIMEOUT + SLACK


def test_a_client_that_trickles_its_head_byte_by_byte_is_bounded_by_the_whole_head(
    impatient_server: ServerProcess,
) -> None:
    with _connect(impatient_server) as sock:
        started = time.monotonic()
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: " + b"a" * 4000
        closed = False
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            # A byte each 50 ms keeps every single read "active".
            time.sleep(0.05)
            if time.monotonic() - started > HEADER_TIMEOUT + SLACK:
                break
        if not closed:
            _read_until_closed(sock)
        took = time.monotonic() - started
    assert took < HEADER_TIMEOUT + SLACK + 0.5


def test_a_connection_that_sends_nothing_is_closed(impatient_server: ServerProcess) -> None:
    with _connect(impatient_server) as sock:
        _received, took = _read_until_closed(sock)
    assert took < HEADER_TIMEOUT + SLACK


def test_a_body_that_stalls_is_cut_off(impatient_server: ServerProcess) -> None:
    with _connect(impatient_server) as sock:
        sock.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"email": '
        )
        _received, took = _read_until_closed(sock)
    assert took < BODY_TIMEOUT + SLACK


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(
    impatient_server: ServerProcess,
) -> None:
    with _connect(impatient_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = _read_response(sock)
        assert first.startswith(b"HTTP/1.1 200")
        rest, took = _read_until_closed(sock)
    assert rest == b""
    assert KEEP_ALIVE - 0.2 < took < KEEP_ALIVE + SLACK


def test_normal_requests_on_one_keep_alive_connection_are_served(impatient_server: ServerProcess) -> None:
    with _connect(impatient_server) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = _read_response(sock)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            # Idle less than the keep-alive bound between requests.
            time.sleep(KEEP_ALIVE / 3)


def test_a_head_too_large_is_refused(impatient_server: ServerProcess) -> None:
    with _connect(impatient_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for _ in range(40):
                sock.sendall(b"X-Pad: " + b"a" * 4000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        received, _took = _read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 431")


@pytest.mark.asyncio(loop_scope="session")
async def test_a_websocket_outlives_the_header_and_keep_alive_bounds(
    impatient_server: ServerProcess, database_url: str
) -> None:
    api = Api(impatient_server.base_url, database_url)
    try:
        alice = await api.user("alice")
        room = await api.room(alice)
        ws = await api.connect(alice, room)
        assert ws.connected is not None
        # Longer than every HTTP bound, the socket still works.
        await asyncio.sleep(HEADER_TIMEOUT + KEEP_ALIVE + 0.5)
        ack = await ws.send_message("still here")
        assert ack["type"] == "ack"
        await ws.close()
    finally:
        await api.aclose()
