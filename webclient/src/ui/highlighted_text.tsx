import { parseHighlighted } from "../state/highlight";
import { useFormatted } from "./formatted_text";

/**
 * A search hit's highlighted_content: the server's text (HTML-escaped, `<mark>` as its only
 * markup) is decoded to plain text, never trusted as HTML, then shown in the same safe
 * Markdown subset as in the room, with the marked words marked again inside the formatting.
 * Links become plain text: the whole hit is already a link to the message.
 */
export function HighlightedText({ html }: { html: string }) {
  const segments = parseHighlighted(html);
  const text = segments.map((s) => s.text).join("");
  const marks = segments.filter((s) => s.marked).map((s) => s.text);
  const out = useFormatted(text, { marks, links: false });
  if (out === null) {
    return <span class="hit-body">{segments.map((seg, i) => (seg.marked ? <mark key={i}>{seg.text}</mark> : seg.text))}</span>;
  }
  return <span class={out.inline ? "hit-body" : "hit-body md"} dangerouslySetInnerHTML={{ __html: out.html }} />;
}
