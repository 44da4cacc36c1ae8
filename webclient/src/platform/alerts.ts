/**
 * How a new message or a mention reaches the user outside the message list: a
 * sound, a vibration and, while the page is not being looked at, a notification.
 */
import { t } from "../i18n";
import type { ChatMessage, MentionFrame, RoomPreview, UrgentPageFrame } from "../net/schemas";
import type { LocalSettings } from "../state/settings";
import { notificationFor, roomTag, type PushPayload } from "../sw/push_payload";
import { showPageNotification } from "./push";
import type { SoundPlayer } from "./sound";

const VIBRATION: Record<"message" | "mention" | "urgent", number[]> = {
  message: [80],
  mention: [120, 60, 120],
  urgent: [400, 150, 400, 150, 400],
};

export interface AlertContext {
  settings: LocalSettings;
  focused: boolean;
}

export class Alerts {
  /** `toPlain` turns a message's Markdown into the plain text a notification shows. */
  constructor(
    private readonly sound: SoundPlayer,
    private readonly toPlain: (markdown: string) => Promise<string> = async (text) => text,
  ) {}

  newMessage(message: ChatMessage, roomTitle: string, ctx: AlertContext): void {
    this.ring("message", ctx.settings);
    if (!ctx.focused) {
      this.notify({
        kind: "message",
        room_id: message.room_id,
        room_title: roomTitle,
        message_id: message.message_id,
        sequence_number: message.sequence_number,
        sender_display_name: message.sender_display_name,
        preview: previewOf(message),
        url: `/rooms/${encodeURIComponent(message.room_id)}`,
      });
    }
  }

  mention(frame: MentionFrame, ctx: AlertContext): void {
    this.ring("mention", ctx.settings);
    if (!ctx.focused) this.notify({ kind: "mention", ...frame, url: `/rooms/${encodeURIComponent(frame.room_id)}` });
  }

  /**
   * A round of an urgent page for me: sound and vibration whatever the message-alert settings
   * say (it repeats until acknowledged), and a notification with an Acknowledge action while
   * the page is not being looked at.
   */
  urgent(frame: UrgentPageFrame, ctx: AlertContext): void {
    this.ring("urgent", { ...ctx.settings, sound: true, vibrate: true });
    if (!ctx.focused) {
      this.notify({
        kind: "urgent",
        ...frame,
        url: `/rooms/${encodeURIComponent(frame.room_id)}?seq=${frame.sequence_number}`,
      });
    }
  }

  private notify(payload: PushPayload): void {
    void this.toPlain(payload.preview)
      .then((preview) => showPageNotification(notificationFor({ ...payload, preview }, location.origin, t)))
      .catch(() => undefined);
  }

  /**
   * A new message in a room that is not open, from the user stream. Sound and vibration
   * only: notifications for rooms not open come from Web Push, as before.
   */
  activity(_roomId: string, _preview: RoomPreview, _roomTitle: string, ctx: AlertContext): void {
    this.ring("message", ctx.settings);
  }

  /** The user opened the room: its notifications are stale. */
  async clearRoom(roomId: string): Promise<void> {
    if (!("serviceWorker" in navigator)) return;
    const registration = await navigator.serviceWorker.getRegistration();
    const open = (await registration?.getNotifications({ tag: roomTag(roomId) })) ?? [];
    for (const n of open) n.close();
  }

  private ring(kind: "message" | "mention" | "urgent", settings: LocalSettings): void {
    if (settings.sound) this.sound.play(kind);
    if (settings.vibrate && typeof navigator.vibrate === "function") {
      try {
        navigator.vibrate(VIBRATION[kind]);
      } catch {
        // Some browsers throw before the first user gesture.
      }
    }
  }
}

export function previewOf(message: ChatMessage): string {
  if (message.deleted_at) return t("preview.deleted");
  const caption = typeof message.content === "string" ? message.content : "";
  switch (message.message_type) {
    case "image_ref":
      return (caption ? t("preview.image", { caption }) : t("preview.imageNoCaption")).slice(0, 140);
    case "file_ref":
      return (caption ? t("preview.file", { caption }) : t("preview.fileNoCaption")).slice(0, 140);
    case "incident_data":
      return t("preview.incident");
    default:
      return caption.slice(0, 140);
  }
}
