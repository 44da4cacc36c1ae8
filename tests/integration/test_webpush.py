"""Real round trips from workers.webpush.deliver() through the loopback fake push service."""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.domain.push import endpoints as push_endpoints
from api.domain.push.vapid import VapidKeys, load_or_create_vapid_key

# tests/integration is not a package, so with plain `pytest` (no pythonpath setting in pyproject)
# the repository root is not importable when this module loads; `python -m pytest` would add it.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.support.fake_push_service import (  # noqa: E402
    FakePushService,
    MintedSubscription,
    PushAttempt,
    Reply,
)
from workers.webpush import (  # noqa: E402
    MAX_PAYLOAD_BYTES,
    DeliveryOutcome,
    PayloadTooLarge,
    PushSubscriptionInfo,
    deliver,
    parse_retry_after,
)
from workers.webpush_http import new_push_session  # noqa: E402

SUBJECT = "mailto:oncall@andon.example"
PAYLOAD = {
    "kind": "mention",
    "room_id": "7d9f4a52-3c1e-4b8e-9a0f-1f2e3d4c5b6a",
    "room_title": "DB failover 機房",
    "message_id": "0b6c1d7e-8f90-4a1b-b2c3-d4e5f6a7b8c9",
    "sequence_number": 42,
    "sender_display_name": "Mei Lin",
    "preview": "@oncall the replica in 台北 is lagging 30 s",
    "url": "/rooms/7d9f4a52-3c1e-4b8e-9a0f-1f2e3d4c5b6a?message=42",
}


@pytest.fixture(scope="module")
def vapid_keys(tmp_path_factory: pytest.TempPathFactory) -> VapidKeys:
    return load_or_create_vapid_key(tmp_path_factory.mktemp("vapid"), None)


@pytest.fixture
def service(vapid_keys: VapidKeys) -> Iterator[FakePushService]:
    with FakePushService(expected_vapid_public_key=vapid_keys.public_key_b64url) as running:
        yield running


def _info(minted: MintedSubscription, endpoint: str | None = None) -> PushSubscriptionInfo:
    return PushSubscriptionInfo(endpoint=endpoint or minted.endpoint, p256dh=minted.p256dh, auth=minted.auth)


def _aud(push: PushAttempt) -> Any:
    assert push.claims is not None
    return push.claims["aud"]


def _send(vapid_keys: VapidKeys, subscription: PushSubscriptionInfo, **overrides: Any):
    options: dict[str, Any] = {
        "vapid_private_key": vapid_keys.private_key,
        "vapid_subject": SUBJECT,
        "ttl": 3600,
        "urgency": "high",
        "timeout": 5.0,
        "allow_private": True,
    }
    options.update(overrides)
    payload = options.pop("payload", PAYLOAD)
    return deliver(subscription, payload, **options)


# --- delivered ------------------------------------------------------------------------------------


def test_delivered_payload_decrypts_and_the_vapid_token_verifies(service, vapid_keys) -> None:
    minted = service.mint_subscription()

    result = _send(vapid_keys, _info(minted), ttl=600, urgency="high")

    assert result.outcome is DeliveryOutcome.DELIVERED
    assert result.status == 201
    [push] = service.wait_for_deliveries(1, token=minted.token)
    assert push.problems == ()
    assert push.payload == PAYLOAD
    # compact UTF-8 JSON, not ASCII escapes
    assert push.plaintext == json.dumps(PAYLOAD, ensure_ascii=False, separators=(",", ":")).encode()
    assert push.vapid_public_key == vapid_keys.public_key_b64url
    assert push.claims is not None
    assert push.claims["aud"] == service.origin
    assert push.claims["sub"] == SUBJECT
    assert time.time() < push.claims["exp"] <= time.time() + 24 * 3600
    assert push.ttl == 600
    assert push.urgency == "high"
    assert push.headers["content-encoding"] == "aes128gcm"


def test_a_py_vapid_signer_works_as_the_key_too(service, vapid_keys) -> None:
    minted = service.mint_subscription()

    result = _send(vapid_keys, _info(minted), vapid_private_key=vapid_keys.signer(), urgency="normal", ttl=0)

    assert result.outcome is DeliveryOutcome.DELIVERED
    [push] = service.wait_for_deliveries(1, token=minted.token)
    assert (push.ttl, push.urgency) == (0, "normal")


