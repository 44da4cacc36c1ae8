/**
 * A file link or image source from a message, or null when it is not something we
 * should load: only same-origin paths ("/api/files/…") and http(s) URLs pass, so a
 * crafted `javascript:` or `data:` URL never reaches an href or src.
 */
export function safeFileUrl(url: string | null, opts: { allowBlob?: boolean } = {}): string | null {
  if (!url) return null;
  // The page's own object URL for a file the user is uploading (the echo's preview).
  if (opts.allowBlob && url.startsWith(`blob:${globalThis.location?.origin ?? ""}/`)) return url;
  if (url.startsWith("/") && !url.startsWith("//") && !url.startsWith("/\\")) return url;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}
