"""Uploads and incident data in the browser: inline image preview, file link, data card, trend chart."""

from __future__ import annotations

import re
import struct
import uuid
import zlib

import pytest

from tests.e2e.browser import Chromium, expect, open_room, requires_browser, shot
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]


def _png(width: int = 8, height: int = 8) -> bytes:
    """A real PNG (red square), so the browser decodes it and reports a natural size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def test_image_and_file_upload_and_incident_data_chart(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Reflow oven {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")
    page = await browser.page(server.base_url, alice)
    other = await browser.page(server.base_url, bob)
    await open_room(page, title)
    await open_room(other, title)

    # An image, chosen through the composer's file input: an inline preview on both screens.
    await page.locator("input[type=file]").set_input_files(
        {"name": "defect.png", "mimeType": "image/png", "buffer": _png()}
    )
    for p in (page, other):
        image = p.locator("img.inline-image")
        await expect(image).to_have_count(1)
        await expect(image).to_have_attribute("src", re.compile(r"^/api/files/[0-9a-f-]{36}$"))
        # Really decoded (the cookie authorises the request, the type was sniffed as PNG).
        await p.wait_for_function(
            "() => { const i = document.querySelector('img.inline-image'); return i && i.complete && i.naturalWidth === 8 }"
        )
    # A non-image file becomes a download link.
    await page.locator("input[type=file]").set_input_files(
        {"name": "readings.csv", "mimeType": "text/csv", "buffer": b"time,temp\n10:02,85\n"}
    )
    link = other.locator("a.file-link")
    await expect(link).to_have_count(1)
    await expect(link).to_have_attribute("download", re.compile(".*"))
    stored = (await api.history(alice, room_id))["messages"]
    types = [m["message_type"] for m in stored if m["message_type"] in ("image_ref", "file_ref")]
    assert sorted(types) == ["file_ref", "image_ref"]

    # Incident data through the form, twice: cards in the stream, then the trend chart.
    for temperature, pressure in (("80", "110"), ("85", "120")):
        await page.get_by_role("button", name="Post incident data").click()
        form = page.get_by_role("form", name="Incident data")
        await form.get_by_label(re.compile(r"^Temperature")).fill(temperature)
        await form.get_by_label(re.compile(r"^Pressure")).fill(pressure)
        await form.get_by_role("button", name="Post readings").click()
        await expect(form).to_have_count(0)
    cards = other.get_by_role("figure").filter(has_text="Incident data")
    await expect(cards).to_have_count(2)
    await expect(cards.last).to_contain_text("85")
    await other.get_by_role("button", name=re.compile("Trend")).click()
    chart = other.get_by_role(
        "group", name=re.compile(r"^Temperature: 2 readings from 80 °C to 85 °C, latest 85 °C")
    )
    await expect(chart).to_be_visible()
    await shot(other, "09-media-and-trend")
    points = (
        await api.http.get(
            f"/api/rooms/{room_id}/incident-data", params={"field": "pressure"}, headers=bob.headers
        )
    ).json()
    assert [p["value"] for p in points["points"]] == [110, 120]
