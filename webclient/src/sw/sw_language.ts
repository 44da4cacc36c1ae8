/**
 * The service worker's language for notification texts. A worker has no localStorage, so the
 * page tells it the language it shows (`andon:language`, at start and on every switch) and the
 * worker keeps it in a small cache of its own, which survives the worker being stopped. Before
 * any page has said, it follows the browser's own preferences, as the page does.
 */
import { isLanguage, resolveLanguage, translator, type Language, type Translate } from "../i18n/core";

const PREFS_CACHE = "andon-prefs";
const LANGUAGE_URL = "/__andon/language";

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
  return translator(await workerLanguage(preferences));
}
