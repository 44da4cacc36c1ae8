/**
 * REST bodies of a room's alert settings (docs/alerts.md): the urgent-page schedule with the
 * caller's opt-in, and the room's incoming webhooks.
 */
import { array, bool, int, nullable, object, oneOf, str, withDefault, type Decoder } from "./decode";

/** `GET`/`PATCH /api/rooms/{id}/urgent` and `PUT …/urgent/alerts`. */
export interface UrgentSettings {
  room_id: string;
  repeat_seconds: number;
  max_repeats: number;
  /** Unacknowledged repeats after which `escalate_to` is paged too; null: no escalation. */
  escalate_after: number | null;
  /** A member's user id or `role:OWNER|EDITOR|VIEWER`; null: nobody. */
  escalate_to: string | null;
  /** The caller's opt-in to urgent messages that mention nobody. */
  alerts: boolean;
}
export const urgentSettings: Decoder<UrgentSettings> = object({
  room_id: str,
  repeat_seconds: int,
  max_repeats: int,
  escalate_after: nullable(int),
  escalate_to: nullable(str),
  alerts: withDefault(bool, () => false),
});

/** The fields `PATCH /api/rooms/{id}/urgent` takes; each optional, null clears escalation. */
export interface UrgentSettingsPatch {
  repeat_seconds?: number;
  max_repeats?: number;
  escalate_after?: number | null;
  escalate_to?: string | null;
}

export const WEBHOOK_MODES = ["post", "room_per_alert"] as const;
export type WebhookMode = (typeof WEBHOOK_MODES)[number];

/** A webhook as listed: never its secret. */
export interface Webhook {
  webhook_id: string;
  room_id: string;
  name: string;
  mode: WebhookMode;
  resolve_room: boolean;
  bot_user_id: string;
  created_by: string;
  created_at: string;
}
const webhookFields = {
  webhook_id: str,
  room_id: str,
  name: str,
  mode: oneOf(...WEBHOOK_MODES),
  resolve_room: withDefault(bool, () => false),
  bot_user_id: str,
  created_by: str,
  created_at: str,
};
export const webhook: Decoder<Webhook> = object(webhookFields);
export const webhookList = object({ webhooks: array(webhook) });

/** The creation answer: the only time the URL with its secret is ever sent. */
export interface CreatedWebhook extends Webhook {
  /** `/api/hooks/{webhook_id}/{secret}`, relative to the server. */
  url: string;
}
export const createdWebhook: Decoder<CreatedWebhook> = object({ ...webhookFields, url: str });

export interface WebhookSpec {
  name: string;
  mode: WebhookMode;
  resolve_room: boolean;
}
