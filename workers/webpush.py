"""Send one Web Push message with pywebpush and say what happened, without deciding what to do next.

:func:`deliver` is the whole interface: it encrypts the payload for the subscription, signs a VAPID
token, POSTs once and classifies the outcome (:class:`DeliveryOutcome`). It never retries, sleeps or
touches the database: the Celery task around it deletes a ``gone`` subscription, honours
``retry_after`` on ``rate_limited`` and backs off on ``server_error``, ``timeout`` and
``network_error``.

The endpoint is checked against the SSRF rules (:func:`api.domain.push.endpoints.check_push_endpoint`)
before every send, and the POST goes through the guarded session of :mod:`workers.webpush_http`
(no redirects, checked addresses at connect time, a bounded exchange).

Nothing here logs or returns the endpoint's path (the subscription's capability), the keys, the VAPID
token or the payload: only the origin, the status and the outcome.
"""

from __future__ import annotations

import email.utils
import enum
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from py_vapid import Vapid01, VapidException
from pywebpush import WebPushException, webpush
from urllib3.exceptions import NameResolutionError

from api.domain.push.endpoints import (
    InvalidPushEndpoint,
    InvalidSubscriptionKeys,
    PushEndpointUnresolvable,
    check_push_endpoint,
    parse_push_endpoint,
    validate_subscription_keys,
)
from api.domain.push.vapid import vapid_signer
from workers.webpush_http import BlockedAddressError, new_push_session

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "URGENCIES",
    "DeliveryOutcome",
    "DeliveryResult",
    "PayloadTooLarge",
    "PushSubscriptionInfo",
    "classify_response",
    "deliver",
    "encode_payload",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)

# Push services accept 4096 encrypted bytes; aes128gcm adds 86 bytes of header and tag, and the
# rest is headroom so a payload that fits here fits everywhere.
MAX_PAYLOAD_BYTES = 3072
URGENCIES = frozenset({"very-low", "low", "normal", "high"})


class PayloadTooLarge(ValueError):
    """The JSON-encoded payload exceeds :data:`MAX_PAYLOAD_BYTES`; the caller must trim it."""

    def __init__(self, size: int) -> None:
        super().__init__(f"push payload is {size} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit")
        self.size = size


