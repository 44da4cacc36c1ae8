"""Export report from the room menu: the format choice, a download named after the room title and
the date (Content-Disposition), and a PDF that is a PDF with the room's messages in it."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.e2e.browser import Chromium, expect, open_room, requires_browser, shot
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]


async def test_export_report_from_the_room_menu(
    browser: Chromium, server: ServerProcess, api: Api, tmp_path: Path
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    tag = uuid.uuid4().hex[:6]
    title = f"Kiln 2 停機 {tag}"
    room_id = await api.room(alice, title)
    ws = await api.connect(alice, room_id)
    try:
        await ws.send_message("窯爐溫度過高 kiln over temperature")
        await ws.send_message({"temp_c": 1210, "fan_rpm": 900}, message_type="incident_data")
    finally:
        await ws.close()

    page = await browser.page(server.base_url, alice)
    await open_room(page, title)
    await page.get_by_role("button", name="Room menu").click()
    menu = page.get_by_role("group", name="Room menu")
    await expect(menu.get_by_role("group", name="Export report")).to_be_visible()
    assert await menu.get_by_role("radio").count() == 5
    await expect(menu.get_by_role("radio", name="PDF")).to_be_checked()
    await shot(page, "report-export-menu")

    async with page.expect_download() as pdf_info:
        await menu.get_by_role("link", name="Download PDF").click()
    pdf = await pdf_info.value
    assert re.fullmatch(rf"Kiln-2-停機-{tag}-\d{{4}}-\d\d-\d\d\.pdf", pdf.suggested_filename), (
        pdf.suggested_filename
    )
    saved = tmp_path / "report.pdf"
    await pdf.save_as(saved)
    text = re.sub(
        r"\s+", "", "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(saved.read_bytes())).pages)
    )
    assert "窯爐溫度過高" in text and "Chart:temp_c" in text and "Chart:fan_rpm" in text

    await page.get_by_role("button", name="Room menu").click()
    await menu.get_by_role("radio", name="Markdown").check()
    await expect(menu.get_by_role("link", name="Open")).to_have_count(0)
    async with page.expect_download() as md_info:
        await menu.get_by_role("link", name="Download Markdown").click()
    md = await md_info.value
    assert md.suggested_filename.endswith(".md") and tag in md.suggested_filename
    md_path = tmp_path / "report.md"
    await md.save_as(md_path)
    assert f"# Kiln 2 停機 {tag}" in md_path.read_text() and "Alice Lin" in md_path.read_text()
    assert not browser.page_errors
