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

/** A preview as plain text (Markdown's formatting gone) once the formatter is loaded; as typed until then. */
export function usePlainText(text: string): string {
  const m = engine.value;
  if (m === null) {
    void loadFormatter().catch(() => undefined);
    return text;
  }
  return m.plainText(text);
}

/** A preview as plain text, loading the formatter if need be (as typed if it cannot load). */
export async function plainPreview(text: string): Promise<string> {
  try {
    return (await loadFormatter()).plainText(text);
  } catch {
    return text;
  }
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

/** A toast's or banner's preview: the message's words without its Markdown. */
export function PlainText({ text, class: className }: { text: string; class?: string }) {
  return <span class={className}>{usePlainText(text)}</span>;
}
