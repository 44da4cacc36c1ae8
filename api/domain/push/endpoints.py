"""Checks on Web Push subscriptions: the endpoint URL (SSRF guard) and the client keys.

A push endpoint is a URL chosen by the browser's push service, but from the server's point of view it
is just a string a user posted: without a guard, the worker would POST to whatever it names, including
the cloud metadata service or an internal admin port. So every endpoint is checked when it is
subscribed AND again when a push is sent (DNS may have changed in between); the worker additionally
pins each connection to an address it has checked (see ``workers.webpush_http``).

Reasons given in exceptions name the rule and at most the host, never the endpoint's path: the path is
the subscription's capability and must not end up in logs or API errors.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "AUTH_SECRET_BYTES",
    "MAX_ENDPOINT_LENGTH",
    "P256DH_BYTES",
    "InvalidPushEndpoint",
    "InvalidSubscriptionKeys",
    "PushEndpoint",
    "PushEndpointUnresolvable",
    "ResolvedAddress",
    "address_refusal",
    "check_push_endpoint",
    "check_push_endpoint_async",
    "check_resolved_addresses",
    "parse_push_endpoint",
    "resolve_push_host",
    "validate_subscription_keys",
]

MAX_ENDPOINT_LENGTH = 2048
P256DH_BYTES = 65
AUTH_SECRET_BYTES = 16

# A 6to4 address (2002::/16) and the NAT64 well-known prefix carry an IPv4 address inside; a gateway
# would deliver them to that IPv4 address, so they are judged by it.
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


class InvalidPushEndpoint(ValueError):
    """The endpoint is refused; ``reason`` says which rule, safe to show to the user and to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PushEndpointUnresolvable(InvalidPushEndpoint):
    """The host name did not resolve: refused at subscribe time, a transient failure at send time."""


class InvalidSubscriptionKeys(ValueError):
    """The subscription's ``p256dh`` or ``auth`` key is malformed; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PushEndpoint:
    """The parts of a syntactically acceptable endpoint that resolution and connection need."""

    scheme: str
    host: str
    port: int

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``: what VAPID calls the audience; safe to log."""
        default = 443 if self.scheme == "https" else 80
        return f"{self.scheme}://{self.host}" + ("" if self.port == default else f":{self.port}")


@dataclass(frozen=True, slots=True)
class ResolvedAddress:
    """One address a host name resolved to, in the form ``socket.connect`` takes."""

    family: int
    sockaddr: tuple[str, int] | tuple[str, int, int, int]

    @property
    def ip(self) -> str:
        """The address as text (without an IPv6 zone)."""
        return self.sockaddr[0].split("%", 1)[0]


