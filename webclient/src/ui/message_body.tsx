import type { ChatMessage, MessageContent, MessageType } from "../net/schemas";
import { formatValue, hasTerm, shownFields } from "../state/incident_fields";
import { mentionSegments } from "../state/mentions";
import { safeFileUrl } from "./safe_url";

interface BodyProps {
  type: MessageType;
  content: MessageContent;
  mentions: readonly string[];
  fileUrl: string | null;
  nameOf: (userId: string) => string | null;
  meId: string;
  /** Formats ISO timestamps inside structured content in the display zone. */
  formatTime?: (iso: string) => string;
  /** `fileUrl` is this page's object URL of a file being sent (a local echo). */
  localPreview?: boolean;
}

/** A message's content by type. Everything the user wrote is rendered as text. */
export function MessageBody({ type, content, mentions, fileUrl, nameOf, meId, formatTime, localPreview }: BodyProps) {
  const text = typeof content === "string" ? content : "";
  switch (type) {
    case "image_ref": {
      const src = safeFileUrl(fileUrl, { allowBlob: localPreview === true });
      return (
        <div class="attachment">
          {src ? (
            <a href={src} target="_blank" rel="noopener noreferrer" class="image-link">
              <img src={src} alt={text || "Shared image"} loading="lazy" class="inline-image" />
            </a>
          ) : (
            <span class="muted">[image unavailable]</span>
          )}
          {text ? <p class="caption">{text}</p> : null}
        </div>
      );
    }
    case "file_ref": {
      const href = safeFileUrl(fileUrl);
      return href ? (
        <a href={href} download class="file-link">
          📎 <span>{text || "Download file"}</span>
        </a>
      ) : (
        <span class="muted">📎 {text || "file"} (unavailable)</span>
      );
    }
    case "incident_data":
      return <IncidentCard content={content} formatTime={formatTime} />;
    default:
      return (
        <p class="text">
          {mentionSegments(text, mentions, nameOf, meId).map((seg, i) =>
            seg.mention ? (
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
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

export const CARD_TEXT = { title: "📊 Incident data" };

/** An incident_data object as a card of fields with their units; `compact` for search hits. */
export function IncidentCard({
  content,
  formatTime,
  compact,
  terms = [],
}: {
  content: MessageContent;
  formatTime?: ((iso: string) => string) | undefined;
  compact?: boolean;
  /** Search terms to mark in field names and values (a search hit). */
  terms?: readonly string[];
}) {
  if (content === null || typeof content !== "object") {
    return <p class="text">{typeof content === "string" ? content : ""}</p>;
  }
  return (
    <figure class={compact ? "incident-card compact" : "incident-card"}>
      <figcaption>{CARD_TEXT.title}</figcaption>
      <dl>
        {shownFields(content).map(({ key, label, value, unit }) => {
          const nested = value !== null && typeof value === "object";
          return (
            <div key={key} class={`incident-field${nested ? " nested" : ""}`} data-field={key}>
              <dt>{terms.length > 0 && hasTerm(key, terms) ? <mark>{label}</mark> : label}</dt>
              <dd>
                {nested ? (
                  <NestedValue value={value} />
                ) : typeof value === "string" && formatTime && ISO_INSTANT.test(value) ? (
                  <time dateTime={value}>{formatTime(value)}</time>
                ) : (
                  <>
                    {terms.length > 0 && hasTerm(formatValue(value), terms) ? (
                      <mark>{formatValue(value)}</mark>
                    ) : (
                      formatValue(value)
                    )}
                    {unit ? <span class="unit"> {unit}</span> : null}
                  </>
                )}
              </dd>
            </div>
          );
        })}
      </dl>
    </figure>
  );
}

/** An object or list inside incident data (an alert's labels, its alerts): a full-width row,
 * flat objects as `key=value` pairs, anything deeper folded away as indented JSON. */
function NestedValue({ value }: { value: object }) {
  const flat = !Array.isArray(value) && Object.values(value).every((v) => v === null || typeof v !== "object");
  if (flat) {
    const pairs = Object.entries(value);
    if (pairs.length === 0) return <>—</>;
    return <>{pairs.map(([k, v]) => `${k}=${formatValue(v)}`).join(" · ")}</>;
  }
  const size = Array.isArray(value) ? `${value.length} item${value.length === 1 ? "" : "s"}` : `${Object.keys(value).length} fields`;
  return (
    <details>
      <summary>{size}</summary>
      <pre class="incident-json">{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}

export function messageText(m: ChatMessage): string {
  return typeof m.content === "string" ? m.content : "";
}
