import { lazyTexts, t } from "../i18n";
import type { ChatMessage, FileInfo, MessageContent, MessageType } from "../net/schemas";
import { formatValue, hasTerm, shownFields } from "../state/incident_fields";
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

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

export const CARD_TEXT = lazyTexts({ title: "card.title" });

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
  const size = Array.isArray(value)
    ? t("card.items", { count: value.length })
    : t("card.fieldCount", { count: Object.keys(value).length });
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