def parse_push_endpoint(url: str, allow_private: bool) -> PushEndpoint:
    """Check everything about ``url`` that needs no DNS and return its scheme, host and port.

    Raises :class:`InvalidPushEndpoint` when the URL is too long, contains whitespace or control
    characters, is not https (plain http only with ``allow_private``), carries userinfo, has no host or
    a bad port, or its host is an IP literal in a refused range (see :func:`address_refusal`).
    """
    if not isinstance(url, str) or not url:
        raise InvalidPushEndpoint("endpoint is empty")
    if len(url) > MAX_ENDPOINT_LENGTH:
        raise InvalidPushEndpoint(f"endpoint is longer than {MAX_ENDPOINT_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidPushEndpoint("endpoint contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidPushEndpoint("endpoint is not a valid URL") from None
    scheme = parts.scheme.lower()
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed_schemes:
        raise InvalidPushEndpoint(
            "endpoint must use https" if not allow_private else "endpoint must use http or https"
        )
    if "@" in parts.netloc:
        raise InvalidPushEndpoint("endpoint must not contain user information")
    host = _host_of(parts)
    try:
        port = parts.port
    except ValueError:
        raise InvalidPushEndpoint("endpoint has an invalid port") from None
    if port is None:
        port = 443 if scheme == "https" else 80
    if port == 0:
        raise InvalidPushEndpoint("endpoint has an invalid port")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if literal.version == 6:
            # py_vapid only signs an audience of the form scheme://name[:port], so a bracketed IPv6
            # origin could never carry a valid VAPID token; real push services use host names anyway.
            raise InvalidPushEndpoint("endpoint host must not be an IPv6 literal")
        refusal = None if allow_private else address_refusal(literal)
        if refusal is not None:
            raise InvalidPushEndpoint(f"endpoint address is {refusal}")
    return PushEndpoint(scheme=scheme, host=host, port=port)


def _host_of(parts: SplitResult) -> str:
    host = parts.hostname
    if not host:
        raise InvalidPushEndpoint("endpoint has no host name")
    if not host.isascii():
        raise InvalidPushEndpoint("endpoint host must be ASCII (use the IDNA form)")
    host = host.rstrip(".")
    if not host:
        raise InvalidPushEndpoint("endpoint has no host name")
    return host


def address_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a push may not be sent to ``address``, or ``None`` when it is a public unicast address.

    Loopback, private, shared (CGNAT), link-local, multicast, reserved and unspecified addresses are
    refused, in IPv4 and IPv6; an IPv6 address embedding an IPv4 one (IPv4-mapped, 6to4, NAT64) is
    judged by the embedded address as well.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            refusal = address_refusal(embedded)
            if refusal is not None:
                return refusal
            if address.ipv4_mapped is not None or address in _NAT64_WELL_KNOWN:
                # These reach exactly the embedded address, just found public; Python files their
                # prefixes as private/reserved, which would wrongly refuse public hosts reached over
                # IPv4-mapped sockets or through DNS64 on an IPv6-only network.
                return None
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if not address.is_global:
        # e.g. 100.64.0.0/10 (carrier-grade NAT), which is neither private nor global.
        return "not globally routable"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_resolved_addresses(host: str, addresses: Iterable[ResolvedAddress], allow_private: bool) -> None:
    """Refuse the host when ANY of its addresses is refused.

    All of them, not just the first: the connection may use any of them, and a name resolving to one
    public and one internal address is a classic way around a guard that checks only one.
    """
    if allow_private:
        return
    for resolved in addresses:
        try:
            address = ipaddress.ip_address(resolved.ip)
        except ValueError:
            raise InvalidPushEndpoint(f"endpoint host {host} resolved to an unparsable address") from None
        refusal = address_refusal(address)
        if refusal is not None:
            raise InvalidPushEndpoint(f"endpoint host {host} resolves to a {refusal} address ({address})")


def _to_resolved(infos: Iterable[tuple[Any, ...]], host: str) -> list[ResolvedAddress]:
    resolved: list[ResolvedAddress] = []
    for family, _kind, _proto, _canonname, sockaddr in infos:
        # Other families, or the (int, bytes) form of a Python built without IPv6, cannot be
        # connected to by address text anyway.
        if family in (socket.AF_INET, socket.AF_INET6) and isinstance(sockaddr[0], str):
            resolved.append(ResolvedAddress(family=int(family), sockaddr=tuple(sockaddr)))
    if not resolved:
        raise PushEndpointUnresolvable(f"endpoint host {host} has no IPv4 or IPv6 address")
    return resolved


def resolve_push_host(host: str, port: int, allow_private: bool) -> list[ResolvedAddress]:
    """Resolve ``host`` (blocking) and return its addresses once all of them pass the address rules.

    Raises :class:`PushEndpointUnresolvable` when the name does not resolve and
    :class:`InvalidPushEndpoint` when an address is refused.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise PushEndpointUnresolvable(f"endpoint host {host} does not resolve") from None
    resolved = _to_resolved(infos, host)
    check_resolved_addresses(host, resolved, allow_private)
    return resolved


async def _resolve_push_host_async(
    host: str, port: int, allow_private: bool, resolve_timeout: float | None
) -> list[ResolvedAddress]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(resolve_timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise PushEndpointUnresolvable(f"resolving endpoint host {host} timed out") from None
    except (socket.gaierror, UnicodeError):
        raise PushEndpointUnresolvable(f"endpoint host {host} does not resolve") from None
    resolved = _to_resolved(infos, host)
    check_resolved_addresses(host, resolved, allow_private)
    return resolved


def check_push_endpoint(url: str, allow_private: bool) -> None:
    """Refuse an endpoint the server must not POST to; blocking (resolves the host with getaddrinfo).

    Rules: at most 2048 characters; https only, unless ``allow_private`` (tests, then http too); no
    userinfo; a host name; every address the host resolves to must be public (no loopback, private,
    link-local, multicast, reserved or unspecified address, IPv4 or IPv6, IPv4-mapped included) unless
    ``allow_private``. Raises :class:`InvalidPushEndpoint` (or its subclass
    :class:`PushEndpointUnresolvable` when DNS gives no answer) with a reason safe to show and log.
    Call it when a subscription is stored and again before every send.
    """
    endpoint = parse_push_endpoint(url, allow_private)
    resolve_push_host(endpoint.host, endpoint.port, allow_private)


async def check_push_endpoint_async(url: str, allow_private: bool, *, resolve_timeout: float = 5.0) -> None:
    """Same rules as :func:`check_push_endpoint`, resolving on the event loop's executor.

    ``resolve_timeout`` bounds the DNS lookup; running out counts as unresolvable.
    """
    endpoint = parse_push_endpoint(url, allow_private)
    await _resolve_push_host_async(endpoint.host, endpoint.port, allow_private, resolve_timeout)


def _b64url_decode(value: str, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise InvalidSubscriptionKeys(f"{name} is missing")
    stripped = value.rstrip("=")
    if not stripped.isascii() or any(not (ch.isalnum() or ch in "-_") for ch in stripped):
        raise InvalidSubscriptionKeys(f"{name} is not base64url")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSubscriptionKeys(f"{name} is not base64url") from None


def validate_subscription_keys(p256dh: str, auth: str) -> None:
    """Refuse subscription keys that could never be used to encrypt a push.

    ``p256dh`` must be base64url of a 65-byte uncompressed P-256 point (0x04 prefix) that lies on the
    curve; ``auth`` base64url of 16 bytes. Padding is tolerated, standard-base64 characters are not.
    Raises :class:`InvalidSubscriptionKeys`; the reason never contains the key material.
    """
    point = _b64url_decode(p256dh, "p256dh")
    if len(point) != P256DH_BYTES or point[0] != 0x04:
        raise InvalidSubscriptionKeys("p256dh must be a 65-byte uncompressed P-256 point")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise InvalidSubscriptionKeys("p256dh is not a point on the P-256 curve") from None
    secret = _b64url_decode(auth, "auth")
    if len(secret) != AUTH_SECRET_BYTES:
        raise InvalidSubscriptionKeys(f"auth must decode to {AUTH_SECRET_BYTES} bytes")