def test_a_key_the_service_does_not_expect_is_rejected_with_its_status(service, tmp_path: Path) -> None:
    other_keys = load_or_create_vapid_key(tmp_path, None)
    minted = service.mint_subscription()

    result = _send(other_keys, _info(minted))

    assert result.outcome is DeliveryOutcome.REJECTED
    assert result.status == 401
    assert service.deliveries(minted.token) == []


def test_fresh_claims_per_send_so_two_origins_both_verify(vapid_keys) -> None:
    # given two push services on two different origins, and one session reused for both
    with (
        FakePushService(expected_vapid_public_key=vapid_keys.public_key_b64url) as first,
        FakePushService(expected_vapid_public_key=vapid_keys.public_key_b64url) as second,
    ):
        assert first.origin != second.origin
        to_first, to_second = first.mint_subscription(), second.mint_subscription()
        session = new_push_session(allow_private=True)
        try:
            # when sending to the first, then the second, then the first again
            results = [
                _send(vapid_keys, _info(to_first), session=session),
                _send(vapid_keys, _info(to_second), session=session),
                _send(vapid_keys, _info(to_first), session=session),
            ]
        finally:
            session.close()

        # then each token carried its own endpoint's audience
        assert [r.outcome for r in results] == [DeliveryOutcome.DELIVERED] * 3
        assert [_aud(p) for p in first.wait_for_deliveries(2)] == [first.origin] * 2
        assert [_aud(p) for p in second.wait_for_deliveries(1)] == [second.origin]


def test_a_reused_session_keeps_delivering_over_kept_alive_connections(service, vapid_keys) -> None:
    minted = service.mint_subscription()
    session = new_push_session(allow_private=True)
    try:
        outcomes = [_send(vapid_keys, _info(minted), session=session).outcome for _ in range(5)]
    finally:
        session.close()

    assert outcomes == [DeliveryOutcome.DELIVERED] * 5
    assert len(service.wait_for_deliveries(5, token=minted.token)) == 5


def test_a_session_made_for_another_allow_private_setting_is_refused(vapid_keys) -> None:
    subscription = PushSubscriptionInfo("https://push.example.net/x", "p", "a")

    with pytest.raises(ValueError, match="allow_private"):
        _send(vapid_keys, subscription, allow_private=False, session=new_push_session(allow_private=True))


# --- what the push service answered ----------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_mean_the_subscription_is_gone(service, vapid_keys, status: int) -> None:
    minted = service.mint_subscription()
    service.program(minted.token, Reply.gone(status))

    result = _send(vapid_keys, _info(minted))

    assert result.outcome is DeliveryOutcome.GONE
    assert result.status == status
    assert result.should_delete_subscription
    assert not result.should_retry


def test_429_is_rate_limited_with_retry_after_and_the_next_send_delivers(service, vapid_keys) -> None:
    minted = service.mint_subscription()
    service.program(minted.token, Reply.rate_limited(retry_after="1"), Reply.created())

    first = _send(vapid_keys, _info(minted))
    second = _send(vapid_keys, _info(minted))

    assert first.outcome is DeliveryOutcome.RATE_LIMITED
    assert (first.status, first.retry_after) == (429, 1.0)
    assert first.should_retry
    assert second.outcome is DeliveryOutcome.DELIVERED
    assert [a.answered for a in service.attempts(minted.token)] == [429, 201]
    assert service.payloads(minted.token) == [PAYLOAD]


def test_429_with_an_http_date_retry_after_gives_seconds_from_now(service, vapid_keys) -> None:
    minted = service.mint_subscription()
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    service.program(minted.token, Reply.rate_limited(retry_after=when))

    result = _send(vapid_keys, _info(minted))

    assert result.outcome is DeliveryOutcome.RATE_LIMITED
    assert result.retry_after is not None
    assert 110 <= result.retry_after <= 121


