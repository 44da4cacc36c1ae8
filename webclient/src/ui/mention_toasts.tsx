import { useApp } from "./context";

/** Highlighted notices for `mention` frames, from whichever room they come. */
export function MentionToasts() {
  const { session, router } = useApp();
  const toasts = session.toasts.value;
  if (toasts.length === 0) return null;
  return (
    <div class="toasts" role="region" aria-label="Mentions">
      {toasts.map((t) => (
        <div key={t.id} class="toast mention-toast" role="alert">
          <button
            type="button"
            class="toast-body"
            onClick={() => {
              session.dismissToast(t.id);
              router.go({ name: "room", roomId: t.room_id });
            }}
          >
            <strong>
              {t.sender_display_name} mentioned you in {t.room_title}
            </strong>
            <span class="toast-preview">{t.preview}</span>
          </button>
          <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => session.dismissToast(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