@dataclass(frozen=True, slots=True)
class PushSubscriptionInfo:
    """What the browser's ``PushSubscription.toJSON()`` gave: the endpoint and its two keys.

    All three are secrets in effect (anyone holding them can push to the user), so ``repr`` shows only
    the endpoint's origin.
    """

    endpoint: str = field(repr=False)
    p256dh: str = field(repr=False)
    auth: str = field(repr=False)

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the endpoint, safe to log; ``"<invalid>"`` if it does not parse."""
        try:
            return parse_push_endpoint(self.endpoint, allow_private=True).origin
        except InvalidPushEndpoint:
            return "<invalid>"

    def __repr__(self) -> str:
        return f"PushSubscriptionInfo(origin={self.origin!r})"


class DeliveryOutcome(enum.StrEnum):
    """How one send ended, and so what the caller should do."""

    DELIVERED = "delivered"  # 2xx: done
    GONE = "gone"  # 404/410, or keys no push could ever be encrypted for: delete the subscription
    RATE_LIMITED = "rate_limited"  # 429: retry after ``retry_after`` (or a backoff when absent)
    SERVER_ERROR = "server_error"  # 5xx: retry with backoff (``retry_after`` when the service sent one)
    REJECTED = "rejected"  # 3xx (never followed) and other 4xx (400/401/403/413): do not retry as is
    TIMEOUT = "timeout"  # no complete answer within ``timeout``: retry with backoff
    NETWORK_ERROR = "network_error"  # DNS failure, refused or reset connection, TLS failure: backoff
    BLOCKED = "blocked"  # the endpoint is refused by the SSRF rules: do not retry


_RETRYABLE = frozenset(
    {
        DeliveryOutcome.RATE_LIMITED,
        DeliveryOutcome.SERVER_ERROR,
        DeliveryOutcome.TIMEOUT,
        DeliveryOutcome.NETWORK_ERROR,
    }
)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one send.

    ``status`` is the push service's HTTP status when it answered; ``retry_after`` the seconds its
    ``Retry-After`` asked for (429 and 5xx only; ``None`` when absent or unparsable); ``reason`` a
    short explanation safe to log (never the endpoint path, keys or payload).
    """

    outcome: DeliveryOutcome
    status: int | None = None
    retry_after: float | None = None
    reason: str | None = None

    @property
    def should_delete_subscription(self) -> bool:
        """True when the subscription will never work again (``gone``)."""
        return self.outcome is DeliveryOutcome.GONE

    @property
    def should_retry(self) -> bool:
        """True for transient failures: rate limited, 5xx, timeout, network error."""
        return self.outcome in _RETRYABLE


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Encode ``payload`` as compact UTF-8 JSON, refusing it over :data:`MAX_PAYLOAD_BYTES`.

    Non-ASCII text is kept as UTF-8 rather than ``\\u`` escape sequences, which would triple the size of a
    Chinese preview. Raises :class:`PayloadTooLarge`, or ``TypeError``/``ValueError`` for values JSON
    cannot carry (including NaN).
    """
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(len(body))
    return body


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

    A date in the past gives 0. Returns ``None`` for a missing or unparsable value, so the caller falls
    back to its own backoff. The caller should cap the result: it is whatever the service said.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 5322's "-0000" means UTC with no claim about local time; HTTP dates are always GMT.
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def classify_response(status: int, headers: Mapping[str, str]) -> DeliveryResult:
    """Map a push service's answer to a :class:`DeliveryResult` (headers are matched case-insensitively)."""
    if 200 <= status < 300:
        return DeliveryResult(DeliveryOutcome.DELIVERED, status=status)
    if status in (404, 410):
        return DeliveryResult(DeliveryOutcome.GONE, status=status, reason="subscription expired or removed")
    if status == 429:
        return DeliveryResult(
            DeliveryOutcome.RATE_LIMITED,
            status=status,
            retry_after=parse_retry_after(_header(headers, "Retry-After")),
            reason="rate limited by the push service",
        )
    if status >= 500:
        # A 503 often says when to come back; honouring it is kinder than a blind backoff.
        return DeliveryResult(
            DeliveryOutcome.SERVER_ERROR,
            status=status,
            retry_after=parse_retry_after(_header(headers, "Retry-After")),
            reason="push service error",
        )
    if 300 <= status < 400:
        return DeliveryResult(DeliveryOutcome.REJECTED, status=status, reason="redirect not followed")
    return DeliveryResult(DeliveryOutcome.REJECTED, status=status, reason="refused by the push service")