def test_429_without_retry_after_leaves_the_delay_to_the_caller(service, vapid_keys) -> None:
    minted = service.mint_subscription()
    service.program(minted.token, Reply.rate_limited(retry_after=None))

    result = _send(vapid_keys, _info(minted))

    assert result.outcome is DeliveryOutcome.RATE_LIMITED
    assert result.retry_after is None


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (502, None), (503, 30.0)])
def test_5xx_is_a_server_error_to_retry(service, vapid_keys, status: int, retry_after: float | None) -> None:
    minted = service.mint_subscription()
    service.program(
        minted.token, Reply.server_error(status, retry_after=None if retry_after is None else "30")
    )

    result = _send(vapid_keys, _info(minted))

    assert result.outcome is DeliveryOutcome.SERVER_ERROR
    assert (result.status, result.retry_after) == (status, retry_after)
    assert result.should_retry
    assert not result.should_delete_subscription


@pytest.mark.parametrize("status", [400, 403, 413])
def test_other_4xx_is_rejected_with_its_status(service, vapid_keys, status: int) -> None:
    minted = service.mint_subscription()
    service.program(minted.token, Reply(status))

    result = _send(vapid_keys, _info(minted))

    assert result.outcome is DeliveryOutcome.REJECTED
    assert result.status == status
    assert not result.should_retry
    assert not result.should_delete_subscription


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(service, vapid_keys, status: int) -> None:
    # given a push service redirecting to another endpoint it serves
    minted, target = service.mint_subscription(), service.mint_subscription()
    service.program(minted.token, Reply.redirect(target.endpoint, status=status))

    # when
    result = _send(vapid_keys, _info(minted))

    # then the redirect is a failure and the target never saw a request
    assert result.outcome is DeliveryOutcome.REJECTED
    assert result.status == status
    assert result.reason == "redirect not followed"
    assert len(service.attempts(minted.token)) == 1
    assert service.attempts(target.token) == []


def test_a_large_response_body_is_not_read_whole(service, vapid_keys) -> None:
    minted = service.mint_subscription()
    service.program(minted.token, Reply(201, body=b"x" * 5_000_000), Reply(500, body=b"y" * 5_000_000))

    assert _send(vapid_keys, _info(minted)).outcome is DeliveryOutcome.DELIVERED
    assert _send(vapid_keys, _info(minted)).outcome is DeliveryOutcome.SERVER_ERROR


# --- no answer, no connection -------------------------------------------------------------------


def test_a_service_that_never_answers_times_out_within_the_bound(service, vapid_keys) -> None:
    minted = service.mint_subscription()
    service.program(minted.token, Reply.never_answer())
    bound = 0.5

    started = time.monotonic()
    result = _send(vapid_keys, _info(minted), timeout=bound)
    elapsed = time.monotonic() - started

    assert result.outcome is DeliveryOutcome.TIMEOUT
    assert result.should_retry
    assert bound <= elapsed < bound + 1.0
    service.wait_for_hanging(1, timeout=5)  # the request did reach the service


def test_a_server_that_accepts_but_never_reads_times_out(vapid_keys, service) -> None:
    # given a listening socket that nobody ever accepts from or answers
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        minted = service.mint_subscription()

        started = time.monotonic()
        result = _send(vapid_keys, _info(minted, f"http://127.0.0.1:{port}/push/{minted.token}"), timeout=0.5)

        assert result.outcome is DeliveryOutcome.TIMEOUT
        assert time.monotonic() - started < 1.5


def test_a_refused_connection_is_a_network_error(vapid_keys, service) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # the port is free again, so nothing listens there
    minted = service.mint_subscription()

    result = _send(vapid_keys, _info(minted, f"http://127.0.0.1:{port}/push/{minted.token}"))

    assert result.outcome is DeliveryOutcome.NETWORK_ERROR
    assert result.should_retry


def test_an_unresolvable_host_is_a_network_error(vapid_keys, service, monkeypatch) -> None:
    real = socket.getaddrinfo

    def nxdomain(host, *args, **kwargs):
        if host == "gone.push.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(push_endpoints.socket, "getaddrinfo", nxdomain)
    minted = service.mint_subscription()

    result = _send(vapid_keys, _info(minted, "https://gone.push.test/push/abc"), allow_private=False)

    assert result.outcome is DeliveryOutcome.NETWORK_ERROR
    assert "does not resolve" in (result.reason or "")


# --- the SSRF guard at send time -------------------------------------------------------------------


