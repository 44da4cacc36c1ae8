import { useApp } from "./context";
import { PlainText } from "./formatted_text";

/** Toasts for mentions of me (highlighted) and, when alerts are on for every message, other new messages. */
export function MentionToasts() {
  const { session, router } = useApp();
  const toasts = session.toasts.value;
  if (toasts.length === 0) return null;
  return (
    <div class="toasts" role="region" aria-label="Alerts">
      {toasts.map((t) => (
        <div
          key={t.id}
          class={`toast ${t.kind === "mention" ? "mention-toast" : "message-toast"}`}
          role="alert"
          data-testid={t.kind === "mention" ? "mention-toast" : "message-toast"}
          data-room-id={t.room_id}
        >
          <button
            type="button"
            class="toast-body"
            onClick={() => {
              session.dismissToast(t.id);
              router.go({ name: "room", roomId: t.room_id, at: t.sequence_number });
            }}
          >
            <strong>
              {t.kind === "mention"
                ? `${t.sender_display_name} mentioned you in ${t.room_title}`
                : `${t.sender_display_name} in ${t.room_title}`}
            </strong>
            <PlainText class="toast-preview" text={t.preview} />
          </button>
          <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => session.dismissToast(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
