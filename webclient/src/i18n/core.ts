/**
 * The i18n core, free of the DOM so the service worker and node tests use it too: the
 * languages Andon speaks, how a browser's preferences map to one, and a translator per
 * language built on i18next (plurals through Intl.PluralRules, numbers through
 * Intl.NumberFormat, English as the fallback for anything missing).
 */
import i18next, { type i18n, type Resource, type TOptions } from "i18next";

export const LANGUAGES = ["en", "zh-TW"] as const;
export type Language = (typeof LANGUAGES)[number];

/** What the person chose in Settings: a language, or "auto" to follow the browser. */
export type LanguageChoice = Language | "auto";

export const DEFAULT_LANGUAGE: Language = "en";

/** The BCP 47 tag for Intl formatters (dates, numbers) of each language. */
export const INTL_LOCALE: Record<Language, string> = { en: "en-GB", "zh-TW": "zh-TW" };

/**
 * The browser's ordered preferences (navigator.languages) to a language Andon has: the first
 * Traditional Chinese tag (zh-TW, zh-Hant-*, zh-HK, zh-MO) wins; any other first match to
 * English. Simplified Chinese (zh-CN, zh-Hans) is not Traditional: it falls through to English
 * rather than being shown characters its reader may not expect.
 */
export function resolveLanguage(preferences: readonly string[]): Language {
  for (const raw of preferences) {
    const tag = raw.trim().toLowerCase().replace(/_/g, "-");
    if (!tag) continue;
    if (isTraditionalChinese(tag)) return "zh-TW";
    if (tag === "en" || tag.startsWith("en-")) return "en";
  }
  return DEFAULT_LANGUAGE;
}

function isTraditionalChinese(tag: string): boolean {
  if (tag === "zh-tw" || tag === "zh-hk" || tag === "zh-mo" || tag.startsWith("zh-hant")) return true;
  return /^zh-(tw|hk|mo)-/.test(tag);
}

/** A stored choice read back: anything unknown means "follow the browser". */
export function parseChoice(value: unknown): LanguageChoice {
  return value === "en" || value === "zh-TW" ? value : "auto";
}

export function isLanguage(value: unknown): value is Language {
  return value === "en" || value === "zh-TW";
}

/**
 * An i18next instance with the given texts loaded synchronously (no backend, no flash of keys).
 * The page loads both locale files whole (locales.ts); the service worker only its part.
 */
export function createI18n(resources: Resource): i18n {
  const instance = i18next.createInstance();
  void instance.init({
    resources,
    lng: DEFAULT_LANGUAGE,
    fallbackLng: DEFAULT_LANGUAGE,
    supportedLngs: [...LANGUAGES],
    initAsync: false,
    // Preact escapes what it renders; escaping here would show "&amp;" in names.
    interpolation: { escapeValue: false },
    returnNull: false,
  });
  return instance;
}

export type Translate = (key: string, options?: TOptions) => string;

/** A translator fixed to one language of an instance. */
export function fixedTranslator(instance: i18n, language: Language): Translate {
  // The keys are checked by the tests (both locales, every key used), not by i18next's types.
  const fixed = instance.getFixedT(language) as unknown as (key: string, options: TOptions) => string;
  return (key, options) => fixed(key, options ?? {});
}
