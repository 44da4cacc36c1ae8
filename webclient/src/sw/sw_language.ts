/**
 * The service worker's language for notification texts. A worker has no localStorage, so the
 * page tells it the language it shows (`andon:language`, at start and on every switch) and the
 * worker keeps it in a small cache of its own, which survives the worker being stopped. Before
 * any page has said, it follows the browser's own preferences, as the page does.
 *
 * Only the `notification` texts are bundled here (named JSON imports are tree-shaken), so the
 * worker does not carry every string of the app.
 */
import { createI18n, fixedTranslator, isLanguage, resolveLanguage, type Language, type Translate } from "../i18n/core";
import { notification as en } from "../i18n/locales/en.json";
import { notification as zhTW } from "../i18n/locales/zh-TW.json";

const PREFS_CACHE = "andon-prefs";
const LANGUAGE_URL = "/__andon/language";

const texts = createI18n({ en: { translation: { notification: en } }, "zh-TW": { translation: { notification: zhTW } } });

export async function rememberLanguage(language: unknown): Promise<void> {
  if (!isLanguage(language)) return;
  const cache = await caches.open(PREFS_CACHE);
  await cache.put(LANGUAGE_URL, new Response(language, { headers: { "Content-Type": "text/plain" } }));
}

export async function workerLanguage(preferences: readonly string[]): Promise<Language> {
  try {
    const cache = await caches.open(PREFS_CACHE);
    const stored = await cache.match(LANGUAGE_URL);
    const value = stored ? await stored.text() : null;
    if (isLanguage(value)) return value;
  } catch {
    // No Cache API (private mode in some browsers): the browser's preference.
  }
  return resolveLanguage(preferences);
}

export async function workerTranslator(preferences: readonly string[]): Promise<Translate> {
  return fixedTranslator(texts, await workerLanguage(preferences));
}
