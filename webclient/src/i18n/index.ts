/**
 * The page's language, as a signal: `t()` reads it, so every view (and computed value) that
 * translates re-renders by itself when the person switches language in Settings. The choice
 * ("auto" follows navigator.languages) is kept in localStorage; `<html lang>` follows it.
 */
import { computed, signal } from "@preact/signals";
import type { TOptions } from "i18next";
import type { KeyValueStore } from "../state/settings";
import { INTL_LOCALE, parseChoice, resolveLanguage, type Language, type LanguageChoice, type Translate } from "./core";
import { translator } from "./locales";

export { LANGUAGES, resolveLanguage, type Language, type LanguageChoice } from "./core";

const STORAGE_KEY = "andon.language.v1";

interface Environment {
  store: KeyValueStore | null;
  onChange: (language: Language) => void;
}

const env: Environment = { store: null, onChange: () => undefined };

function navigatorLanguages(): readonly string[] {
  if (typeof navigator === "undefined") return [];
  return navigator.languages?.length ? navigator.languages : [navigator.language];
}

/** The browser's preferences (navigator.languages); main.tsx updates it on `languagechange`. */
export const browserLanguages = signal<readonly string[]>(navigatorLanguages());

/** What the person chose ("auto" until they pick one in Settings). */
export const languageChoice = signal<LanguageChoice>("auto");
/** The language shown: the choice, or the browser's preference when the choice is "auto". */
export const language = computed<Language>(() => {
  const choice = languageChoice.value;
  return choice === "auto" ? resolveLanguage(browserLanguages.value) : choice;
});

const translators = new Map<Language, Translate>();
function translatorFor(lang: Language): Translate {
  let tr = translators.get(lang);
  if (!tr) {
    tr = translator(lang);
    translators.set(lang, tr);
  }
  return tr;
}

/** How many translated texts are remembered before starting over. */
const MEMO_LIMIT = 5_000;
const memo = new Map<string, string>();

/**
 * Translates `key` in the current language; reading the language subscribes the caller.
 *
 * Results are remembered per language, key and values: a lookup through i18next costs tens of
 * microseconds, and a room of hundreds of messages asks for the same few texts for every row
 * (measured on this busy 2-core machine: ~30 µs a call through i18next, ~3 µs remembered).
 */
export function t(key: string, options?: TOptions): string {
  const lang = language.value;
  const id = options ? `${lang}\u0000${key}\u0000${JSON.stringify(options)}` : `${lang}\u0000${key}`;
  let text = memo.get(id);
  if (text === undefined) {
    text = translatorFor(lang)(key, options);
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(id, text);
  }
  return text;
}

/** The Intl locale of the current language (for dates and numbers). */
export function intlLocale(): string {
  return INTL_LOCALE[language.value];
}

/** A number in the current language's digits and grouping ("1,234"). */
export function formatNumber(value: number, options?: Intl.NumberFormatOptions): string {
  return new Intl.NumberFormat(intlLocale(), options).format(value);
}

/**
 * Reads the stored choice and starts following it. `onChange` runs now and on every change
 * (the page sets `<html lang>` and tells the service worker).
 */
export function initLanguage(opts: {
  store: KeyValueStore;
  preferences?: readonly string[];
  onChange?: (language: Language) => void;
}): void {
  env.store = opts.store;
  if (opts.preferences) browserLanguages.value = opts.preferences;
  if (opts.onChange) env.onChange = opts.onChange;
  let stored: string | null = null;
  try {
    stored = opts.store.getItem(STORAGE_KEY);
  } catch {
    stored = null;
  }
  languageChoice.value = parseChoice(stored);
  env.onChange(language.value);
}

/** The Settings switch: stores the choice on this device and switches every view at once. */
export function chooseLanguage(choice: LanguageChoice): void {
  try {
    if (choice === "auto") env.store?.removeItem(STORAGE_KEY);
    else env.store?.setItem(STORAGE_KEY, choice);
  } catch {
    // Private mode or a full quota: the choice lasts for this page.
  }
  languageChoice.value = choice;
  env.onChange(language.value);
}

/** The browser's preferences changed (the `languagechange` event): "auto" follows them. */
export function browserLanguagesChanged(preferences: readonly string[]): void {
  const before = language.value;
  browserLanguages.value = preferences;
  if (language.value !== before) env.onChange(language.value);
}

/** `<html lang>` for screen readers, hyphenation and fonts (zh-Hant glyphs). */
export function applyDocumentLanguage(doc: Document, lang: Language): void {
  doc.documentElement.lang = lang;
}

/**
 * An object whose properties translate when read: for modules that keep their strings in one
 * place (`TEXT.title`), so tests and views read the current language's words. `extra` adds
 * functions (strings with values in them) as they are.
 */
export function lazyTexts<K extends string, F extends object = Record<never, never>>(
  keys: Record<K, string>,
  extra?: F,
): Readonly<Record<K, string>> & F {
  const out = { ...(extra ?? {}) } as Record<K, string> & F;
  for (const [name, key] of Object.entries(keys) as [K, string][]) {
    Object.defineProperty(out, name, { get: () => t(key), enumerable: true });
  }
  return out;
}
