/**
 * Search results arrive as HTML-escaped text with <mark>…</mark> as the only markup.
 * Rather than trusting that with innerHTML, the string is split into text and marked
 * segments here; the view renders them as text nodes and <mark> elements only.
 * Any other tag-like text (which the server would have escaped) stays literal text.
 */

export interface HighlightSegment {
  text: string;
  marked: boolean;
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
};

export function parseHighlighted(html: string): HighlightSegment[] {
  const segments: HighlightSegment[] = [];
  const pattern = /<mark>|<\/mark>/gi;
  let marked = false;
  let pos = 0;
  const push = (raw: string) => {
    if (!raw) return;
    const text = decodeEntities(raw);
    const last = segments[segments.length - 1];
    if (last && last.marked === marked) last.text += text;
    else segments.push({ text, marked });
  };
  for (const match of html.matchAll(pattern)) {
    push(html.slice(pos, match.index));
    marked = match[0].toLowerCase() === "<mark>";
    pos = match.index + match[0].length;
  }
  push(html.slice(pos));
  return segments;
}

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, body: string) => {
    if (body.startsWith("#x") || body.startsWith("#X")) return fromCodePoint(parseInt(body.slice(2), 16), whole);
    if (body.startsWith("#")) return fromCodePoint(parseInt(body.slice(1), 10), whole);
    return NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

function fromCodePoint(cp: number, fallback: string): string {
  if (!Number.isFinite(cp) || cp < 0 || cp > 0x10ffff) return fallback;
  try {
    return String.fromCodePoint(cp);
  } catch {
    return fallback;
  }
}
