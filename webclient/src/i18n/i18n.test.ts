import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore } from "../state/settings";
import { ZonedTimeFormatter } from "../state/time_format";
import { resolveLanguage } from "./core";
import { translator } from "./locales";
import {
  browserLanguagesChanged,
  chooseLanguage,
  formatNumber,
  initLanguage,
  language,
  languageChoice,
  lazyTexts,
  t,
} from "./index";
import en from "./locales/en.json";
import zhTW from "./locales/zh-TW.json";

type Tree = { [key: string]: string | Tree };

function flatten(tree: Tree, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(tree)) {
    if (typeof value === "string") out.set(prefix + key, value);
    else for (const [k, v] of flatten(value, `${prefix}${key}.`)) out.set(k, v);
  }
  return out;
}

/** "nav.unread_one" and "nav.unread_other" are one key to translate: "nav.unread". */
const base = (key: string) => key.replace(/_(zero|one|two|few|many|other)$/, "");
const placeholders = (text: string) => [...text.matchAll(/\{\{\s*([\w.]+)/g)].map((m) => m[1]).sort();

const EN = flatten(en as Tree);
const ZH = flatten(zhTW as Tree);

afterEach(() => {
  initLanguage({ store: new MemoryStore(), preferences: ["en-US"] });
});

describe("resolveLanguage: the browser's preferences to a language", () => {
  it.each([
    [["zh-TW"], "zh-TW"],
    [["zh-Hant"], "zh-TW"],
    [["zh-Hant-TW"], "zh-TW"],
    [["zh-HK"], "zh-TW"],
    [["zh-MO"], "zh-TW"],
    [["zh_TW"], "zh-TW"],
    [["ZH-tw"], "zh-TW"],
    [["en-US", "zh-TW"], "en"],
    [["fr-FR", "zh-TW"], "zh-TW"],
    [["zh-CN"], "en"],
    [["zh-Hans-CN", "zh-TW"], "zh-TW"],
    [["ja-JP"], "en"],
    [[], "en"],
    [[""], "en"],
  ])("%j → %s", (prefs, expected) => {
    expect(resolveLanguage(prefs)).toBe(expected);
  });
});

describe("the locale files", () => {
  it("have every key in both languages, with the same placeholders", () => {
    const enKeys = new Set([...EN.keys()].map(base));
    const zhKeys = new Set([...ZH.keys()].map(base));
    expect([...enKeys].filter((k) => !zhKeys.has(k))).toEqual([]);
    expect([...zhKeys].filter((k) => !enKeys.has(k))).toEqual([]);
    expect(enKeys.size).toBeGreaterThan(300);
    for (const [key, text] of EN) {
      const zh = ZH.get(key) ?? ZH.get(`${base(key)}_other`);
      expect(zh, key).toBeDefined();
      expect(placeholders(zh!), key).toEqual(placeholders(text));
    }
  });

  it("have no empty text, and the Chinese is Chinese (not English left untranslated)", () => {
    // Punctuation, units, product and format names: the same in both languages, on purpose.
    const neutral = new Set([
      "app.unreadTitle",
      "alerts.person",
      "common.labelled",
      "common.listSeparator",
      "common.overflow",
      "connection.aria",
      "attachment.bytes",
      "attachment.kib",
      "attachment.mib",
      "chart.summarySeparator",
      "incidentForm.numbered",
      "incidentForm.valueWithUnit",
      "message.aria",
      "reactions.button",
      "roomMenu.formats.pdf",
      "roomMenu.formats.html",
      "roomMenu.formats.md",
      "roomMenu.formats.json",
      "settings.languageNames.en",
      "system.other",
      "system.otherBy",
      "preview.image",
      "preview.file",
      "announce.message",
      "notification.messageBody",
    ]);
    const untranslated = [...ZH].filter(([key, text]) => {
      const words = text.replace(/\{\{[^}]*\}\}/g, "");
      return !/\p{Script=Han}/u.test(words) && !neutral.has(key);
    });
    expect(untranslated).toEqual([]);
    for (const [key, text] of [...EN, ...ZH]) expect(text.trim(), key).not.toBe("");
  });
});

describe("translators", () => {
  const zh = translator("zh-TW");
  const enT = translator("en");

  it("plural forms come from i18next: English has one/other, Chinese one form", () => {
    expect(enT("search.results", { count: 1 })).toBe("1 result");
    expect(enT("search.results", { count: 1234 })).toBe("1,234 results");
    expect(zh("search.results", { count: 1 })).toBe("1 筆結果");
    expect(zh("search.results", { count: 1234 })).toBe("1,234 筆結果");
  });

  it("falls back to English for a key Chinese lacks, and to the key's default value for an unknown one", () => {
    expect(zh("no.such.key", { defaultValue: "fallback" })).toBe("fallback");
    expect(translator("zh-TW")("roles.OWNER")).toBe("擁有者");
    expect(zh("roomStatus.paused", { defaultValue: "paused" })).toBe("paused");
  });

  it("does not escape names (Preact escapes what it renders)", () => {
    expect(enT("toasts.mentioned", { sender: "A & <B>", room: "R" })).toBe("A & <B> mentioned you in R");
  });
});

describe("t() follows the chosen language", () => {
  it("follows the browser, and Settings' choice is stored and wins over it", () => {
    const store = new MemoryStore();
    const seen: string[] = [];
    initLanguage({ store, preferences: ["zh-TW", "en"], onChange: (l) => seen.push(l) });
    expect(languageChoice.value).toBe("auto");
    expect(t("nav.rooms")).toBe("聊天室");

    chooseLanguage("en");
    expect(t("nav.rooms")).toBe("Rooms");
    expect(store.getItem("andon.language.v1")).toBe("en");

    // A new page reads the stored choice back.
    initLanguage({ store, preferences: ["zh-TW"] });
    expect(language.value).toBe("en");

    chooseLanguage("auto");
    expect(store.getItem("andon.language.v1")).toBeNull();
    expect(language.value).toBe("zh-TW");
    expect(seen).toEqual(["zh-TW", "en", "en", "zh-TW"]);
  });

  it("ignores a stored value it does not know, and follows a change of the browser's languages", () => {
    const store = new MemoryStore();
    store.setItem("andon.language.v1", "klingon");
    const seen: string[] = [];
    initLanguage({ store, preferences: ["en-GB"], onChange: (l) => seen.push(l) });
    expect(languageChoice.value).toBe("auto");
    browserLanguagesChanged(["zh-HK"]);
    expect(language.value).toBe("zh-TW");
    expect(seen).toEqual(["en", "zh-TW"]);
  });

  it("lazy texts read the current language each time", () => {
    const TEXT = lazyTexts({ title: "search.title" }, { results: (n: number) => t("search.results", { count: n }) });
    initLanguage({ store: new MemoryStore(), preferences: ["en"] });
    expect(TEXT.title).toBe("Search messages");
    chooseLanguage("zh-TW");
    expect(TEXT.title).toBe("搜尋訊息");
    expect(TEXT.results(2)).toBe("2 筆結果");
  });

  it("numbers and long dates use the locale; the short time stays the spec's HH:mm / MM/DD HH:mm in GMT+8", () => {
    initLanguage({ store: new MemoryStore(), preferences: ["zh-TW"] });
    expect(formatNumber(12345.6)).toBe("12,345.6");
    const zhFmt = new ZonedTimeFormatter("Asia/Taipei", "zh-TW");
    const enFmt = new ZonedTimeFormatter("Asia/Taipei", "en-GB");
    const at = "2025-11-17T13:45:00.000Z";
    const now = new Date("2026-12-04T09:00:00.000Z");
    expect(zhFmt.short(at, now)).toBe("11/17 21:45");
    expect(enFmt.short(at, now)).toBe("11/17 21:45");
    expect(zhFmt.long(at)).toMatch(/2025年11月17日/);
    expect(zhFmt.long(at)).toContain("21:45:00");
    expect(enFmt.long(at)).toMatch(/17 Nov 2025/);
  });
});
