import { t } from "../i18n";
import { useApp } from "./context";
import { PlainText } from "./formatted_text";

/** Urgent pages for me, until I acknowledge them (each repeat rings again; docs/alerts.md). */
export function UrgentBanner() {
  const { session, router } = useApp();
  const pages = session.urgentPages.value;
  if (pages.length === 0) return null;
  return (
    <div class="urgent-banner" role="alert" aria-label={t("urgent.region")}>
      {pages.map((p) => (
        <div key={p.message_id} class="urgent-page" data-testid="urgent-page" data-message-id={p.message_id}>
          <button
            type="button"
            class="toast-body"
            onClick={() => router.go({ name: "room", roomId: p.room_id, at: p.sequence_number })}
          >
            <strong>
              {t(p.escalated ? "urgent.escalatedFrom" : "urgent.from", { sender: p.sender_display_name, room: p.room_title })}
              {p.round > 1 ? t("urgent.reminder", { n: p.round - 1 }) : ""}
            </strong>
            <PlainText class="toast-preview" text={p.preview} />
          </button>
          <button
            type="button"
            class="primary"
            data-testid="urgent-page-ack"
            onClick={() => void session.acknowledgeUrgent(p.message_id).catch(() => undefined)}
          >
            {t("urgent.acknowledge")}
          </button>
          <button type="button" class="icon-button" aria-label={t("common.dismiss")} onClick={() => session.dismissUrgent(p.message_id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
