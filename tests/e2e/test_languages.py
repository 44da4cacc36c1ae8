"""The main flows in both languages (issue 16, item 12): Chromium's locale decides the language
(zh-TW gives Traditional Chinese, en-US English), <html lang> follows, and Settings switches it
and keeps the choice on this device. Sign in, open a room, send, search and Settings run in each
language, with a screenshot of every screen under the test output directory."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import WAIT_MS, Chromium, Page, expect, requires_browser, shot
from tests.support.clients import PASSWORD, Api, User
from tests.workers.conftest import Stack, eventually

if TYPE_CHECKING:
    from playwright.async_api import CDPSession

pytestmark = [pytest.mark.e2e, requires_browser]


@dataclass(frozen=True)
class Words:
    """What the screens say in one language (written out here, not read from the locale files,
    so a missing or wrong translation fails the test)."""

    locale: str
    lang: str
    email: str
    password: str
    sign_in: str
    rooms_title: str
    banner: str
    not_now: str
    nav: str
    nav_rooms: str
    nav_search: str
    nav_settings: str
    live: str
    message: str
    messages: str
    search_words: str
    search: str
    one_result: str
    settings: str
    sound: str
    other_settings: str
    other_lang: str
    long_date: re.Pattern[str]


EN = Words(
    locale="en-US",
    lang="en",
    email="E-mail",
    password="Password",
    sign_in="Sign in",
    rooms_title="Incident rooms",
    banner="Get alerted when an incident needs you",
    not_now="Not now",
    nav="Main",
    nav_rooms="Rooms",
    nav_search="Search",
    nav_settings="Settings",
    live="Live",
    message="Message",
    messages="Messages",
    search_words="Search words",
    search="Search",
    one_result="1 result",
    settings="Settings",
    sound="Play a sound for new messages and mentions",
    other_settings="設定",
    other_lang="zh-TW",
    long_date=re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d:\d\d GMT\+8 \(Asia/Taipei\)$"),
)

ZH = Words(
    locale="zh-TW",
    lang="zh-TW",
    email="電子郵件",
    password="密碼",
    sign_in="登入",
    rooms_title="異常事件聊天室",
    banner="需要你處理異常時立即通知你",
    not_now="稍後再說",
    nav="主選單",
    nav_rooms="聊天室",
    nav_search="搜尋",
    nav_settings="設定",
    live="已連線",
    message="訊息",
    messages="訊息",
    search_words="搜尋字詞",
    search="搜尋",
    one_result="1 筆結果",
    settings="設定",
    sound="有新訊息和提及時播放提示音",
    other_settings="Settings",
    other_lang="en",
    long_date=re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日.*\d\d:\d\d:\d\d.*\(Asia/Taipei\)$"),
)


async def _indexed(api: Api, user: User, q: str) -> bool:
    r = await api.http.get("/api/search/messages", params={"q": q}, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return int(body["total"]) >= 1


@pytest.mark.parametrize("w", [EN, ZH], ids=["en", "zh-TW"])
async def test_main_flows_in_the_browsers_language(
    browser: Chromium, worker_stack: Stack, stack_api: Api, w: Words
) -> None:
    api = stack_api
    user = await api.user(f"lang-{w.lang.lower()}", display_name="林小姐")
    title = f"二號線 Line 2 {uuid.uuid4().hex[:6]}"
    await api.room(user, title)
    base = worker_stack.server.base_url
    name = f"languages-{w.lang}"

    # Sign in: the page speaks the browser's language from the first screen.
    page = await browser.page(base, locale=w.locale)
    await page.goto(f"{base}/")
    await expect(page.get_by_role("heading", name="Andon")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", w.lang)
    await page.get_by_label(w.email).fill(user.user_id)
    await page.get_by_label(w.password).fill(PASSWORD)
    await shot(page, f"{name}-1-sign-in")
    await page.get_by_role("button", name=w.sign_in).click()
    await expect(page.get_by_role("heading", name=w.rooms_title)).to_be_visible()
    prompt = page.get_by_role("region", name=w.banner)
    await shot(page, f"{name}-2-rooms")
    await prompt.get_by_role("button", name=w.not_now).click()
    await expect(prompt).to_be_hidden()

    # Open the room and send.
    nav = page.get_by_role("navigation", name=w.nav)
    await nav.get_by_role("link", name=re.compile(rf"^{w.nav_rooms}")).click()
    await page.get_by_role("link", name=re.compile(re.escape(title))).click()
    await expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    await expect(page.locator(".room-head").get_by_role("status")).to_have_text(w.live)
    word = f"gauge{uuid.uuid4().hex[:6]}"
    box = page.get_by_role("textbox", name=w.message, exact=True)
    await box.fill(f"{word} 溫度過高")
    await box.press("Enter")
    await expect(box).to_have_value("")
    sent = page.get_by_label(w.messages, exact=True).locator("li.message:not(.echo)").filter(has_text=word)
    await expect(sent).to_have_count(1)
    # Today's time is the spec's HH:mm (GMT+8) in both languages; the tooltip's long form is the locale's.
    stamp = sent.locator(".message-head time")
    await expect(stamp).to_have_text(re.compile(r"^\d\d:\d\d$"))
    await expect(stamp).to_have_attribute("title", w.long_date)
    await shot(page, f"{name}-3-room")

    # Search finds it once the worker has indexed it.
    await eventually(lambda: _indexed(api, user, word), timeout=30, what="the message indexed")
    await nav.get_by_role("link", name=w.nav_search).click()
    form = page.get_by_role("search")
    await form.get_by_label(w.search_words).fill(word)
    await form.get_by_role("button", name=w.search).click()
    await expect(page.get_by_role("status").filter(has_text=w.one_result)).to_have_text(w.one_result)
    await expect(page.locator("ol.search-results").get_by_role("link")).to_contain_text(title)
    await shot(page, f"{name}-4-search")

    # Settings: the switch changes every view at once, and the choice outlives a reload.
    await nav.get_by_role("link", name=w.nav_settings).click()
    await expect(page.get_by_role("heading", name=w.settings, level=1)).to_be_visible()
    await expect(page.get_by_text(w.sound)).to_be_visible()
    select = page.get_by_test_id("language-select")
    await expect(select).to_have_value("auto")
    await shot(page, f"{name}-5-settings")
    await select.select_option(w.other_lang)
    await expect(page.get_by_role("heading", name=w.other_settings, level=1)).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", w.other_lang)
    await page.reload()
    await expect(page.get_by_role("heading", name=w.other_settings, level=1)).to_be_visible()
    await expect(page.get_by_test_id("language-select")).to_have_value(w.other_lang)
    await shot(page, f"{name}-6-switched")


async def _worker_language(page: Page, expected: str) -> None:
    """Waits (bounded) until the service worker has stored the language the page told it."""
    stored = await page.evaluate(
        """async ({ expected, timeoutMs }) => {
             const deadline = Date.now() + timeoutMs;
             for (;;) {
               const hit = await (await caches.open('andon-prefs')).match('/__andon/language');
               const value = hit ? await hit.text() : null;
               if (value === expected || Date.now() > deadline) return value;
               await new Promise((resolve) => setTimeout(resolve, 50));
             }
           }""",
        {"expected": expected, "timeoutMs": WAIT_MS},
    )
    assert stored == expected


async def _push(page: Page, cdp: CDPSession, registration_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Hands a push to the page's service worker, as the push service would, and returns the
    notification it showed."""
    base = page.url.split("/", 3)[:3]
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": "/".join(base), "registrationId": registration_id, "data": json.dumps(payload)},
    )
    tag = (
        f"andon-urgent-{payload['message_id']}"
        if payload["kind"] == "urgent"
        else f"andon-room-{payload['room_id']}"
    )
    shown: list[dict[str, Any]] = await page.evaluate(
        """async ({ tag, timeoutMs }) => {
             const reg = await navigator.serviceWorker.getRegistration();
             const deadline = Date.now() + timeoutMs;
             for (;;) {
               const shown = await reg.getNotifications({ tag });
               if (shown.length > 0 || Date.now() > deadline) {
                 return shown.map((n) => ({ title: n.title, body: n.body, actions: (n.actions ?? []).map((a) => a.title) }));
               }
               await new Promise((resolve) => setTimeout(resolve, 100));
             }
           }""",
        {"tag": tag, "timeoutMs": WAIT_MS},
    )
    assert len(shown) == 1, shown
    return shown[0]


