/** What to tell someone whose search the server refused, instead of `HTTP 422: …`. */
import { lazyTexts, t } from "../i18n";

export interface HttpLikeError {
  status: number;
  detail: string;
}

/** User-visible strings of this module, in the current language (src/i18n/locales). */
export const SEARCH_ERROR_TEXT = lazyTexts(
  {
    tooLong: "search.errors.tooLong",
    unreadable: "search.errors.unreadable",
    badParameter: "search.errors.badParameter",
    unavailable: "search.errors.unavailable",
    signedOut: "search.errors.signedOut",
    offline: "search.errors.offline",
    failed: "search.errors.failed",
  },
  { badHas: (value: string) => t("search.errors.badHas", { value }) },
);

function isHttpLike(err: unknown): err is HttpLikeError {
  return (
    typeof err === "object" &&
    err !== null &&
    typeof (err as HttpLikeError).status === "number" &&
    typeof (err as HttpLikeError).detail === "string"
  );
}

/** A plain-words message (with what to do) for an error from the search endpoint. */
export function searchErrorMessage(err: unknown): string {
  if (isHttpLike(err)) {
    const detail = err.detail;
    if (err.status === 422 || err.status === 400) {
      const has = /has: takes image, file or data, not '([^']*)'/.exec(detail) ?? /has: takes image, file or data, not "([^"]*)"/.exec(detail);
      if (has) return SEARCH_ERROR_TEXT.badHas(has[1]!);
      if (/too long/i.test(detail)) return SEARCH_ERROR_TEXT.tooLong;
      if (/^q\b/.test(detail)) return SEARCH_ERROR_TEXT.unreadable;
      return SEARCH_ERROR_TEXT.badParameter;
    }
    if (err.status === 401) return SEARCH_ERROR_TEXT.signedOut;
    if (err.status === 503) return SEARCH_ERROR_TEXT.unavailable;
    return SEARCH_ERROR_TEXT.failed;
  }
  if (err instanceof Error && err.name === "NetworkError") return SEARCH_ERROR_TEXT.offline;
  return SEARCH_ERROR_TEXT.failed;
}
