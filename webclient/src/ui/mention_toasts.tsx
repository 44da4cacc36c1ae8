import { t } from "../i18n";
import { useApp } from "./context";
import { PlainText } from "./formatted_text";

/** Toasts for mentions of me (highlighted) and, when alerts are on for every message, other new messages. */
export function MentionToasts() {
  const { session, router } = useApp();
  const toasts = session.toasts.value;
  if (toasts.length === 0) return null;
  return (
    <div class="toasts" role="region" aria-label={t("toasts.region")}>
      {toasts.map((toast) => (
        <div
          key={toast.id}
          class={`toast ${toast.kind === "mention" ? "mention-toast" : "message-toast"}`}
          role="alert"
          data-testid={toast.kind === "mention" ? "mention-toast" : "message-toast"}
          data-room-id={toast.room_id}
        >
          <button
            type="button"
            class="toast-body"
            onClick={() => {
              session.dismissToast(toast.id);
              router.go({ name: "room", roomId: toast.room_id, at: toast.sequence_number });
            }}
          >
            <strong>
              {toast.kind === "mention"
                ? t("toasts.mentioned", { sender: toast.sender_display_name, room: toast.room_title })
                : t("toasts.message", { sender: toast.sender_display_name, room: toast.room_title })}
            </strong>
            <PlainText class="toast-preview" text={toast.preview} />
          </button>
          <button type="button" class="icon-button" aria-label={t("common.dismiss")} onClick={() => session.dismissToast(toast.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