async def test_notifications_speak_the_language_the_page_shows(
    browser: Chromium, worker_stack: Stack, stack_api: Api
) -> None:
    base = worker_stack.server.base_url
    user = await stack_api.user("lang-push", display_name="Ann")
    page = await browser.page(base, locale="zh-TW", permissions=["notifications"])
    cdp = await page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    await cdp.send("ServiceWorker.enable")
    await page.goto(f"{base}/")
    await expect(page.get_by_role("button", name=ZH.sign_in)).to_be_visible()
    assert await page.evaluate("navigator.serviceWorker.ready.then((r) => r.active !== null)")
    await _worker_language(page, "zh-TW")
    # The same registration is reported at each step of its worker's life: one id.
    [reg_id] = {
        r["registrationId"] for r in registrations if r["scopeURL"] == f"{base}/" and not r["isDeleted"]
    }

    mention = {
        "kind": "mention",
        "room_id": "r-lang",
        "room_title": "二號線",
        "message_id": "m-1",
        "sequence_number": 1,
        "sender_display_name": "Bob Chen",
        "preview": "請檢查溫度",
        "url": "/rooms/r-lang",
    }
    shown = await _push(page, cdp, reg_id, mention)
    assert shown["title"] == "Bob Chen 在「二號線」提及了你"
    assert shown["body"] == "請檢查溫度"

    # Switched to English in Settings: the worker's next notification is in English.
    await page.get_by_label(ZH.email).fill(user.user_id)
    await page.get_by_label(ZH.password).fill(PASSWORD)
    await page.get_by_role("button", name=ZH.sign_in).click()
    await page.get_by_role("navigation", name=ZH.nav).get_by_role("link", name=ZH.nav_settings).click()
    await page.get_by_test_id("language-select").select_option("en")
    await expect(page.get_by_role("heading", name=EN.settings, level=1)).to_be_visible()
    await _worker_language(page, "en")
    urgent = {**mention, "kind": "urgent", "message_id": "m-2"}
    shown = await _push(page, cdp, reg_id, urgent)
    assert shown["title"] == "URGENT: Bob Chen in 二號線"
    assert shown["actions"] in ([], ["Acknowledge"])  # Chromium lists actions only where it shows them
