"""The server's VAPID key pair (RFC 8292), which signs every Web Push request.

The key is either configured (``VAPID_PRIVATE_KEY``: PEM, or the base64url raw 32-byte scalar that the
``web-push`` tools print) or generated once into ``ANDON_DATA_DIR/vapid_private.pem``. Browsers bind a
subscription to the public key they were given, so every process of a deployment must use the same key
for as long as the data directory lives: if two processes starting together each generated their own,
half of the pushes would be refused. Creation is therefore atomic and first-writer-wins (see
:func:`load_or_create_vapid_key`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

__all__ = [
    "VAPID_KEY_FILENAME",
    "InvalidVapidKey",
    "VapidKeys",
    "load_or_create_vapid_key",
    "parse_vapid_private_key",
    "vapid_signer",
]

VAPID_KEY_FILENAME = "vapid_private.pem"

_SCALAR_BYTES = 32


class InvalidVapidKey(ValueError):
    """A configured or stored VAPID key cannot be used; the message never contains key material."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class VapidKeys:
    """The VAPID key pair in the forms its users need.

    ``private_key``: the raw 32-byte scalar, base64url without padding, which pywebpush's
    ``vapid_private_key`` and ``py_vapid.Vapid.from_string`` accept (prefer :meth:`signer`, which
    skips pywebpush's "is this string a file name?" probe and the re-parse on every send).
    ``public_key_b64url``: the uncompressed P-256 point (65 bytes, 0x04 first), base64url without
    padding: the ``applicationServerKey`` that ``PushManager.subscribe`` wants.
    """

    private_key: str = field(repr=False)
    public_key_b64url: str

    @property
    def private_key_pem(self) -> str:
        """The private key as PKCS#8 PEM (what the generated key file holds)."""
        key = parse_vapid_private_key(self.private_key)
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def signer(self) -> Vapid02:
        """A py_vapid signer for this key, cached per key; pass it as pywebpush's ``vapid_private_key``."""
        return vapid_signer(self.private_key)


def _keys_from(private_key: ec.EllipticCurvePrivateKey) -> VapidKeys:
    scalar = private_key.private_numbers().private_value.to_bytes(_SCALAR_BYTES, "big")
    public = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidKeys(private_key=_b64url(scalar), public_key_b64url=_b64url(public))


def _require_p256(key: object) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidVapidKey("VAPID key must be an EC private key on the P-256 curve")
    return key


def parse_vapid_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """Parse a VAPID private key given as PEM (PKCS#8 or SEC1) or as a base64url raw 32-byte scalar.

    Surrounding whitespace and base64 padding are ignored, and a PEM whose line breaks arrived as the
    two characters ``\\n`` (a common accident when a PEM is put into an environment variable) is
    accepted. Raises :class:`InvalidVapidKey` for anything else, including keys on other curves.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidVapidKey("VAPID key is empty")
    if stripped.startswith("-----BEGIN"):
        pem = stripped.replace("\\n", "\n").encode("ascii", errors="replace")
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise InvalidVapidKey("VAPID key is not a readable unencrypted PEM private key") from None
        return _require_p256(key)
    raw = stripped.rstrip("=")
    if not raw.isascii() or any(not (ch.isalnum() or ch in "-_") for ch in raw):
        raise InvalidVapidKey("VAPID key is neither PEM nor base64url")
    try:
        scalar = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise InvalidVapidKey("VAPID key is neither PEM nor base64url") from None
    if len(scalar) != _SCALAR_BYTES:
        raise InvalidVapidKey(f"a raw VAPID key must decode to {_SCALAR_BYTES} bytes")
    try:
        return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    except ValueError:
        # Zero, or not below the curve order.
        raise InvalidVapidKey("raw VAPID key is not a valid P-256 scalar") from None


@functools.lru_cache(maxsize=8)
def vapid_signer(private_key: str) -> Vapid02:
    """A py_vapid ``Vapid02`` (RFC 8292 ``vapid t=…,k=…`` header) for a key in any accepted form.

    Cached because deriving the key costs more than signing, and a worker signs thousands of pushes
    with the same key.
    """
    return Vapid02(private_key=parse_vapid_private_key(private_key))


def load_or_create_vapid_key(data_dir: Path, configured_private_key: str | None) -> VapidKeys:
    """Return the VAPID key pair: the configured one, else the one stored in ``data_dir``.

    With ``configured_private_key`` set (not blank) it is parsed (see :func:`parse_vapid_private_key`)
    and nothing is written. Otherwise ``data_dir/vapid_private.pem`` is read, and created first when
    missing: the key is written to a temporary file in the same directory (mode 0600, fsynced) and
    hard-linked into place, which fails if the name exists; so among processes starting together
    exactly one file wins, it is never seen half-written, and every process returns the winner's key.
    Raises :class:`InvalidVapidKey` if the configured key or an existing file cannot be used (an
    unreadable file is never replaced: other processes may already be signing with it).
    """
    if configured_private_key is not None and configured_private_key.strip():
        return _keys_from(parse_vapid_private_key(configured_private_key))
    path = Path(data_dir) / VAPID_KEY_FILENAME
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def _read_key_file(path: Path) -> VapidKeys:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidVapidKey(f"cannot read the VAPID key file {path}: {type(exc).__name__}") from None
    try:
        return _keys_from(parse_vapid_private_key(text))
    except InvalidVapidKey as exc:
        raise InvalidVapidKey(f"the VAPID key file {path} is unusable: {exc}") from None


def _create_key_file(path: Path) -> None:
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )
    # mkstemp creates the file 0600 and O_EXCL, so the key is never readable by others, not even
    # briefly, and two processes never share a temporary file.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{VAPID_KEY_FILENAME}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as tmp:
            os.fchmod(tmp.fileno(), 0o600)
            tmp.write(pem)
            tmp.flush()
            # The content must be durable before the name points at it, or a crash could leave an
            # empty key file that every later start refuses.
            os.fsync(tmp.fileno())
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            # Another process won the race; its file is complete (it was linked after fsync).
            return
        _fsync_directory(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def _fsync_directory(directory: Path) -> None:
    # Makes the new directory entry itself durable; not every platform can open a directory.
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # Best effort as above: some filesystems refuse fsync on a directory.
    finally:
        os.close(dir_fd)
