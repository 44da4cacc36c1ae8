import type { ChatMessage, MessageContent, MessageType } from "../net/schemas";
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

const FIELD_LABELS: Record<string, string> = {
  temperature: "Temperature",
  pressure: "Pressure",
  production_rate: "Production rate",
  timestamp: "Measured at",
};

const FIELD_ORDER = ["temperature", "pressure", "production_rate"];
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

export function IncidentCard({
  content,
  formatTime,
}: {
  content: MessageContent;
  formatTime?: ((iso: string) => string) | undefined;
}) {
  if (content === null || typeof content !== "object") {
    return <p class="text">{typeof content === "string" ? content : ""}</p>;
  }
  // The usual readings first, the measurement time last, anything else between.
  const rank = (key: string) => (key === "timestamp" ? 1000 : FIELD_ORDER.includes(key) ? FIELD_ORDER.indexOf(key) : 100);
  const entries = Object.entries(content).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  return (
    <figure class="incident-card">
      <figcaption>📊 Incident data</figcaption>
      <dl>
        {entries.map(([key, value]) => {
          const nested = value !== null && typeof value === "object";
          return (
            <div key={key} class={`incident-field${nested ? " nested" : ""}`}>
              <dt>{FIELD_LABELS[key] ?? key}</dt>
              <dd>
                {nested ? (
                  <NestedValue value={value} />
                ) : typeof value === "string" && formatTime && ISO_INSTANT.test(value) ? (
                  <time dateTime={value}>{formatTime(value)}</time>
                ) : (
                  formatValue(value)
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

function formatValue(value: unknown): string {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/\.?0+$/, "");
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (value === null) return "—";
  return JSON.stringify(value);
}

export function messageText(m: ChatMessage): string {
  return typeof m.content === "string" ? m.content : "";
}
