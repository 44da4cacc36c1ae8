"""Driving Debian's Chromium through Playwright against a real `andon serve`.

Every wait has a timeout: Playwright's auto-waiting actions and `expect` assertions use
`WAIT_MS` unless a step passes a longer one. Nothing here sleeps to synchronise.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import PASSWORD, User

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
WEB_INDEX = ROOT / "api" / "webdist" / "index.html"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
WAIT_MS = 15_000
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _skip_reason() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if not WEB_INDEX.exists():
        return "the web client is not built (cd webclient && npm ci && npm run build)"
    return None


SKIP_REASON = _skip_reason()
requires_browser = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")

if SKIP_REASON is None:
    from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

    expect.set_options(timeout=WAIT_MS)
else:  # pragma: no cover - the module is skipped
    Browser = BrowserContext = Locator = Page = Any  # type: ignore[misc,assignment]
    # Test modules import it by name; with the browser missing they are collected, then skipped.
    expect = None  # type: ignore[assignment]


@dataclass
class Chromium:
    """One headless Chromium for one test; every context it opens records uncaught page errors."""

    browser: Browser
    page_errors: list[str] = field(default_factory=list)

    async def context(self, **options: Any) -> BrowserContext:
        options.setdefault("locale", "en-US")
        context = await self.browser.new_context(**options)
        context.set_default_timeout(WAIT_MS)
        context.on("weberror", lambda e: self.page_errors.append(str(e.error)))
        return context

    async def page(
        self, base_url: str, user: User | None = None, *, init_scripts: tuple[str, ...] = (), **options: Any
    ) -> Page:
        """A page in a fresh context, signed in through the sign-in form when `user` is given
        (the first-visit notification prompt answered "Not now" unless the context was granted
        the notifications permission)."""
        context = await self.context(**options)
        for script in init_scripts:
            await context.add_init_script(script)
        page = await context.new_page()
        if user is not None:
            await sign_in(page, base_url, user)
            if "notifications" not in options.get("permissions", ()):
                await dismiss_notification_prompt(page)
        return page


@asynccontextmanager
async def chromium() -> AsyncIterator[Chromium]:
    """Launch Chromium with a fresh (temporary) profile; always closed on the way out."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS, timeout=60_000
        )
        try:
            yield Chromium(browser)
        finally:
            await browser.close()


# ----------------------------------------------------------------------------- screens


async def sign_in(page: Page, base_url: str, user: User, *, screenshot: str | None = None) -> None:
    await page.goto(f"{base_url}/")
    await expect(page.get_by_role("heading", name="Andon")).to_be_visible()
    await page.get_by_label("E-mail").fill(user.user_id)
    await page.get_by_label("Password").fill(PASSWORD)
    if screenshot:
        await shot(page, screenshot)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Incident rooms")).to_be_visible()


async def dismiss_notification_prompt(page: Page) -> None:
    prompt = page.get_by_role("region", name="Get alerted when an incident needs you")
    await prompt.get_by_role("button", name="Not now").click()
    await expect(prompt).to_be_hidden()


