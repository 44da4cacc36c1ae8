/**
 * Web Push payloads and the notifications made from them. Pure, so it is shared by
 * the service worker and the page (a page notification looks like a push one and
 * replaces it: both use the room's tag) and is unit-tested in node.
 */
import type { Translate } from "../i18n/core";
import { decode, int, object, oneOf, str, withDefault } from "../net/decode";

export interface PushPayload {
  kind: "message" | "mention" | "urgent";
  room_id: string;
  room_title: string;
  message_id: string;
  sequence_number: number;
  sender_display_name: string;
  preview: string;
  url: string;
}

const pushPayload = object({
  kind: withDefault(oneOf("message", "mention", "urgent"), () => "message" as const),
  room_id: str,
  room_title: withDefault(str, () => ""),
  message_id: withDefault(str, () => ""),
  sequence_number: withDefault(int, () => 0),
  sender_display_name: withDefault(str, () => ""),
  preview: withDefault(str, () => ""),
  url: withDefault(str, () => ""),
});

export function parsePushPayload(text: string): PushPayload | null {
  try {
    return decode(pushPayload, JSON.parse(text));
  } catch {
    return null;
  }
}

export interface NotificationSpec {
  title: string;
  body: string;
  tag: string;
  url: string;
  /** Mentions ask for attention even when replacing an earlier notification of the room. */
  renotify: boolean;
  requireInteraction: boolean;
  /** Urgent pages: the message to acknowledge from the notification's action. */
  urgentMessageId: string | null;
  /** Urgent pages: the acknowledge action's title, in the reader's language. */
  ackTitle: string | null;
}

/** The notification action that acknowledges an urgent page (docs/alerts.md). */
export const ACK_ACTION = "acknowledge";

export function roomTag(roomId: string): string {
  return `andon-room-${roomId}`;
}

/** The notification for a payload, its words from `tr` (the page's or the service worker's language). */
export function notificationFor(p: PushPayload, origin: string, tr: Translate): NotificationSpec {
  const room = p.room_title || "Andon";
  const sender = p.sender_display_name || tr("notification.someone");
  const mention = p.kind === "mention";
  if (p.kind === "urgent") {
    return {
      title: tr("notification.urgentTitle", { sender, room }),
      body: p.preview,
      // One notification per urgent message: each repeat replaces it and alerts again.
      tag: `andon-urgent-${p.message_id}`,
      url: safeAppUrl(p.url, origin, p.room_id),
      renotify: true,
      requireInteraction: true,
      urgentMessageId: p.message_id,
      ackTitle: tr("notification.acknowledge"),
    };
  }
  return {
    title: mention ? tr("notification.mentionTitle", { sender, room }) : room,
    body: mention ? p.preview : tr("notification.messageBody", { sender, preview: p.preview }),
    tag: roomTag(p.room_id),
    url: safeAppUrl(p.url, origin, p.room_id),
    renotify: mention,
    requireInteraction: mention,
    urgentMessageId: null,
    ackTitle: null,
  };
}

/**
 * The page a notification opens: the payload's url when it is on this origin,
 * else the room's own page. A notification never navigates the app elsewhere.
 */
export function safeAppUrl(url: string, origin: string, roomId: string): string {
  const fallback = `${origin}/rooms/${encodeURIComponent(roomId)}`;
  if (!url) return fallback;
  try {
    const parsed = new URL(url, origin);
    if (parsed.origin !== origin) return fallback;
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return fallback;
    return parsed.href;
  } catch {
    return fallback;
  }
}

/** Converts the server's base64url VAPID key to the bytes PushManager.subscribe wants. */
export function base64UrlToBytes(value: string): Uint8Array<ArrayBuffer> {
  const padded = value.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(value.length / 4) * 4, "=");
  const binary = atob(padded);
  const out = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function bytesToBase64Url(bytes: ArrayBuffer | null): string {
  if (!bytes) return "";
  let binary = "";
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
