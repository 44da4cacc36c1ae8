/** What to tell someone whose search the server refused, instead of `HTTP 422: …`. */

export interface HttpLikeError {
  status: number;
  detail: string;
}

/** User-visible strings of this module (routed through the i18n library at merge). */
export const SEARCH_ERROR_TEXT = {
  badHas: (value: string) =>
    `"has:${value}" is not a filter Andon knows. Use has:image, has:file or has:data (incident readings).`,
  tooLong: "The search is too long. Shorten it to the words that matter (at most 1,000 characters).",
  unreadable:
    'The search could not be understood. Use words, "a quoted phrase", from:name, in:room or has:image / has:file / has:data.',
  badParameter: "The search could not be run with these settings. Clear the filters and try again.",
  unavailable: "Search is unavailable right now. Try again in a minute; messages are still being saved.",
  signedOut: "Your session has ended. Sign in again to search.",
  offline: "You are offline. Search needs a connection; try again when you are back online.",
  failed: "Search failed. Try again.",
};

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
