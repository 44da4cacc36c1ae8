"""Flexible incident data in the browser: any field (text or number, with a unit) through the form,
units on the cards, and the uPlot trend chart: several fields, hover read-out, zoom/pan, live."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import FloatRect, Locator

from tests.e2e.browser import Chromium, expect, open_room, requires_browser, shot
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]


async def _box_of(locator: Locator, attempts: int = 5) -> FloatRect:
    """The element's box once it is laid out. `bounding_box` does not wait: in a CI run on a
    busy machine it returned None for the chart's overlay just after the plot's label had
    settled, so wait for the element to be visible first (each wait bounded)."""
    for _ in range(attempts):
        await expect(locator).to_be_visible()
        box = await locator.bounding_box()
        if box is not None:
            return box
    raise AssertionError(f"{locator} has no box after {attempts} waits for it to be visible")


async def test_any_field_with_units_through_the_form_and_a_live_multi_series_chart(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Press line {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")
    page = await browser.page(server.base_url, alice)
    await open_room(page, title)

    # The spec's three readings are presets; text fields and new numbers with units are added.
    await page.get_by_role("button", name="Post incident data").click()
    form = page.get_by_role("form", name="Incident data")
    await form.get_by_label("Temperature (°C)").fill("85")
    for name, kind, value, unit in (("Line", "Text", "L3", ""), ("vibration", "Number", "4.2", "mm/s")):
        await form.get_by_role("button", name="Add field").click()
        row = form.get_by_role("group").last
        await row.get_by_placeholder("e.g. line").fill(name)
        await row.locator("select").select_option(label=kind)
        await row.locator("input.field-value").fill(value)
        await row.get_by_placeholder("e.g. °C").fill(unit)
    # A number field holding text is refused with a message that says how to fix it.
    await form.get_by_label("Pressure (kPa)").fill("high")
    await form.get_by_role("button", name="Post readings").click()
    await expect(form.get_by_role("alert")).to_contain_text("Field 2: the value must be a number")
    await form.get_by_label("Pressure (kPa)").fill("")
    await shot(page, "incident-01-form")
    await form.get_by_role("button", name="Post readings").click()
    await expect(form).to_have_count(0)

    card = page.get_by_role("figure").filter(has_text="Incident data").last
    await expect(card.locator('[data-field="temperature"] dd')).to_have_text("85 °C")
    await expect(card.locator('[data-field="vibration"] dd')).to_have_text("4.2 mm/s")
    await expect(card.locator('[data-field="line"] dd')).to_have_text("L3")
    await expect(card).not_to_contain_text("_units")
    await shot(page, "incident-02-card-with-units")
    stored = [
        m for m in (await api.history(alice, room_id))["messages"] if m["message_type"] == "incident_data"
    ]
    assert stored[0]["content"]["_units"] == {"temperature": "°C", "vibration": "mm/s"}
    assert stored[0]["content"]["line"] == "L3" and stored[0]["content"]["vibration"] == 4.2

    bob_ws = await api.connect(bob, room_id)
    try:
        await bob_ws.send_message(
            {"temperature": 88, "vibration": 5.0, "_units": {"temperature": "°C", "vibration": "mm/s"}},
            message_type="incident_data",
        )
        # The chart: temperature by default, vibration added; text fields are not offered.
        await page.get_by_role("button", name=re.compile("Trend")).click()
        side = page.get_by_role("complementary", name="Trend")
        await expect(side.get_by_role("checkbox", name="Temperature (°C)")).to_be_checked()
        await expect(side.get_by_role("checkbox", name=re.compile("line"))).to_have_count(0)
        await side.get_by_role("checkbox", name="vibration (mm/s)").check()
        plot = side.get_by_test_id("incident-plot")
        await expect(plot).to_have_attribute(
            "aria-label",
            "Temperature: 2 readings from 85 °C to 88 °C, latest 88 °C; "
            "vibration: 2 readings from 4.2 mm/s to 5 mm/s, latest 5 mm/s",
        )
        await expect(side.locator("canvas")).to_have_count(1)

        # Hover read-out: the legend shows each series' value under the pointer, with its unit.
        over = side.locator(".u-over")
        box = await _box_of(over)
        await page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
        legend = side.locator(".u-legend")
        await expect(legend).to_contain_text("88 °C")
        await expect(legend).to_contain_text("5 mm/s")
        await shot(page, "incident-03-chart-hover")

        # Zoom by dragging across the plot, pan, then back to everything.
        show_all = side.get_by_role("button", name="Show all")
        await expect(show_all).to_be_disabled()
        await page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 20)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + 20, steps=5)
        await page.mouse.up()
        await expect(show_all).to_be_enabled()
        await side.get_by_role("button", name="Earlier").click()
        await shot(page, "incident-04-chart-zoomed")
        await show_all.click()
        await expect(show_all).to_be_disabled()
        await side.get_by_role("button", name="Zoom in").click()
        await expect(show_all).to_be_enabled()
        await show_all.click()

        # Live: a reading posted elsewhere joins the chart without a reload.
        await bob_ws.send_message({"temperature": 95}, message_type="incident_data")
        await expect(plot).to_have_attribute(
            "aria-label",
            re.compile(r"^Temperature: 3 readings from 85 °C to 95 °C, latest 95 °C; vibration: 2"),
        )
        await shot(page, "incident-05-chart-live")
    finally:
        await bob_ws.close()

    # On a phone the form's rows wrap and stay usable.
    phone = await browser.page(server.base_url, bob, viewport={"width": 390, "height": 844})
    await open_room(phone, title)
    await phone.get_by_role("button", name="Post incident data").click()
    phone_form = phone.get_by_role("form", name="Incident data")
    await phone_form.get_by_role("button", name="Add field").click()
    value = phone_form.get_by_label("Temperature (°C)")
    await expect(value).to_be_visible()
    box = await value.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    await shot(phone, "incident-06-form-phone")
