import { signal } from "@preact/signals";
import { mentionSegments } from "../state/mentions";
import type { FormatOptions, MentionOptions } from "./markdown";

type Engine = typeof import("./markdown");

/**
 * The Markdown parser and sanitiser (markdown-it + DOMPurify, ~60 KB gzip) load as their own
 * chunk right after the app starts, so they do not delay the first paint. Until they are
 * there a message shows as plain text (with its mentions), as before formatting existed;
 * each formatted view then re-renders by itself (it reads this signal).
 */
const engine = signal<Engine | null>(null);
let loading: Promise<Engine> | null = null;

export function loadFormatter(): Promise<Engine> {
  loading ??= import("./markdown").then((m) => {
    engine.value = m;
    return m;
  });
  return loading;
}

/** The formatted HTML (sanitised) once the formatter is loaded, else null (and it starts loading). */
export function useFormatted(text: string, opts: FormatOptions): { html: string; inline: boolean } | null {
  const m = engine.value;
  if (m === null) {
    void loadFormatter().catch(() => undefined);
    return null;
  }
  return m.formatMessage(text, opts);
}

/**
 * A message's text in the safe Markdown subset (see markdown.ts: the HTML set here has been
 * through the sanitiser). One paragraph stays a `<p class="text">`; more becomes a `<div>`.
 */
export function FormattedText({ text, mention }: { text: string; mention?: MentionOptions }) {
  const out = useFormatted(text, mention ? { mention } : {});
  if (out === null) {
    const segments = mention ? mentionSegments(text, mention.mentions, mention.nameOf, mention.meId) : [{ text }];
    return (
      <p class="text">
        {segments.map((seg, i) =>
          "mention" in seg && seg.mention ? (
            <span key={i} class={seg.mention.isMe ? "mention mention-me" : "mention"}>
              {seg.text}
            </span>
          ) : (
            seg.text
          ),
        )}
      </p>
    );
  }
  return out.inline ? (
    <p class="text" dangerouslySetInnerHTML={{ __html: out.html }} />
  ) : (
    <div class="text md" dangerouslySetInnerHTML={{ __html: out.html }} />
  );
}
