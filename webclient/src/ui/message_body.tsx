import type { ChatMessage, FileInfo, MessageContent, MessageType } from "../net/schemas";
import { Attachment } from "./attachment";
import { FormattedText } from "./formatted_text";

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
  /** The attachment's name, type and size, when the server sent them. */
  file?: FileInfo | null | undefined;
}

/** A message's content by type. What the user wrote is shown in the safe Markdown subset (markdown.ts). */
export function MessageBody({ type, content, mentions, fileUrl, nameOf, meId, formatTime, localPreview, file }: BodyProps) {
  const text = typeof content === "string" ? content : "";
  switch (type) {
    case "image_ref":
    case "file_ref":
      return (
        <Attachment
          kind={type}
          caption={text}
          fileUrl={fileUrl}
          file={file}
          mention={{ mentions, nameOf, meId }}
          localPreview={localPreview}
        />
      );
    case "incident_data":
      return <IncidentCard content={content} formatTime={formatTime} />;
    default:
      return <FormattedText text={text} mention={{ mentions, nameOf, meId }} />;
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
        {entries.map(([key, value]) => (
          <div key={key} class="incident-field">
            <dt>{FIELD_LABELS[key] ?? key}</dt>
            <dd>
              {typeof value === "string" && formatTime && ISO_INSTANT.test(value) ? (
                <time dateTime={value}>{formatTime(value)}</time>
              ) : (
                formatValue(value)
              )}
            </dd>
          </div>
        ))}
      </dl>
    </figure>
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
