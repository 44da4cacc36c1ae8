"""A real Web Push service on loopback, for tests that send pushes over HTTP.

It does what a browser vendor's push service does to an application server's request, and records
what it saw:

* it MINTS subscriptions (a P-256 key pair and a 16-byte auth secret per subscription, as a browser
  would), so it can decrypt what is sent to them (RFC 8291, aes128gcm);
* it verifies the ``Authorization: vapid t=<jwt>,k=<key>`` header (RFC 8292): the ES256 signature,
  ``aud`` equal to the endpoint's origin, ``exp`` in the future and at most 24 hours ahead, a ``sub``;
* it records the ``TTL`` and ``Urgency`` headers and the decrypted JSON payload;
* it answers each subscription with a programmed sequence of replies (429 with Retry-After, 410,
  500, a redirect, or no answer at all until the service closes), then 201 Created.

Requests that fail verification are answered as real services do (401 for a bad VAPID token, 400 for
a body that does not decrypt, 404 for an unknown subscription) without consuming a programmed reply.

Usage::

    with FakePushService() as service:
        sub = service.mint_subscription()
        service.program(sub.token, Reply.rate_limited(retry_after="1"), Reply.created())
        ... send to sub.endpoint with sub.p256dh / sub.auth ...
        [push] = service.wait_for_deliveries(1, token=sub.token, timeout=5)
        assert push.payload["kind"] == "mention"

All accessors are thread-safe; the ``wait_for_*`` methods block on a condition variable with a
timeout (never a sleep loop) and raise ``TimeoutError`` describing what did arrive.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.jwt import decode as decode_vapid_jwt

__all__ = ["FakePushService", "MintedSubscription", "PushAttempt", "Reply"]

_PUSH_PATH = re.compile(r"^/push/([A-Za-z0-9_-]+)$")
_VAPID_HEADER = re.compile(r"^vapid\s+t=([^,\s]+)\s*,\s*k=([A-Za-z0-9_-]+)\s*$", re.IGNORECASE)
_URGENCIES = {"very-low", "low", "normal", "high"}
# RFC 8030 services refuse bodies over 4096 bytes with 413.
_MAX_BODY = 4096
# RFC 8292 §2: exp no more than 24 hours from the time of the request.
_MAX_EXP_AHEAD = 24 * 60 * 60


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Reply:
    """One programmed answer to a push request."""

    status: int = 201
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False
    body: bytes = b""

    @classmethod
    def created(cls) -> Reply:
        """201 Created: the push was accepted (what real services answer)."""
        return cls(201)

    @classmethod
    def gone(cls, status: int = 410) -> Reply:
        """410 Gone (or 404): the subscription no longer exists."""
        return cls(status)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "1") -> Reply:
        """429 Too Many Requests, with ``Retry-After`` unless ``retry_after`` is None."""
        return cls(429, {"Retry-After": retry_after} if retry_after is not None else {})

    @classmethod
    def server_error(cls, status: int = 500, retry_after: str | None = None) -> Reply:
        """A 5xx answer, optionally with ``Retry-After``."""
        return cls(status, {"Retry-After": retry_after} if retry_after is not None else {})

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Reply:
        """A redirect a push client must not follow."""
        return cls(status, {"Location": location})

    @classmethod
    def never_answer(cls) -> Reply:
        """Read the request, then send nothing until the service closes."""
        return cls(0, hang=True)


@dataclass(frozen=True)
class MintedSubscription:
    """A subscription as a browser would hand it to the application server."""

    token: str
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class PushAttempt:
    """Everything the service saw of one POST, and how it answered.

    ``answered`` is None when it never answered. ``problems`` lists every verification failure (empty
    when the request was a valid push). ``payload`` is the decrypted body parsed as JSON (None when it
    could not be decrypted or was not JSON); ``claims`` the verified VAPID claims.
    """

    token: str
    answered: int | None
    problems: tuple[str, ...]
    payload: Any
    plaintext: bytes | None
    claims: Mapping[str, Any] | None
    vapid_public_key: str | None
    ttl: int | None
    urgency: str | None
    headers: Mapping[str, str]
    body_size: int
    # time.monotonic() when the request arrived (for tests of when pushes come).
    received_at: float = 0.0

    @property
    def delivered(self) -> bool:
        """A valid push that the service accepted (2xx)."""
        return not self.problems and self.answered is not None and 200 <= self.answered < 300


@dataclass
class _Subscription:
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    replies: deque[Reply] = field(default_factory=deque)


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (and released first), so no test leaves threads running.
    daemon_threads = False
    block_on_close = True
    push_service: FakePushService


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real push services offer
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.push_service._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.push_service._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: the default writes every request line to stderr.
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        reply = self.server.push_service._handle_post(self.path, dict(self.headers.items()), body)
        if reply.hang:
            self.server.push_service._hang()
            self.close_connection = True
            return
        self._answer(reply.status, reply.headers, reply.body)

    def do_GET(self) -> None:
        self._answer(405, {}, b"")

    def _answer(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            # The client may hang up before reading a large body (the push client caps what it reads).
            self.close_connection = True


class FakePushService:
    """A loopback push service; use as a context manager (or call :meth:`start` / :meth:`close`)."""

    def __init__(self, host: str = "127.0.0.1", *, expected_vapid_public_key: str | None = None) -> None:
        self._host = host
        self._expected_key = expected_vapid_public_key
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._subscriptions: dict[str, _Subscription] = {}
        self._attempts: list[PushAttempt] = []
        self._hanging = 0
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind an ephemeral port on the host and serve in a background thread."""
        server = _Server((self._host, 0), _Handler)
        server.push_service = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-push-service"
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Release hanging requests, drop open connections, stop serving and join every thread."""
        self._closing.set()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            # Unblocks handler threads waiting on idle keep-alive connections.
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- addresses and subscriptions ---------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://host:port``: the audience every VAPID token sent here must name."""
        if self._server is None:
            raise RuntimeError("the fake push service is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url_for(self, token: str) -> str:
        """The endpoint URL of the subscription called ``token``."""
        return f"{self.origin}/push/{token}"

    def mint_subscription(self, token: str | None = None) -> MintedSubscription:
        """Create a subscription as a browser would: a P-256 key pair and a 16-byte auth secret."""
        token = token or secrets.token_urlsafe(16)
        if not re.fullmatch(r"[A-Za-z0-9_-]+", token):
            raise ValueError("token must be URL-safe")
        private_key = ec.generate_private_key(ec.SECP256R1())
        auth_secret = os.urandom(16)
        with self._lock:
            if token in self._subscriptions:
                raise ValueError(f"subscription {token!r} already exists")
            self._subscriptions[token] = _Subscription(private_key, auth_secret)
        public = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return MintedSubscription(
            token=token, endpoint=self.url_for(token), p256dh=_b64url(public), auth=_b64url(auth_secret)
        )

    def program(self, token: str, *replies: Reply) -> None:
        """Queue replies for the next valid pushes to ``token``; once used up, pushes get 201."""
        with self._lock:
            self._subscriptions[token].replies.extend(replies)

    def reprogram(self, token: str, *replies: Reply) -> None:
        """Replace the replies still queued for ``token`` (none: every push gets 201)."""
        with self._lock:
            queued = self._subscriptions[token].replies
            queued.clear()
            queued.extend(replies)

    # --- what was received -------------------------------------------------------------------------

    def attempts(self, token: str | None = None) -> list[PushAttempt]:
        """Every POST so far (to ``token`` only, if given), in arrival order."""
        with self._lock:
            return self._select(self._attempts, token, lambda attempt: True)

    def deliveries(self, token: str | None = None) -> list[PushAttempt]:
        """The valid pushes the service accepted (2xx), in arrival order."""
        with self._lock:
            return self._select(self._attempts, token, lambda attempt: attempt.delivered)

    def payloads(self, token: str) -> list[Any]:
        """The decrypted JSON payloads delivered to ``token``."""
        return [attempt.payload for attempt in self.deliveries(token)]

    @property
    def hanging(self) -> int:
        """How many requests are currently left unanswered."""
        with self._lock:
            return self._hanging

    def wait_for_attempts(
        self, count: int, *, token: str | None = None, timeout: float = 5.0
    ) -> list[PushAttempt]:
        """Block until at least ``count`` POSTs arrived (to ``token``), then return them all."""
        return self._wait(count, token, lambda attempt: True, "attempts", timeout)

    def wait_for_deliveries(
        self, count: int, *, token: str | None = None, timeout: float = 5.0
    ) -> list[PushAttempt]:
        """Block until at least ``count`` valid pushes were accepted (for ``token``), then return them."""
        return self._wait(count, token, lambda attempt: attempt.delivered, "deliveries", timeout)

    def wait_for_hanging(self, count: int, *, timeout: float = 5.0) -> None:
        """Block until ``count`` requests are being held unanswered."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._hanging >= count, timeout=timeout):
                raise TimeoutError(f"{self._hanging} requests hanging after {timeout}s, wanted {count}")

    async def wait_for_deliveries_async(
        self, count: int, *, token: str | None = None, timeout: float = 5.0
    ) -> list[PushAttempt]:
        """:meth:`wait_for_deliveries` for async tests, waiting in a worker thread."""
        return await asyncio.to_thread(self.wait_for_deliveries, count, token=token, timeout=timeout)

    def _select(
        self, attempts: list[PushAttempt], token: str | None, keep: Callable[[PushAttempt], bool]
    ) -> list[PushAttempt]:
        return [a for a in attempts if (token is None or a.token == token) and keep(a)]

    def _wait(
        self,
        count: int,
        token: str | None,
        keep: Callable[[PushAttempt], bool],
        what: str,
        timeout: float,
    ) -> list[PushAttempt]:
        with self._changed:
            arrived = self._changed.wait_for(
                lambda: len(self._select(self._attempts, token, keep)) >= count, timeout=timeout
            )
            selected = self._select(self._attempts, token, keep)
            if not arrived:
                seen = [
                    (a.token, a.answered, a.problems)
                    for a in self._select(self._attempts, token, lambda attempt: True)
                ]
                raise TimeoutError(
                    f"{len(selected)} {what} after {timeout}s, wanted {count}; attempts seen: {seen}"
                )
            return selected

    # --- request handling (handler threads) --------------------------------------------------------

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _hang(self) -> None:
        with self._changed:
            self._hanging += 1
            self._changed.notify_all()
        try:
            # Bounded so a forgotten close() cannot wedge the test process forever.
            self._closing.wait(timeout=120)
        finally:
            with self._changed:
                self._hanging -= 1
                self._changed.notify_all()

    def _handle_post(self, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        lowered = {name.lower(): value for name, value in headers.items()}
        match = _PUSH_PATH.match(path)
        token = match.group(1) if match else ""
        with self._lock:
            subscription = self._subscriptions.get(token)
        problems: list[str] = []
        claims: Mapping[str, Any] | None = None
        vapid_key: str | None = None
        plaintext: bytes | None = None
        payload: Any = None
        ttl, urgency = self._transport_headers(lowered, problems)
        # The answer real services give for the most fundamental problem found.
        status_for_problem = 400
        if subscription is None:
            problems.append("unknown subscription")
            status_for_problem = 404
        else:
            vapid_problems: list[str] = []
            claims, vapid_key = self._verify_vapid(lowered.get("authorization"), vapid_problems)
            plaintext, payload = self._decrypt(subscription, lowered, body, problems)
            if len(body) > _MAX_BODY:
                status_for_problem = 413
            elif vapid_problems:
                status_for_problem = 401
            problems.extend(vapid_problems)

        with self._changed:
            if problems:
                reply = Reply(status_for_problem)
            elif subscription is not None and subscription.replies:
                reply = subscription.replies.popleft()
            else:
                reply = Reply.created()
            self._attempts.append(
                PushAttempt(
                    token=token,
                    answered=None if reply.hang else reply.status,
                    problems=tuple(problems),
                    payload=payload,
                    plaintext=plaintext,
                    claims=claims,
                    vapid_public_key=vapid_key,
                    ttl=ttl,
                    urgency=urgency,
                    headers=lowered,
                    body_size=len(body),
                    received_at=time.monotonic(),
                )
            )
            self._changed.notify_all()
        return reply

    @staticmethod
    def _transport_headers(headers: Mapping[str, str], problems: list[str]) -> tuple[int | None, str | None]:
        ttl: int | None = None
        raw_ttl = headers.get("ttl")
        if raw_ttl is None:
            problems.append("TTL header missing")  # RFC 8030 §5.2 makes it mandatory
        elif not raw_ttl.strip().isdigit():
            problems.append("TTL header is not a non-negative integer")
        else:
            ttl = int(raw_ttl)
        urgency = headers.get("urgency")
        if urgency is not None and urgency not in _URGENCIES:
            problems.append(f"Urgency {urgency!r} is not one of {sorted(_URGENCIES)}")
        return ttl, urgency

    def _verify_vapid(
        self, authorization: str | None, problems: list[str]
    ) -> tuple[Mapping[str, Any] | None, str | None]:
        if not authorization:
            problems.append("Authorization header missing")
            return None, None
        match = _VAPID_HEADER.match(authorization)
        if not match:
            problems.append("Authorization is not 'vapid t=<jwt>,k=<key>'")
            return None, None
        token, key = match.groups()
        try:
            header = json.loads(_b64url_decode(token.split(".", 1)[0]))
        except ValueError:
            problems.append("VAPID JWT header is not JSON")
            return None, key
        if header.get("alg") != "ES256":
            problems.append(f"VAPID JWT alg is {header.get('alg')!r}, not ES256")
        try:
            claims = decode_vapid_jwt(token, key)
        except (InvalidSignature, ValueError):
            problems.append("VAPID JWT signature does not verify")
            return None, key
        if self._expected_key is not None and key != self._expected_key:
            problems.append("VAPID key is not the expected application server key")
        if claims.get("aud") != self.origin:
            problems.append(f"VAPID aud {claims.get('aud')!r} is not {self.origin!r}")
        exp = claims.get("exp")
        now = time.time()
        if not isinstance(exp, int) or exp <= now:
            problems.append("VAPID exp missing or in the past")
        elif exp > now + _MAX_EXP_AHEAD + 60:
            problems.append("VAPID exp more than 24 hours ahead")
        if not claims.get("sub"):
            problems.append("VAPID sub missing")
        return claims, key

    @staticmethod
    def _decrypt(
        subscription: _Subscription, headers: Mapping[str, str], body: bytes, problems: list[str]
    ) -> tuple[bytes | None, Any]:
        if len(body) > _MAX_BODY:
            problems.append(f"body of {len(body)} bytes is over {_MAX_BODY}")
            return None, None
        if headers.get("content-encoding", "").lower() != "aes128gcm":
            problems.append(f"Content-Encoding {headers.get('content-encoding')!r} is not aes128gcm")
            return None, None
        try:
            plaintext = http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth_secret,
                version="aes128gcm",
            )
        except Exception as exc:  # any failure of the encryption layer is the sender's fault
            problems.append(f"body does not decrypt: {type(exc).__name__}: {exc}")
            return None, None
        try:
            return plaintext, json.loads(plaintext)
        except ValueError:
            problems.append("decrypted body is not JSON")
            return plaintext, None