def nav_link(page: Page, name: str) -> Locator:
    """A link of the main navigation ("Rooms" may carry an unread badge in its name)."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(rf"^{name}\b"))


async def open_room(page: Page, title: str) -> None:
    """From the room list, open the room by its (unique) title and wait until it is live."""
    await nav_link(page, "Rooms").click()
    await page.get_by_role("link", name=re.compile(re.escape(title))).click()
    await expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    await expect_live(page)


def connection(page: Page) -> Locator:
    return page.locator(".room-head").get_by_role("status")


async def expect_live(page: Page, timeout: float = WAIT_MS) -> None:
    await expect(connection(page)).to_have_text("Live", timeout=timeout)


def composer(page: Page) -> Locator:
    # A textarea may not take the combobox role (axe: aria-allowed-role): it is a textbox that
    # names its suggestion list with aria-controls / aria-activedescendant.
    return page.get_by_role("textbox", name="Message", exact=True)


async def send(page: Page, text: str) -> None:
    box = composer(page)
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")


def message_list(page: Page) -> Locator:
    return page.get_by_label("Messages", exact=True)


def message_item(page: Page, text: str) -> Locator:
    """The stored (not echoed) message whose text contains `text`."""
    return message_list(page).locator("li.message:not(.echo)").filter(has_text=text)


def stored_texts(page: Page) -> Locator:
    """The text bodies of stored chat messages, top to bottom."""
    return message_list(page).locator("li.message:not(.echo) p.text")


def echoes(page: Page) -> Locator:
    return message_list(page).locator("li.echo")


async def shown_sequence(page: Page) -> list[tuple[int, str | None]]:
    """(sequence number, text) of every stored item in the view, top to bottom."""
    rows: list[list[Any]] = await message_list(page).evaluate(
        """el => [...el.querySelectorAll('li[data-seq]')].map(li => [
              Number(li.dataset.seq),
              li.classList.contains('system-notice') ? null : (li.querySelector('p.text')?.textContent ?? ''),
           ])"""
    )
    return [(int(seq), text) for seq, text in rows]


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


# ----------------------------------------------------------------------------- init scripts

# Records every notification the page shows, through the service worker registration or the
# Notification constructor, and still shows it.
RECORD_NOTIFICATIONS = """
(() => {
  // Init scripts also run in documents that are not secure contexts (the first about:blank).
  if (typeof ServiceWorkerRegistration === 'undefined' || typeof Notification === 'undefined') return;
  window.__notifications = [];
  const record = (via, title, options) =>
    window.__notifications.push({ via, title, body: options?.body ?? null, tag: options?.tag ?? null });
  const show = ServiceWorkerRegistration.prototype.showNotification;
  ServiceWorkerRegistration.prototype.showNotification = function (title, options) {
    record('registration', title, options);
    return show.call(this, title, options);
  };
  const Real = window.Notification;
  window.Notification = new Proxy(Real, {
    construct(target, args) {
      record('constructor', args[0], args[1]);
      return Reflect.construct(target, args);
    },
  });
})();
"""

# Lets the test hide and show the page: document.visibilityState / hidden / hasFocus() follow
# window.__setHidden(bool), which also fires visibilitychange as a real tab switch does.
CONTROLLABLE_VISIBILITY = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true, get() { return hidden ? 'hidden' : 'visible'; },
  });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get() { return hidden; } });
  const hasFocus = Document.prototype.hasFocus;
  Document.prototype.hasFocus = function () { return !hidden && hasFocus.call(this); };
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event('visibilitychange'));
    window.dispatchEvent(new Event(value ? 'blur' : 'focus'));
  };
})();
"""


def stub_push_manager(endpoint: str, p256dh: str, auth: str) -> str:
    """PushManager.subscribe cannot reach a push service here: hand out this subscription instead
    and record the options the page subscribed with (window.__pushSubscribeOptions)."""
    sub = json.dumps({"endpoint": endpoint, "p256dh": p256dh, "auth": auth})
    return """
(() => {
  if (typeof PushManager === 'undefined') return;
  const given = __GIVEN__;
  const bytes = (b64url) => {
    const s = atob(b64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(b64url.length / 4) * 4, '='));
    return Uint8Array.from(s, (c) => c.charCodeAt(0)).buffer;
  };
  let current = null;
  window.__pushSubscribeOptions = [];
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
  PushManager.prototype.subscribe = function (options) {
    const key = new Uint8Array(options.applicationServerKey).slice().buffer;
    window.__pushSubscribeOptions.push({
      userVisibleOnly: options.userVisibleOnly,
      applicationServerKey: btoa(String.fromCharCode(...new Uint8Array(key)))
        .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, ''),
    });
    current = {
      endpoint: given.endpoint,
      expirationTime: null,
      options: { userVisibleOnly: true, applicationServerKey: key },
      getKey: (name) => (name === 'p256dh' ? bytes(given.p256dh) : name === 'auth' ? bytes(given.auth) : null),
      unsubscribe: () => { current = null; return Promise.resolve(true); },
      toJSON: () => ({ endpoint: given.endpoint, keys: { p256dh: given.p256dh, auth: given.auth } }),
    };
    return Promise.resolve(current);
  };
})();
""".replace("__GIVEN__", sub)
