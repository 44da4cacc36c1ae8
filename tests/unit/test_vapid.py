"""VAPID key loading and the atomic first-start creation of the key file."""

from __future__ import annotations

import base64
import multiprocessing
import os
import queue
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from py_vapid.jwt import decode as decode_jwt

from api.domain.push import vapid as vapid_module
from api.domain.push.vapid import (
    VAPID_KEY_FILENAME,
    InvalidVapidKey,
    VapidKeys,
    load_or_create_vapid_key,
    parse_vapid_private_key,
)


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _pem(key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _raw(key: ec.EllipticCurvePrivateKey) -> str:
    return _b64url(key.private_numbers().private_value.to_bytes(32, "big"))


# --- configured keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
def test_configured_pem_key_is_used_and_nothing_is_written(tmp_path: Path, fmt) -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    keys = load_or_create_vapid_key(tmp_path, _pem(key, fmt))

    assert _b64url_decode(keys.public_key_b64url) == _public_point(key)
    assert keys.private_key == _raw(key)
    assert list(tmp_path.iterdir()) == []


def test_configured_raw_base64url_key_is_used(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    keys = load_or_create_vapid_key(tmp_path, _raw(key))

    assert _b64url_decode(keys.public_key_b64url) == _public_point(key)
    assert list(tmp_path.iterdir()) == []


def test_configured_raw_key_with_padding_and_whitespace_is_accepted(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    padded = base64.urlsafe_b64encode(key.private_numbers().private_value.to_bytes(32, "big")).decode()

    keys = load_or_create_vapid_key(tmp_path, f"  {padded}\n")

    assert _b64url_decode(keys.public_key_b64url) == _public_point(key)


def test_pem_with_escaped_newlines_from_an_env_file_is_accepted(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    one_line = _pem(key, serialization.PrivateFormat.PKCS8).strip().replace("\n", "\\n")

    keys = load_or_create_vapid_key(tmp_path, one_line)

    assert _b64url_decode(keys.public_key_b64url) == _public_point(key)


@pytest.mark.parametrize("blank", [None, "", "   \n"])
def test_blank_configuration_means_generate(tmp_path: Path, blank: str | None) -> None:
    load_or_create_vapid_key(tmp_path, blank)

    assert (tmp_path / VAPID_KEY_FILENAME).is_file()


@pytest.mark.parametrize(
    "bad",
    [
        "not a key at all",
        _b64url(b"\x01" * 31),  # too short for a P-256 scalar
        _b64url(b"\x00" * 32),  # zero is no private key
        _b64url(b"\xff" * 32),  # above the curve order
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "abc+/def",  # standard base64 is not base64url
    ],
)
def test_unusable_configured_key_is_refused_without_echoing_it(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidVapidKey) as caught:
        load_or_create_vapid_key(tmp_path, bad)

    assert bad.strip() not in str(caught.value)


def test_a_key_on_another_curve_is_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())

    with pytest.raises(InvalidVapidKey, match="P-256"):
        parse_vapid_private_key(_pem(p384, serialization.PrivateFormat.PKCS8))


def test_repr_does_not_show_the_private_key(tmp_path: Path) -> None:
    keys = load_or_create_vapid_key(tmp_path, None)

    assert keys.private_key not in repr(keys)


# --- public key format and use with pywebpush's signer -----------------------------------------


def test_public_key_is_an_unpadded_base64url_uncompressed_point(tmp_path: Path) -> None:
    keys = load_or_create_vapid_key(tmp_path, None)

    assert "=" not in keys.public_key_b64url
    assert "+" not in keys.public_key_b64url and "/" not in keys.public_key_b64url
    point = _b64url_decode(keys.public_key_b64url)
    assert len(point) == 65
    assert point[0] == 0x04
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def test_private_key_forms_are_accepted_by_py_vapid_and_sign_for_the_public_key(tmp_path: Path) -> None:
    keys = load_or_create_vapid_key(tmp_path, None)
    claims = {"sub": "mailto:ops@example.com", "aud": "https://push.example.net"}

    for signer in (Vapid.from_string(keys.private_key), keys.signer()):
        header = signer.sign(dict(claims))["Authorization"]
        token, key = header.removeprefix("vapid t=").split(",k=")
        assert key == keys.public_key_b64url
        assert decode_jwt(token, key)["aud"] == claims["aud"]


def test_private_key_pem_round_trips(tmp_path: Path) -> None:
    keys = load_or_create_vapid_key(tmp_path, None)

    assert load_or_create_vapid_key(tmp_path / "other", keys.private_key_pem) == keys


# --- the generated key file -------------------------------------------------------------------


def test_generated_key_is_stored_0600_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "nested"  # missing directories are created

    first = load_or_create_vapid_key(data_dir, None)
    second = load_or_create_vapid_key(data_dir, None)

    path = data_dir / VAPID_KEY_FILENAME
    assert first == second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert sorted(p.name for p in data_dir.iterdir()) == [VAPID_KEY_FILENAME]  # no temp file left


def test_losing_the_creation_race_returns_the_winners_key(tmp_path: Path, monkeypatch) -> None:
    # given another process that links its key file in between our existence check and our link
    winner = ec.generate_private_key(ec.SECP256R1())
    real_link = os.link

    def link_after_the_winner(src, dst, *args, **kwargs):
        Path(dst).write_text(_pem(winner, serialization.PrivateFormat.PKCS8))
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(vapid_module.os, "link", link_after_the_winner)

    # when
    keys = load_or_create_vapid_key(tmp_path, None)

    # then the winner's key is returned and our temporary file is gone
    assert _b64url_decode(keys.public_key_b64url) == _public_point(winner)
    assert [p.name for p in tmp_path.iterdir()] == [VAPID_KEY_FILENAME]


def test_an_unreadable_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / VAPID_KEY_FILENAME
    path.write_text("")

    with pytest.raises(InvalidVapidKey, match="unusable"):
        load_or_create_vapid_key(tmp_path, None)

    assert path.read_text() == ""


def _create_in_child(data_dir: str, barrier, results) -> None:
    # Every child waits at the barrier so that they all race for the file at the same moment.
    barrier.wait(timeout=60)
    try:
        keys = load_or_create_vapid_key(Path(data_dir), None)
        results.put(("ok", keys.public_key_b64url))
    except Exception as exc:  # reported to the parent rather than lost in the child
        results.put(("error", repr(exc)))


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    # given several processes released at the same instant on an empty data directory
    processes_count = 8
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes_count)
    results = ctx.Queue()
    children = [
        ctx.Process(target=_create_in_child, args=(str(tmp_path), barrier, results))
        for _ in range(processes_count)
    ]
    for child in children:
        child.start()
    try:
        # when each has loaded or created the key
        outcomes = []
        for _ in children:
            try:
                outcomes.append(results.get(timeout=60))
            except queue.Empty:
                pytest.fail(f"only {len(outcomes)} of {processes_count} processes reported")
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()

    # then all of them hold the same key, the one in the file, and no temp file is left
    assert [status for status, _ in outcomes] == ["ok"] * processes_count, outcomes
    public_keys = {public for _, public in outcomes}
    assert len(public_keys) == 1
    assert public_keys == {load_or_create_vapid_key(tmp_path, None).public_key_b64url}
    assert [p.name for p in tmp_path.iterdir()] == [VAPID_KEY_FILENAME]
    assert isinstance(load_or_create_vapid_key(tmp_path, None), VapidKeys)
