"""The HTTP layer under Web Push sends: a requests session that a hostile endpoint cannot misuse.

pywebpush posts with ``requests``, which follows redirects, has no timeout unless given one, reads
whole bodies and picks up proxies and ``.netrc`` credentials from the environment. A push endpoint
is user-supplied, so the session made by :func:`new_push_session`:

* never follows a redirect (a 3xx is a ``rejected`` outcome for the caller);
* resolves the host on every new connection, refuses it if any address is internal and connects
  only to an address it has just checked, so a DNS answer that changes after the endpoint check
  (DNS rebinding) cannot walk past it;
* bounds the whole exchange (connect, headers and body) by the caller's timeout and reads at most
  :data:`MAX_RESPONSE_BODY_BYTES` of a body;
* ignores environment proxies and credentials (``trust_env = False``);
* calls the thread's :func:`before_first_byte` hook once the connection is up and before the
  first byte of the request is written, so the caller can record "this push may now arrive"
  (a hook that raises stops the request: nothing is sent).

urllib3's DEBUG request line would log the endpoint's path, which is the subscription's
capability: a log filter blanks it, for the whole process.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.connection import create_connection

from api.domain.push.endpoints import InvalidPushEndpoint, PushEndpointUnresolvable, resolve_push_host

__all__ = ["MAX_RESPONSE_BODY_BYTES", "BlockedAddressError", "before_first_byte", "new_push_session"]

MAX_RESPONSE_BODY_BYTES = 8192

_READ_CHUNK = 4096


class _RedactRequestPaths(logging.Filter):
    """Blank the path in urllib3's DEBUG request line: for a push, the path is the capability.

    Installed on urllib3's pool logger for the whole worker process (a filter cannot tell which pool
    logged); only that one DEBUG message changes, and only its path.
    """

    REQUEST_LINE = '%s://%s:%s "%s %s %s" %s %s'

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == self.REQUEST_LINE and isinstance(record.args, tuple) and len(record.args) == 8:
            args = list(record.args)
            args[4] = "/<redacted>"
            record.args = tuple(args)
        return True


def _install_log_redaction() -> None:
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, _RedactRequestPaths) for existing in pool_logger.filters):
        pool_logger.addFilter(_RedactRequestPaths())


_install_log_redaction()


class BlockedAddressError(NewConnectionError):
    """Raised inside urllib3 when the host now resolves to a refused address."""

    def __init__(self, conn: HTTPConnection, reason: str) -> None:
        super().__init__(conn, reason)
        self.reason = reason


def _connect_checked(conn: HTTPConnection, allow_private: bool) -> socket.socket:
    """Resolve, check every address, then connect only to addresses that were checked."""
    host, port = conn.host, conn.port
    assert port is not None  # urllib3 fills in the scheme's default port
    try:
        addresses = resolve_push_host(host, port, allow_private)
    except PushEndpointUnresolvable as exc:
        raise NameResolutionError(host, conn, socket.gaierror(exc.reason)) from None
    except InvalidPushEndpoint as exc:
        raise BlockedAddressError(conn, exc.reason) from None
    budget = conn.timeout if isinstance(conn.timeout, int | float) else None
    started = time.monotonic()
    last_error: OSError | None = None
    for address in addresses:
        remaining = None if budget is None else budget - (time.monotonic() - started)
        if remaining is not None and remaining <= 0:
            break
        try:
            # An IP literal, so create_connection's own getaddrinfo cannot resolve to anything else.
            return create_connection(
                (address.sockaddr[0], port),
                remaining,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except OSError as exc:
            last_error = exc
    if last_error is None or isinstance(last_error, TimeoutError):
        raise ConnectTimeoutError(conn, f"connection to {host} timed out")
    raise NewConnectionError(conn, f"failed to connect to {host}: {type(last_error).__name__}")


_hooks = threading.local()


@contextmanager
def before_first_byte(hook: Callable[[], None]) -> Iterator[None]:
    """Call `hook` (once, in this thread) after connecting and before the request's first byte.

    If the hook raises, the request is not sent and the exception propagates to the caller
    unchanged (it must not be an OSError, which urllib3 would turn into a network failure).
    """
    _hooks.hook = hook
    try:
        yield
    finally:
        _hooks.hook = None


def _fire_hook() -> None:
    hook: Callable[[], None] | None = getattr(_hooks, "hook", None)
    if hook is not None:
        _hooks.hook = None
        hook()


@functools.cache
def _pool_classes(allow_private: bool) -> dict[str, type[HTTPConnectionPool]]:
    class Guard:
        """What both connection classes add: the checked connect, and the hook before the first byte."""

        def _new_conn(self) -> socket.socket:
            this: Any = self
            return _connect_checked(this, allow_private)

        def send(self, data: Any) -> None:
            this: Any = self
            # http.client connects lazily on the first send; connect first, so the hook runs
            # when nothing but the request itself is left to do.
            if this.sock is None and this.auto_open:
                this.connect()
            _fire_hook()
            super().send(data)  # type: ignore[misc]

    class GuardedHTTPConnection(Guard, HTTPConnection):
        pass

    class GuardedHTTPSConnection(Guard, HTTPSConnection):
        pass

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


def _budget_seconds(timeout: Any) -> float:
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout)
    if isinstance(timeout, tuple) and all(isinstance(part, int | float) for part in timeout):
        return float(max(timeout))
    # pywebpush is always given a number by deliver(); anything else is a misuse, bounded anyway.
    return 10.0


class _GuardedAdapter(HTTPAdapter):
    """Connects only to checked addresses, bounds the whole exchange in time and the body in size."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        # No urllib3 retries: the caller owns retry policy, and a retried POST could push twice.
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_pool_classes(self._allow_private))

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        budget = _budget_seconds(timeout)
        deadline = time.monotonic() + budget
        # total= makes urllib3 count connect time against the read timeout, so connect plus headers
        # fit in the budget; the body is read below against the same deadline.
        response = super().send(
            request,
            stream=True,
            # requests' annotation omits it, but HTTPAdapter.send documents and handles a Timeout.
            timeout=urllib3.Timeout(total=budget),  # type: ignore[arg-type]
            verify=verify,
            cert=cert,
            proxies=proxies,
        )
        _read_bounded_body(response, deadline, request)
        return response