def _find_in_chain(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    # requests wraps urllib3's MaxRetryError, which carries the real error in .reason.
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        pending.extend(current.args)
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
    return None


def _network_failure(exc: requests.RequestException) -> DeliveryResult:
    # Messages of requests exceptions contain the URL, path included: only type names go out.
    blocked = _find_in_chain(exc, BlockedAddressError)
    if isinstance(blocked, BlockedAddressError):
        return DeliveryResult(DeliveryOutcome.BLOCKED, reason=blocked.reason)
    # Checked by type, not by walking the chain: urllib3's NewConnectionError (a refused connection)
    # subclasses its ConnectTimeoutError, so a chain search would call every refusal a timeout.
    if isinstance(exc, requests.Timeout):
        kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "response"
        return DeliveryResult(DeliveryOutcome.TIMEOUT, reason=f"{kind} timed out")
    if _find_in_chain(exc, NameResolutionError) is not None:
        return DeliveryResult(DeliveryOutcome.NETWORK_ERROR, reason="endpoint host does not resolve")
    return DeliveryResult(DeliveryOutcome.NETWORK_ERROR, reason=f"network error ({type(exc).__name__})")


def _check_arguments(
    ttl: int, urgency: str, timeout: float, allow_private: bool, session: requests.Session | None
) -> None:
    if urgency not in URGENCIES:
        raise ValueError(f"urgency must be one of {sorted(URGENCIES)}")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        raise ValueError("ttl must be a non-negative number of seconds")
    if not timeout > 0:
        raise ValueError("timeout must be positive")
    if session is not None and getattr(session, "allow_private", None) is not allow_private:
        raise ValueError("session must come from new_push_session() with the same allow_private")


def deliver(
    subscription: PushSubscriptionInfo,
    payload: Mapping[str, Any],
    *,
    vapid_private_key: str | Vapid01,
    vapid_subject: str,
    ttl: int,
    urgency: str,
    timeout: float,
    allow_private: bool,
    session: requests.Session | None = None,
) -> DeliveryResult:
    """Send ``payload`` to one subscription once and classify what happened.

    ``vapid_private_key`` is a key in any form :func:`api.domain.push.vapid.parse_vapid_private_key` reads
    (``VapidKeys.private_key`` is one) or a py_vapid signer (``VapidKeys.signer()``).
    ``vapid_subject`` is the ``sub`` claim (``mailto:`` or ``https:``); ``ttl`` the seconds the push
    service may hold the message; ``urgency`` one of :data:`URGENCIES`; ``timeout`` bounds the whole
    exchange in seconds; ``allow_private`` is ``PUSH_ALLOW_PRIVATE_ENDPOINTS``. ``session`` is an
    optional :func:`new_push_session` to reuse connections; without it one is made and closed.

    Every call signs a fresh claims dict (pywebpush writes ``aud`` and ``exp`` into the dict it is
    given, so a shared one would carry the first endpoint's audience to every other), checks the
    endpoint against the SSRF rules again, and never follows a redirect.

    Network and push-service failures are returned, not raised. Raises :class:`PayloadTooLarge`,
    ``ValueError`` for a bad ``ttl``/``urgency``/``timeout``/session or a VAPID key or subject that
    cannot sign, and ``TypeError`` for a payload JSON cannot encode: those are the caller's bugs.
    """
    # Long by its docstring (the contract with callers); the body is one send and its outcomes.
    _check_arguments(ttl, urgency, timeout, allow_private, session)
    body = encode_payload(payload)
    signer = vapid_signer(vapid_private_key) if isinstance(vapid_private_key, str) else vapid_private_key
    origin = subscription.origin

    try:
        check_push_endpoint(subscription.endpoint, allow_private)
    except PushEndpointUnresolvable as exc:
        return _logged(origin, DeliveryResult(DeliveryOutcome.NETWORK_ERROR, reason=exc.reason))
    except InvalidPushEndpoint as exc:
        return _logged(origin, DeliveryResult(DeliveryOutcome.BLOCKED, reason=exc.reason))
    try:
        validate_subscription_keys(subscription.p256dh, subscription.auth)
    except InvalidSubscriptionKeys as exc:
        # No message can ever be encrypted for these keys: as dead as a 410.
        return _logged(origin, DeliveryResult(DeliveryOutcome.GONE, reason=f"unusable keys: {exc.reason}"))

    own_session = session is None
    http = session if session is not None else new_push_session(allow_private=allow_private)
    try:
        response = webpush(
            subscription_info={
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=body.decode("utf-8"),
            vapid_private_key=signer,
            vapid_claims={"sub": vapid_subject},  # fresh on every call: pywebpush mutates it
            ttl=ttl,
            headers={"Urgency": urgency},
            timeout=timeout,
            requests_session=http,
        )
    except WebPushException as exc:
        if exc.response is None or exc.status_code is None:
            result = DeliveryResult(DeliveryOutcome.REJECTED, reason="pywebpush refused the subscription")
        else:
            result = classify_response(exc.status_code, getattr(exc.response, "headers", {}))
        return _logged(origin, result)
    except VapidException as exc:
        # Configuration, not the subscription: a bad VAPID_SUBJECT fails for every push alike.
        raise ValueError(f"VAPID signing failed: {exc}") from None
    except requests.RequestException as exc:
        return _logged(origin, _network_failure(exc))
    finally:
        if own_session:
            http.close()
    assert isinstance(response, requests.Response)  # not a curl string: curl was not asked for
    return _logged(origin, classify_response(response.status_code, response.headers))


def _logged(origin: str, result: DeliveryResult) -> DeliveryResult:
    level = logging.DEBUG if result.outcome is DeliveryOutcome.DELIVERED else logging.INFO
    logger.log(
        level,
        "web push to %s: %s (status %s%s)",
        origin,
        result.outcome.value,
        result.status,
        f", {result.reason}" if result.reason else "",
    )
    return result
