"""The push endpoint SSRF guard and the subscription key checks."""

from __future__ import annotations

import asyncio
import base64
import socket

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.domain.push import endpoints as push_endpoints
from api.domain.push.endpoints import (
    InvalidPushEndpoint,
    InvalidSubscriptionKeys,
    PushEndpointUnresolvable,
    check_push_endpoint,
    check_push_endpoint_async,
    parse_push_endpoint,
    validate_subscription_keys,
)

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def _info(address: str, port: int = 443) -> tuple:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver: ``dns["host"] = [addresses]``; unknown names fail like a real NXDOMAIN."""
    table: dict[str, list[str]] = {}

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_info(address, port or 443) for address in table[host]]

    monkeypatch.setattr(push_endpoints.socket, "getaddrinfo", fake_getaddrinfo)
    return table


def _refusal(url: str, allow_private: bool = False) -> str:
    with pytest.raises(InvalidPushEndpoint) as caught:
        check_push_endpoint(url, allow_private)
    return caught.value.reason


# --- shape of the URL ---------------------------------------------------------------------------


def test_public_https_endpoint_is_accepted(dns) -> None:
    dns["push.example.net"] = [PUBLIC_V4, PUBLIC_V6]

    check_push_endpoint("https://push.example.net/wpush/v2/abc", allow_private=False)


def test_plain_http_is_refused_unless_private_endpoints_are_allowed(dns) -> None:
    dns["push.example.net"] = [PUBLIC_V4]

    assert "https" in _refusal("http://push.example.net/x")
    check_push_endpoint("http://push.example.net/x", allow_private=True)


@pytest.mark.parametrize("url", ["ftp://push.example.net/x", "file:///etc/passwd", "push.example.net/x", ""])
def test_other_schemes_are_refused_even_when_private_is_allowed(dns, url: str) -> None:
    with pytest.raises(InvalidPushEndpoint):
        check_push_endpoint(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://user@push.example.net/x",
        "https://user:pw@push.example.net/x",
        "https://:pw@push.example.net/",
    ],
)
def test_userinfo_is_refused(dns, url: str) -> None:
    dns["push.example.net"] = [PUBLIC_V4]

    assert "user information" in _refusal(url, allow_private=True)


@pytest.mark.parametrize("url", ["https:///path", "https://:443/path", "https://./x"])
def test_a_host_name_is_required(url: str) -> None:
    assert "host" in _refusal(url)


def test_endpoint_up_to_2048_characters_is_accepted_and_longer_refused(dns) -> None:
    dns["push.example.net"] = [PUBLIC_V4]
    prefix = "https://push.example.net/"
    at_limit = prefix + "a" * (2048 - len(prefix))

    check_push_endpoint(at_limit, allow_private=False)
    assert "2048" in _refusal(at_limit + "a")


@pytest.mark.parametrize(
    "url",
    ["https://push.example.net/a b", "https://push.example.net/\r\nX: y", "https://push.example.net/\x00"],
)
def test_whitespace_and_control_characters_are_refused(url: str) -> None:
    assert "whitespace or control" in _refusal(url)


@pytest.mark.parametrize(
    "url",
    ["https://push.example.net:99999/x", "https://push.example.net:0/x", "https://push.example.net:abc/x"],
)
def test_bad_ports_are_refused(url: str) -> None:
    assert "port" in _refusal(url)


def test_non_ascii_host_must_use_its_idna_form() -> None:
    assert "IDNA" in _refusal("https://pûsh.example.net/x")


def test_ipv6_literal_hosts_are_refused_because_vapid_cannot_sign_them() -> None:
    assert "IPv6 literal" in _refusal(f"https://[{PUBLIC_V6}]/x")


def test_port_and_origin_are_parsed() -> None:
    endpoint = parse_push_endpoint("https://Push.Example.net:8443/a/b?c", allow_private=False)

    assert (endpoint.scheme, endpoint.host, endpoint.port) == ("https", "push.example.net", 8443)
    assert endpoint.origin == "https://push.example.net:8443"
    assert parse_push_endpoint("https://push.example.net/x", False).origin == "https://push.example.net"


def test_reasons_never_contain_the_endpoint_path(dns) -> None:
    dns["push.example.net"] = ["10.0.0.1"]

    reason = _refusal("https://push.example.net/secret-capability-token")

    assert "secret-capability-token" not in reason
    assert "push.example.net" in reason


# --- resolved addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", ""),  # reserved; Python files 240/4 under private
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 wrapping 169.254.169.254
        ("2001:db8::1", "private"),  # documentation range
    ],
)
def test_internal_addresses_are_refused(dns, address: str, kind: str) -> None:
    dns["push.example.net"] = [address]

    reason = _refusal("https://push.example.net/x")

    assert kind in reason
    assert "resolves to" in reason


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "::1", "::ffff:127.0.0.1", "fe80::1"])
def test_internal_addresses_are_accepted_when_private_endpoints_are_allowed(dns, address: str) -> None:
    dns["push.example.net"] = [address]

    check_push_endpoint("http://push.example.net/x", allow_private=True)


@pytest.mark.parametrize("address", [PUBLIC_V4, PUBLIC_V6, f"::ffff:{PUBLIC_V4}", "64:ff9b::5db8:d70e"])
def test_public_addresses_are_accepted(dns, address: str) -> None:
    dns["push.example.net"] = [address]

    check_push_endpoint("https://push.example.net/x", allow_private=False)


def test_one_internal_address_among_public_ones_is_enough_to_refuse(dns) -> None:
    dns["push.example.net"] = [PUBLIC_V4, PUBLIC_V6, "127.0.0.1"]

    assert "loopback" in _refusal("https://push.example.net/x")


def test_ipv4_literal_hosts_are_judged_without_dns(dns) -> None:
    assert "loopback" in _refusal("https://127.0.0.1/x")
    assert "link-local" in _refusal("https://169.254.169.254/latest/meta-data")


def test_a_name_that_does_not_resolve_is_refused_as_unresolvable(dns) -> None:
    with pytest.raises(PushEndpointUnresolvable, match="does not resolve"):
        check_push_endpoint("https://nowhere.example.net/x", allow_private=False)


def test_a_real_loopback_name_is_refused_by_the_real_resolver() -> None:
    with pytest.raises(InvalidPushEndpoint, match="loopback"):
        check_push_endpoint("https://localhost/x", allow_private=False)


# --- the async variant ----------------------------------------------------------------------------


async def test_async_check_applies_the_same_rules_on_the_loop_resolver(monkeypatch) -> None:
    loop = asyncio.get_running_loop()
    answers = {"public.example.net": [PUBLIC_V4], "internal.example.net": [PUBLIC_V4, "10.0.0.7"]}

    async def fake_loop_getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_info(address, port) for address in answers[host]]

    def blocking_resolver_must_not_be_called(*args, **kwargs):
        raise AssertionError("the async check must not resolve on the event loop thread")

    monkeypatch.setattr(loop, "getaddrinfo", fake_loop_getaddrinfo)
    monkeypatch.setattr(push_endpoints.socket, "getaddrinfo", blocking_resolver_must_not_be_called)

    await check_push_endpoint_async("https://public.example.net/x", allow_private=False)
    with pytest.raises(InvalidPushEndpoint, match="private"):
        await check_push_endpoint_async("https://internal.example.net/x", allow_private=False)
    with pytest.raises(PushEndpointUnresolvable):
        await check_push_endpoint_async("https://missing.example.net/x", allow_private=False)
    with pytest.raises(InvalidPushEndpoint, match="https"):
        await check_push_endpoint_async("http://public.example.net/x", allow_private=False)


async def test_async_check_gives_up_on_a_slow_resolver(monkeypatch) -> None:
    loop = asyncio.get_running_loop()
    never = asyncio.Event()

    async def hanging_getaddrinfo(*args, **kwargs):
        await never.wait()

    monkeypatch.setattr(loop, "getaddrinfo", hanging_getaddrinfo)

    with pytest.raises(PushEndpointUnresolvable, match="timed out"):
        await check_push_endpoint_async(
            "https://slow.example.net/x", allow_private=False, resolve_timeout=0.05
        )


async def test_async_check_with_the_real_resolver_refuses_loopback() -> None:
    with pytest.raises(InvalidPushEndpoint, match="loopback"):
        await check_push_endpoint_async("https://localhost/x", allow_private=False)


# --- subscription keys --------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _point() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def test_browser_style_keys_are_accepted() -> None:
    validate_subscription_keys(_b64url(_point()), _b64url(b"0123456789abcdef"))


def test_padded_base64url_keys_are_accepted() -> None:
    validate_subscription_keys(
        base64.urlsafe_b64encode(_point()).decode(), base64.urlsafe_b64encode(b"0123456789abcdef").decode()
    )


@pytest.mark.parametrize(
    ("p256dh", "reason"),
    [
        ("", "missing"),
        ("not*base64", "base64url"),
        (base64.b64encode(b"\xfb" * 65).decode(), "base64url"),  # standard alphabet '+' and '/'
        (_b64url(b"\x04" + b"\x01" * 63), "65-byte"),  # one byte short
        (_b64url(b"\x02" + b"\x01" * 64), "65-byte"),  # not the uncompressed form
        (_b64url(b"\x04" + b"\x01" * 64), "curve"),  # right shape, not on P-256
    ],
)
def test_bad_p256dh_is_refused(p256dh: str, reason: str) -> None:
    with pytest.raises(InvalidSubscriptionKeys, match=reason):
        validate_subscription_keys(p256dh, _b64url(b"0123456789abcdef"))


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        ("", "missing"),
        ("a b", "base64url"),
        (_b64url(b"x" * 15), "16 bytes"),
        (_b64url(b"x" * 32), "16 bytes"),
    ],
)
def test_bad_auth_is_refused(auth: str, reason: str) -> None:
    with pytest.raises(InvalidSubscriptionKeys, match=reason):
        validate_subscription_keys(_b64url(_point()), auth)


def test_key_errors_never_contain_the_key() -> None:
    auth = _b64url(b"x" * 15)

    with pytest.raises(InvalidSubscriptionKeys) as caught:
        validate_subscription_keys(_b64url(_point()), auth)

    assert auth not in str(caught.value)