def _read_bounded_body(
    response: requests.Response, deadline: float, request: requests.PreparedRequest
) -> None:
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    complete = False
    try:
        while size <= MAX_RESPONSE_BODY_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise requests.ReadTimeout("push service response timed out", request=request)
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                # Each read may wait only for what is left of the budget, so a server trickling a
                # byte at a time cannot stretch the exchange.
                sock.settimeout(remaining)
            chunk = raw.read1(_READ_CHUNK, decode_content=False)
            if not chunk:
                complete = True
                break
            chunks.append(chunk)
            size += len(chunk)
    except ReadTimeoutError as exc:
        raise requests.ReadTimeout("push service response timed out", request=request) from exc
    except (ProtocolError, OSError) as exc:
        raise requests.ConnectionError("push service connection broke", request=request) from exc
    finally:
        if not complete:
            # A half-read connection cannot be reused: drop it rather than return it to the pool.
            raw.close()
            response.close()
    # requests reads the body itself unless told it is consumed; these are the attributes its own
    # Response.content sets, and the only way to hand it a body read under our limits.
    response._content = b"".join(chunks)[:MAX_RESPONSE_BODY_BYTES]
    response._content_consumed = True
    if complete:
        raw.release_conn()


class _PushSession(requests.Session):
    """A requests session that never follows redirects, whatever the caller asks."""

    allow_private: bool

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def new_push_session(*, allow_private: bool) -> requests.Session:
    """A session for :func:`deliver`: no redirects, checked addresses, bounded reads, no env proxies.

    Reuse one per thread (sessions are not thread-safe) to keep connections to a push service alive
    across sends; ``allow_private`` must match the ``allow_private`` given to :func:`deliver`.
    """
    session = _PushSession()
    session.allow_private = allow_private
    # Environment proxies would bypass the address pinning, and .netrc could attach credentials.
    session.trust_env = False
    session.headers["User-Agent"] = "andon-push"
    session.headers["Accept-Encoding"] = "identity"
    adapter = _GuardedAdapter(allow_private)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
