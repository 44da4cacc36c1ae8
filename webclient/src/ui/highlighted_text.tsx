import { parseHighlighted } from "../state/highlight";

/** Renders a search hit's highlighted_content as text nodes and <mark> elements only. */
export function HighlightedText({ html }: { html: string }) {
  return (
    <>
      {parseHighlighted(html).map((seg, i) => (seg.marked ? <mark key={i}>{seg.text}</mark> : seg.text))}
    </>
  );
}