def test_a_private_endpoint_is_refused_unless_allowed(service, vapid_keys) -> None:
    minted = service.mint_subscription()

    refused = _send(vapid_keys, _info(minted), allow_private=False)
    https_loopback = _send(
        vapid_keys, _info(minted, minted.endpoint.replace("http://", "https://")), allow_private=False
    )
    allowed = _send(vapid_keys, _info(minted), allow_private=True)

    assert refused.outcome is DeliveryOutcome.BLOCKED
    assert refused.reason == "endpoint must use https"
    assert https_loopback.outcome is DeliveryOutcome.BLOCKED
    assert "loopback" in (https_loopback.reason or "")
    assert not refused.should_retry
    assert allowed.outcome is DeliveryOutcome.DELIVERED
    assert len(service.attempts(minted.token)) == 1  # only the allowed send reached the service


def test_dns_rebinding_after_the_check_is_caught_at_connect_time(service, vapid_keys, monkeypatch) -> None:
    # given a name that resolves to a public address for the check, then to loopback for the connect
    real = socket.getaddrinfo
    port = int(service.origin.rsplit(":", 1)[1])
    answers = iter(["93.184.215.14", "127.0.0.1"])
    lookups: list[str] = []

    def rebinding(host, *args, **kwargs):
        if host != "push.rebind.test":
            return real(host, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        lookups.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(push_endpoints.socket, "getaddrinfo", rebinding)
    minted = service.mint_subscription()

    # when
    result = _send(
        vapid_keys, _info(minted, f"https://push.rebind.test:{port}/push/{minted.token}"), allow_private=False
    )

    # then the connection was never made to the internal address
    assert lookups == ["93.184.215.14", "127.0.0.1"]
    assert result.outcome is DeliveryOutcome.BLOCKED
    assert "loopback" in (result.reason or "")
    assert service.attempts() == []


# --- refused before sending -------------------------------------------------------------------------


def test_a_payload_over_3_kib_is_refused_before_sending(service, vapid_keys) -> None:
    minted = service.mint_subscription()
    too_big = dict(PAYLOAD, preview="x" * MAX_PAYLOAD_BYTES)

    with pytest.raises(PayloadTooLarge):
        _send(vapid_keys, _info(minted), payload=too_big)

    assert service.attempts() == []


def test_a_payload_of_exactly_3_kib_is_sent(service, vapid_keys) -> None:
    minted = service.mint_subscription()
    skeleton = len(json.dumps({"preview": ""}, separators=(",", ":")).encode())
    exact = {"preview": "x" * (MAX_PAYLOAD_BYTES - skeleton)}

    assert _send(vapid_keys, _info(minted), payload=exact).outcome is DeliveryOutcome.DELIVERED
    assert service.payloads(minted.token) == [exact]


def test_unusable_subscription_keys_mean_gone_without_sending(service, vapid_keys) -> None:
    minted = service.mint_subscription()
    broken = PushSubscriptionInfo(minted.endpoint, p256dh=minted.p256dh[:-4], auth=minted.auth)

    result = _send(vapid_keys, broken)

    assert result.outcome is DeliveryOutcome.GONE
    assert service.attempts() == []


@pytest.mark.parametrize(
    ("option", "value"), [("urgency", "urgent"), ("ttl", -1), ("timeout", 0), ("vapid_subject", "")]
)
def test_caller_mistakes_raise(service, vapid_keys, option: str, value: Any) -> None:
    minted = service.mint_subscription()

    with pytest.raises(ValueError):
        _send(vapid_keys, _info(minted), **{option: value})

    assert service.deliveries() == []


# --- secrets stay out of logs ---------------------------------------------------------------------


def test_logs_and_reprs_carry_no_endpoint_path_keys_or_payload(service, vapid_keys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    minted = service.mint_subscription()
    service.program(minted.token, Reply.rate_limited(), Reply.gone())
    info = _info(minted)

    results = [_send(vapid_keys, info) for _ in range(3)]
    results.append(_send(vapid_keys, info, allow_private=False))

    logged = caplog.text + " ".join(repr(r) for r in results) + repr(info)
    assert service.origin in caplog.text  # something was logged, by origin
    for secret in (minted.token, minted.p256dh, minted.auth, vapid_keys.private_key, "台北", "Mei Lin"):
        assert secret not in logged


# --- Retry-After parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)

    assert parse_retry_after(value, now=now) == expected
