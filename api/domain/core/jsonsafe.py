"""Decoding untrusted JSON with a nesting bound, so a 10,000-deep document is an error, not a crash."""

from __future__ import annotations

from typing import Any

import msgspec

from api.domain.core.errors import Invalid

MAX_DEPTH = 32
_decoder = msgspec.json.Decoder()


def _depth_exceeds(raw: bytes, limit: int) -> bool:
    depth = 0
    in_string = False
    escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x7D, 0x5D):
            depth -= 1
    return False


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            for key, item in node.items():
                if "\x00" in key:
                    return True
                stack.append(item)
        elif isinstance(node, list):
            stack.extend(node)
    return False


def loads(raw: bytes | str, limit: int = MAX_DEPTH, *, nul_code: str = "invalid") -> Any:
    """Decode JSON; Invalid for malformed or too deeply nested input.

    A NUL character (U+0000) in any string or key is refused too: PostgreSQL text and jsonb
    cannot hold it, so it could only fail later, and in a message batch it would fail the
    other senders' messages with it (refused with `nul_code`: REST says 422).
    """
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    # Cheap pre-check: a document with few brackets cannot be deep.
    if data.count(b"{") + data.count(b"[") > limit and _depth_exceeds(data, limit):
        raise Invalid(f"JSON nested deeper than {limit} levels")
    try:
        value = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise Invalid("malformed JSON") from exc
    except RecursionError as exc:  # pragma: no cover - guarded above
        raise Invalid("JSON nested too deeply") from exc
    # Only a document with an escaped NUL can hold one (a raw one is malformed JSON).
    if b"\\u0000" in data and _has_nul(value):
        raise Invalid("text must not contain NUL (U+0000) characters", code=nul_code)
    return value
