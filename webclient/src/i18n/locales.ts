/** Both languages' texts, whole: the page's translators (the service worker loads only its part). */
import type { i18n } from "i18next";
import { createI18n, fixedTranslator, type Language, type Translate } from "./core";
import en from "./locales/en.json";
import zhTW from "./locales/zh-TW.json";

let shared: i18n | null = null;

/** A translator fixed to one language, over every key. */
export function translator(language: Language): Translate {
  shared ??= createI18n({ en: { translation: en }, "zh-TW": { translation: zhTW } });
  return fixedTranslator(shared, language);
}
