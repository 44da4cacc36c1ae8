/**
 * The wire format of CONTRACT.md, as decoders. Every frame from the server and
 * every REST body goes through one of these before it is dispatched.
 */
import {
  DecodeError,
  array,
  bool,
  decode,
  int,
  isPlainObject,
  json,
  map,
  nullable,
  num,
  object,
  oneOf,
  optional,
  record,
  str,
  withDefault,
  type Decoder,
} from "./decode";

export const ROLES = ["OWNER", "EDITOR", "VIEWER"] as const;
export type Role = (typeof ROLES)[number];

export const ROOM_STATUSES = ["active", "resolved", "archived"] as const;
export type RoomStatus = (typeof ROOM_STATUSES)[number];

export const MESSAGE_TYPES = ["text", "image_ref", "file_ref", "incident_data", "system"] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const PUSH_LEVELS = ["all", "mentions", "none"] as const;
export type PushLevel = (typeof PUSH_LEVELS)[number];

const role = oneOf(...ROLES);
const roomStatus = oneOf(...ROOM_STATUSES);
const strList = withDefault(array(str), () => [] as string[]);

/** Content is a string for chat, an object for incident data and stored system events, null once deleted. */
export type MessageContent = string | Record<string, unknown> | null;

const content: Decoder<MessageContent> = (v, path) => {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v;
  if (isPlainObject(v)) return v;
  throw new DecodeError(path, "string, object or null");
};

/** The contract's message object; the server's `api.domain.events.Message` struct mirrors it. */
export interface ChatMessage {
  message_id: string;
  room_id: string;
  sender_id: string;
  sender_display_name: string;
  content: MessageContent;
  message_type: MessageType;
  mentions: string[];
  file_id: string | null;
  file_url: string | null;
  client_id: string | null;
  created_at: string;
  edited_at: string | null;
  deleted_at: string | null;
  sequence_number: number;
  reactions: Record<string, number>;
  /** REST history only: the emoji the signed-in user has put on this message. */
  my_reactions?: string[] | undefined;
  /** Extension: an attachment's name, sniffed type and size (image_ref / file_ref). */
  file?: FileInfo | null | undefined;
  /** Extension, REST history only: who put each emoji on, oldest first. Live frames update it. */
  reacted_by?: Record<string, Reactor[]> | undefined;
  /** `urgent` pages its recipients until they acknowledge (docs/alerts.md). */
  priority?: Priority | undefined;
  /** On urgent messages: who acknowledged it, and when (oldest first). */
  acknowledgements?: Acknowledgement[] | undefined;
  /** Extension: sent by a bot (an incoming webhook's), not a person. */
  sender_is_bot?: boolean | undefined;
  /** Extension, stored system events: the names of the people the event names when it was stored. */
  names?: Record<string, string> | undefined;
}

export interface FileInfo {
  filename: string;
  content_type: string;
  size: number;
}

export interface Reactor {
  user_id: string;
  display_name: string;
}
export type Priority = "normal" | "urgent";
export interface Acknowledgement {
  user_id: string;
  display_name: string;
  at: string;
}
const acknowledgement: Decoder<Acknowledgement> = map(
  object({ user_id: str, display_name: nullable(str), at: str }),
  (a) => ({ ...a, display_name: a.display_name ?? a.user_id }),
);

const messageFields = {
  message_id: str,
  room_id: str,
  sender_id: str,
  sender_display_name: nullable(str),
  content,
  message_type: oneOf(...MESSAGE_TYPES),
  mentions: strList,
  file_id: nullable(str),
  file_url: nullable(str),
  client_id: nullable(str),
  created_at: str,
  edited_at: nullable(str),
  deleted_at: nullable(str),
  sequence_number: int,
  reactions: withDefault(record(int), () => ({}) as Record<string, number>),
  my_reactions: optional(array(str)),
  file: optional(nullable(object({ filename: str, content_type: str, size: num }))),
  reacted_by: optional(record(array(object({ user_id: str, display_name: str })))),
  priority: withDefault(oneOf("normal", "urgent"), () => "normal" as Priority),
  acknowledgements: optional(array(acknowledgement)),
  sender_is_bot: optional(bool),
  names: optional(record(str)),
};

/** A system event's object with the names it was stored with, where a view looks for them
 * (`user_display_name` / `actor_display_name`, as on the live `system` frame). */
function withStoredNames(content: MessageContent, names: Record<string, string> | undefined): MessageContent {
  if (!names || content === null || typeof content !== "object" || Array.isArray(content)) return content;
  const event = content as Record<string, unknown>;
  const out: Record<string, unknown> = { ...event };
  for (const who of ["user", "actor"] as const) {
    const id = event[`${who}_id`];
    const name = typeof id === "string" ? names[id] : undefined;
    if (name !== undefined && out[`${who}_display_name`] === undefined) out[`${who}_display_name`] = name;
  }
  return out as MessageContent;
}

export const chatMessage: Decoder<ChatMessage> = map(object(messageFields), (m) => ({
  ...m,
  sender_display_name: m.sender_display_name ?? m.sender_id,
  content: m.message_type === "system" ? withStoredNames(m.content, m.names) : m.content,
}));

export interface OnlineUser {
  user_id: string;
  display_name: string;
}
const onlineUser: Decoder<OnlineUser> = object({ user_id: str, display_name: str });
const onlineList = withDefault(array(onlineUser), () => [] as OnlineUser[]);
// The large-room extension (docs/big-rooms.md); absent in a small room.
const onlineCount = withDefault(nullable(int), () => null);
const truncatedFlag = withDefault(bool, () => false);

// ---------------------------------------------------------------- server frames

export interface ConnectedFrame {
  type: "connected";
  room_id: string;
  user_id: string;
  role: Role;
  last_sequence_number: number;
  server_time: string;
  online: OnlineUser[];
  /** Large rooms (docs/big-rooms.md): how many are online; `online` is then only a sample. */
  online_count: number | null;
}
export interface AckFrame {
  type: "ack";
  client_id: string | null;
  message_id: string;
  sequence_number: number;
  created_at: string;
}
export interface MessageFrame {
  type: "message";
  message: ChatMessage;
}
export interface MessageEditedFrame {
  type: "message_edited";
  message: ChatMessage;
}
export interface MessageDeletedFrame {
  type: "message_deleted";
  message_id: string;
  room_id: string;
  sequence_number: number;
  deleted_at: string;
  deleted_by: string | null;
}
export interface ReactionFrame {
  type: "reaction_added" | "reaction_removed";
  message_id: string;
  emoji: string;
  user_id: string;
  reactions: Record<string, number>;
}
/** A stored, sequenced system event (room status, membership). */
export interface StoredSystemFrame {
  type: "system";
  stored: true;
  event: string;
  message_id: string;
  sequence_number: number;
  user_id: string | null;
  actor_id: string | null;
  timestamp: string;
  detail: Record<string, unknown>;
}
/** A transient system event (user_joined, user_left): not stored, not sequenced. */
export interface TransientSystemFrame {
  type: "system";
  stored: false;
  event: string;
  user_id: string | null;
  display_name: string | null;
  timestamp: string;
}
export interface TypingFrame {
  type: "typing";
  user_id: string;
  display_name: string;
  is_typing: boolean;
}
export interface PresenceFrame {
  type: "presence";
  online: OnlineUser[];
  /** Large rooms (docs/big-rooms.md): how many are online; `online` is then only a sample. */
  online_count: number | null;
}
export interface MentionFrame {
  type: "mention";
  room_id: string;
  room_title: string;
  message_id: string;
  sequence_number: number;
  sender_display_name: string;
  preview: string;
}
/** Someone acknowledged an urgent message (room sockets and the user stream). */
export interface UrgentAcknowledgedFrame {
  type: "urgent_acknowledged";
  message_id: string;
  room_id: string;
  user_id: string;
  display_name: string;
  at: string;
}
/** One round of an urgent page for me: alert with sound and vibration until I acknowledge. */
export interface UrgentPageFrame {
  type: "urgent_page";
  room_id: string;
  room_title: string;
  message_id: string;
  sequence_number: number;
  sender_display_name: string;
  preview: string;
  round: number;
  last_round: boolean;
  /** Paged because another member's page went unacknowledged (the room's escalation). */
  escalated: boolean;
}
export interface SyncCompleteFrame {
  type: "sync_complete";
  last_sequence_number: number;
  server_time: string;
}
export interface PongFrame {
  type: "pong";
  id: string | null;
  server_time: string | null;
}
export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  client_id: string | null;
  message_id: string | null;
}

export type ServerFrame =
  | ConnectedFrame
  | AckFrame
  | MessageFrame
  | MessageEditedFrame
  | MessageDeletedFrame
  | ReactionFrame
  | StoredSystemFrame
  | TransientSystemFrame
  | TypingFrame
  | PresenceFrame
  | MentionFrame
  | UrgentAcknowledgedFrame
  | UrgentPageFrame
  | SyncCompleteFrame
  | PongFrame
  | ErrorFrame;

const connectedFrame: Decoder<ConnectedFrame> = map(
  object({
    room_id: str,
    user_id: str,
    role,
    last_sequence_number: int,
    server_time: str,
    online: onlineList,
    online_count: onlineCount,
    truncated: truncatedFlag,
  }),
  ({ truncated, online_count, ...f }) => ({ type: "connected", ...f, online_count: truncated ? online_count : null }),
);

const ackFrame: Decoder<AckFrame> = map(
  object({ client_id: nullable(str), message_id: str, sequence_number: int, created_at: str }),
  (f) => ({ type: "ack", ...f }),
);

const messageDeletedFrame: Decoder<MessageDeletedFrame> = map(
  object({
    message_id: str,
    room_id: str,
    sequence_number: int,
    deleted_at: str,
    deleted_by: nullable(str),
  }),
  (f) => ({ type: "message_deleted", ...f }),
);

const reactionFields = object({
  message_id: str,
  emoji: str,
  user_id: str,
  reactions: withDefault(record(int), () => ({}) as Record<string, number>),
});

const SYSTEM_BASE_KEYS = new Set([
  "type",
  "event",
  "message_id",
  "sequence_number",
  "user_id",
  "actor_id",
  "timestamp",
  "display_name",
]);

const systemFrame: Decoder<StoredSystemFrame | TransientSystemFrame> = (v, path) => {
  const base = object({
    event: str,
    user_id: nullable(str),
    timestamp: str,
    message_id: nullable(str),
    sequence_number: nullable(int),
  })(v, path);
  const raw = v as Record<string, unknown>;
  if (base.message_id !== null && base.sequence_number !== null) {
    const detail: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) {
      if (!SYSTEM_BASE_KEYS.has(key)) detail[key] = value;
    }
    return {
      type: "system",
      stored: true,
      event: base.event,
      message_id: base.message_id,
      sequence_number: base.sequence_number,
      user_id: base.user_id,
      actor_id: nullable(str)(raw.actor_id, `${path}.actor_id`),
      timestamp: base.timestamp,
      detail,
    };
  }
  return {
    type: "system",
    stored: false,
    event: base.event,
    user_id: base.user_id,
    display_name: nullable(str)(raw.display_name, `${path}.display_name`),
    timestamp: base.timestamp,
  };
};

const typingFrame: Decoder<TypingFrame> = map(
  object({ user_id: str, display_name: nullable(str), is_typing: withDefault(bool, () => true) }),
  (f) => ({ type: "typing", ...f, display_name: f.display_name ?? f.user_id }),
);

const presenceFrame: Decoder<PresenceFrame> = map(
  object({ online: onlineList, online_count: onlineCount, truncated: truncatedFlag }),
  ({ truncated, online_count, online }) => ({ type: "presence", online, online_count: truncated ? online_count : null }),
);

const mentionFrame: Decoder<MentionFrame> = map(
  object({
    room_id: str,
    room_title: withDefault(str, () => ""),
    message_id: str,
    sequence_number: int,
    sender_display_name: withDefault(str, () => ""),
    preview: withDefault(str, () => ""),
  }),
  (f) => ({ type: "mention", ...f }),
);

const urgentAcknowledgedFrame: Decoder<UrgentAcknowledgedFrame> = map(
  object({ message_id: str, room_id: withDefault(str, () => ""), user_id: str, display_name: nullable(str), at: str }),
  (f) => ({ type: "urgent_acknowledged", ...f, display_name: f.display_name ?? f.user_id }),
);

const urgentPageFrame: Decoder<UrgentPageFrame> = map(
  object({
    room_id: str,
    room_title: withDefault(str, () => ""),
    message_id: str,
    sequence_number: int,
    sender_display_name: withDefault(str, () => ""),
    preview: withDefault(str, () => ""),
    round: withDefault(int, () => 1),
    last_round: withDefault(bool, () => false),
    escalated: withDefault(bool, () => false),
  }),
  (f) => ({ type: "urgent_page", ...f }),
);

const syncCompleteFrame: Decoder<SyncCompleteFrame> = map(
  object({ last_sequence_number: int, server_time: str }),
  (f) => ({ type: "sync_complete", ...f }),
);

const errorFrame: Decoder<ErrorFrame> = map(
  object({
    code: str,
    message: withDefault(str, () => ""),
    client_id: nullable(str),
    message_id: nullable(str),
  }),
  (f) => ({ type: "error", ...f }),
);

const pongFrame: Decoder<PongFrame> = map(object({ id: nullable(str), server_time: nullable(str) }), (f) => ({
  type: "pong",
  ...f,
}));

const frameDecoders: Record<string, Decoder<ServerFrame>> = {
  connected: connectedFrame,
  ack: ackFrame,
  message: map(chatMessage, (message) => ({ type: "message", message }) as const),
  message_edited: map(chatMessage, (message) => ({ type: "message_edited", message }) as const),
  message_deleted: messageDeletedFrame,
  reaction_added: map(reactionFields, (f) => ({ type: "reaction_added", ...f }) as const),
  reaction_removed: map(reactionFields, (f) => ({ type: "reaction_removed", ...f }) as const),
  system: systemFrame,
  typing: typingFrame,
  presence: presenceFrame,
  mention: mentionFrame,
  urgent_acknowledged: urgentAcknowledgedFrame,
  urgent_page: urgentPageFrame,
  sync_complete: syncCompleteFrame,
  pong: pongFrame,
  error: errorFrame,
};

export type ParseResult<F> =
  | { ok: true; frame: F }
  | { ok: false; reason: "invalid_json" | "unknown_type" | "invalid_frame"; detail: string };

export type FrameParseResult = ParseResult<ServerFrame>;

/** Parses one text frame with the decoder for its `type`. Never throws: a bad frame is reported, not dispatched. */
function parseWith<F>(text: string, decoders: Record<string, Decoder<F>>): ParseResult<F> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: "invalid_json", detail: String(err) };
  }
  if (!isPlainObject(raw) || typeof raw.type !== "string") {
    return { ok: false, reason: "invalid_frame", detail: "missing type" };
  }
  const decoder = Object.prototype.hasOwnProperty.call(decoders, raw.type) ? decoders[raw.type] : undefined;
  if (!decoder) return { ok: false, reason: "unknown_type", detail: raw.type };
  try {
    return { ok: true, frame: decoder(raw, raw.type) };
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, reason: "invalid_frame", detail: err.message };
    throw err;
  }
}

/** Parses one frame of a room's socket (`/ws/{room_id}`). */
export function parseServerFrame(text: string): FrameParseResult {
  return parseWith(text, frameDecoders);
}

/** The sequence number that advances the room's stream, or null for frames outside it. */
export function streamSequence(frame: ServerFrame): number | null {
  if (frame.type === "message") return frame.message.sequence_number;
  if (frame.type === "system" && frame.stored) return frame.sequence_number;
  return null;
}

// ---------------------------------------------------------------- client frames

export interface OutgoingMessageFrame {
  type: "message";
  content: string | Record<string, unknown>;
  message_type: Exclude<MessageType, "system">;
  mentions?: string[];
  file_id?: string;
  client_id: string;
  priority?: Priority;
}

export type ClientFrame =
  | OutgoingMessageFrame
  | { type: "edit_message"; message_id: string; content: string }
  | { type: "delete_message"; message_id: string }
  | { type: "add_reaction" | "remove_reaction"; message_id: string; emoji: string }
  | { type: "typing"; is_typing: boolean }
  | { type: "sync"; since: number; since_time?: string }
  | { type: "focus"; focused: boolean }
  | { type: "ack_urgent"; message_id: string }
  | PingFrame;

/** The application-level heartbeat, accepted on `/ws` and `/ws/{room_id}`; answered by `pong`. */
export interface PingFrame {
  type: "ping";
  id?: string;
}

// ---------------------------------------------------------------- REST bodies

export interface User {
  user_id: string;
  display_name: string;
  is_admin: boolean;
}
export const user: Decoder<User> = object({
  user_id: str,
  display_name: str,
  is_admin: withDefault(bool, () => false),
});
export const loginResponse = object({ user });

/**
 * Extension: a system event as its preview carries it, with the names of the people it names at
 * the time of the event, for the room list to word in the reader's language (docs/user-stream.md).
 */
// A type, not an interface: it is a Record<string, unknown> for describeSystemEvent.
export type SystemPreview = {
  event: string;
  user_id?: string | undefined;
  actor_id?: string | undefined;
  user_display_name?: string | undefined;
  actor_display_name?: string | undefined;
  role?: string | undefined;
  old_status?: string | undefined;
  new_status?: string | undefined;
  title?: string | undefined;
};
export const systemPreview: Decoder<SystemPreview> = object({
  event: str,
  user_id: optional(str),
  actor_id: optional(str),
  user_display_name: optional(str),
  actor_display_name: optional(str),
  role: optional(str),
  old_status: optional(str),
  new_status: optional(str),
  title: optional(str),
});

/** A room's newest undeleted message, as the room list shows it (user stream and `GET /api/rooms`). */
export interface RoomPreview {
  message_id: string;
  sender_id: string;
  sender_display_name: string;
  /** Extension: the sender is a bot (an incoming webhook's); false for system events and older servers. */
  sender_is_bot: boolean;
  message_type: MessageType;
  /** The text cut to 140 characters, or a short label for other types (for system events, English). */
  content: string;
  created_at: string;
  /** Extension: the system event with names (system previews of newer servers only). */
  system?: SystemPreview | undefined;
}
export const roomPreview: Decoder<RoomPreview> = map(
  object({
    message_id: str,
    sender_id: withDefault(str, () => ""),
    sender_display_name: nullable(str),
    sender_is_bot: withDefault(bool, () => false),
    message_type: withDefault(oneOf(...MESSAGE_TYPES), () => "text" as MessageType),
    content: withDefault(str, () => ""),
    created_at: str,
    system: optional(systemPreview),
  }),
  (p) => ({ ...p, sender_display_name: p.sender_display_name ?? p.sender_id }),
);

export interface Room {
  room_id: string;
  title: string;
  description: string | null;
  status: RoomStatus;
  role: Role | null;
  created_at: string;
  last_message_at: string | null;
  unread_count: number;
  /** Unread messages among `unread_count` that mention the user. */
  unread_mentions: number;
  preview: RoomPreview | null;
  /** The room's newest sequence number (REST and the user stream both send it; older servers may not). */
  last_sequence_number: number | null;
}
export const room: Decoder<Room> = object({
  room_id: str,
  title: str,
  description: nullable(str),
  status: roomStatus,
  role: nullable(role),
  created_at: str,
  last_message_at: nullable(str),
  unread_count: withDefault(int, () => 0),
  unread_mentions: withDefault(int, () => 0),
  preview: nullable(roomPreview),
  last_sequence_number: nullable(int),
});
export const roomList = object({ rooms: array(room) });

export interface Member {
  user_id: string;
  display_name: string;
  role: Role;
  online: boolean;
  /** Extension: an incoming webhook's bot (docs/alerts.md). */
  is_bot?: boolean | undefined;
}
export const member: Decoder<Member> = object({
  user_id: str,
  display_name: str,
  role,
  online: withDefault(bool, () => false),
  is_bot: optional(bool),
});
export const memberList = object({ members: array(member) });

export interface MessagePage {
  messages: ChatMessage[];
  has_more: boolean;
  next_before_sequence: number | null;
}
export const messagePage: Decoder<MessagePage> = object({
  messages: array(chatMessage),
  has_more: withDefault(bool, () => false),
  next_before_sequence: nullable(int),
});

/** `GET /api/rooms/{id}/messages?around_sequence=N`: a window around N, oldest first. */
export interface AroundPage {
  messages: ChatMessage[];
  has_more_before: boolean;
  has_more_after: boolean;
  next_before_sequence: number | null;
  next_after_sequence: number | null;
}
export const aroundPage: Decoder<AroundPage> = object({
  messages: array(chatMessage),
  has_more_before: withDefault(bool, () => false),
  has_more_after: withDefault(bool, () => false),
  next_before_sequence: nullable(int),
  next_after_sequence: nullable(int),
});

/** A message that mentions the caller, from `GET /api/mentions`. */
export interface MentionItem extends ChatMessage {
  room_title: string;
  /** After the caller's read marker in that room. */
  unread: boolean;
}
const mentionItem: Decoder<MentionItem> = (v, path) => {
  const message = chatMessage(v, path);
  const extra = object({ room_title: withDefault(str, () => ""), unread: withDefault(bool, () => false) })(v, path);
  return { ...message, ...extra };
};

export interface MentionsPage {
  messages: MentionItem[];
  has_more: boolean;
  /** The exact position after this page, to pass back as `cursor`; null from older servers. */
  next_cursor: string | null;
  /** The last item's timestamp, to pass back as `before` (can skip mentions that share it). */
  next_before: string | null;
  unread_total: number | null;
}
export const mentionsPage: Decoder<MentionsPage> = object({
  messages: array(mentionItem),
  has_more: withDefault(bool, () => false),
  next_cursor: nullable(str),
  next_before: nullable(str),
  unread_total: nullable(int),
});

/** Where the next mentions page starts: the query parameter and its value. */
export interface MentionsPosition {
  by: "cursor" | "before";
  value: string;
}

/** The next page's start: the exact cursor when the server gives one, else the timestamp; null at the end. */
export function nextMentionsPosition(page: MentionsPage): MentionsPosition | null {
  if (!page.has_more) return null;
  if (page.next_cursor !== null) return { by: "cursor", value: page.next_cursor };
  if (page.next_before !== null) return { by: "before", value: page.next_before };
  return null;
}

export interface ClientConfig {
  display_timezone: string;
  edit_window_seconds: number;
  typing_timeout: number;
}
export const DEFAULT_CONFIG: ClientConfig = {
  display_timezone: "Asia/Taipei",
  edit_window_seconds: 900,
  typing_timeout: 3,
};
export const clientConfig: Decoder<ClientConfig> = object({
  display_timezone: withDefault(str, () => DEFAULT_CONFIG.display_timezone),
  edit_window_seconds: withDefault(num, () => DEFAULT_CONFIG.edit_window_seconds),
  typing_timeout: withDefault(num, () => DEFAULT_CONFIG.typing_timeout),
});

export interface SearchHit {
  message: ChatMessage;
  highlighted_content: string;
}
export const searchResults: Decoder<{ hits: SearchHit[]; total: number }> = object({
  hits: array(
    (v, path): SearchHit => ({
      message: chatMessage(v, path),
      highlighted_content: withDefault(str, () => "")(
        (v as Record<string, unknown>).highlighted_content,
        `${path}.highlighted_content`,
      ),
    }),
  ),
  total: withDefault(int, () => 0),
});

export interface IncidentPoint {
  message_id: string;
  sequence_number: number;
  created_at: string;
  value: number;
}
export const incidentPoints = object({
  points: array(object({ message_id: str, sequence_number: int, created_at: str, value: num })),
  /** Extension: the unit the field was last posted with (`_units`), or null. */
  unit: withDefault(nullable(str), () => null),
});

/** Extension: GET /api/rooms/{id}/incident-data/fields, the room's numeric fields. */
export const incidentFields = object({
  fields: array(object({ field: str, count: int, unit: withDefault(nullable(str), () => null) })),
});

export const messageVersions = object({
  versions: array(object({ content, at: str, by: nullable(str) })),
});

export interface UploadedFile {
  file_id: string;
  file_url: string;
  filename: string;
  content_type: string;
  size: number;
}
export const uploadedFile: Decoder<UploadedFile> = object({
  file_id: str,
  file_url: str,
  filename: withDefault(str, () => ""),
  content_type: withDefault(str, () => "application/octet-stream"),
  size: withDefault(int, () => 0),
});

export const vapidKey = object({ public_key: str });

export interface NotificationPrefs {
  push: PushLevel;
  rooms: Record<string, PushLevel>;
}
export const notificationPrefs: Decoder<NotificationPrefs> = object({
  push: withDefault(oneOf(...PUSH_LEVELS), () => "mentions" as PushLevel),
  rooms: withDefault(record(oneOf(...PUSH_LEVELS)), () => ({}) as Record<string, PushLevel>),
});

// ---------------------------------------------------------------- the user stream (`/ws`)

/** A room as the user stream describes it (in `connected` and `room_added`). */
export interface RoomEntry {
  room_id: string;
  title: string;
  status: RoomStatus;
  role: Role | null;
  last_sequence_number: number;
  unread_count: number;
  unread_mentions: number;
  last_message_at: string | null;
  preview: RoomPreview | null;
}
const roomEntryFields = {
  room_id: str,
  title: withDefault(str, () => ""),
  status: withDefault(roomStatus, () => "active" as RoomStatus),
  role: nullable(role),
  last_sequence_number: withDefault(int, () => 0),
  unread_count: withDefault(int, () => 0),
  unread_mentions: withDefault(int, () => 0),
  last_message_at: nullable(str),
  preview: nullable(roomPreview),
};
export const roomEntry: Decoder<RoomEntry> = object(roomEntryFields);

export interface UserConnectedFrame {
  type: "connected";
  user_id: string;
  server_time: string;
  rooms: RoomEntry[];
}
export interface RoomActivityFrame {
  type: "room_activity";
  room_id: string;
  last_sequence_number: number;
  unread_count: number;
  unread_mentions: number;
  last_message_at: string | null;
  preview: RoomPreview | null;
}
export interface RoomAddedFrame {
  type: "room_added";
  room: RoomEntry;
}
export interface RoomRemovedFrame {
  type: "room_removed";
  room_id: string;
}
export interface RoomStatusChangedFrame {
  type: "room_status_changed";
  room_id: string;
  status: RoomStatus;
}
export interface RoleChangedFrame {
  type: "role_changed";
  room_id: string;
  role: Role;
}

export type UserServerFrame =
  | UserConnectedFrame
  | RoomActivityFrame
  | MentionFrame
  | RoomAddedFrame
  | RoomRemovedFrame
  | RoomStatusChangedFrame
  | RoleChangedFrame
  | UrgentAcknowledgedFrame
  | UrgentPageFrame
  | PongFrame
  | ErrorFrame;

const userFrameDecoders: Record<string, Decoder<UserServerFrame>> = {
  connected: map(object({ user_id: str, server_time: str, rooms: array(roomEntry) }), (f) => ({
    type: "connected" as const,
    ...f,
  })),
  room_activity: map(
    object({
      room_id: str,
      last_sequence_number: int,
      unread_count: withDefault(int, () => 0),
      unread_mentions: withDefault(int, () => 0),
      last_message_at: nullable(str),
      preview: nullable(roomPreview),
    }),
    (f) => ({ type: "room_activity" as const, ...f }),
  ),
  mention: mentionFrame,
  room_added: map(roomEntry, (room) => ({ type: "room_added" as const, room })),
  room_removed: map(object({ room_id: str }), (f) => ({ type: "room_removed" as const, ...f })),
  room_status_changed: map(object({ room_id: str, status: roomStatus }), (f) => ({
    type: "room_status_changed" as const,
    ...f,
  })),
  role_changed: map(object({ room_id: str, role }), (f) => ({ type: "role_changed" as const, ...f })),
  urgent_acknowledged: urgentAcknowledgedFrame,
  urgent_page: urgentPageFrame,
  pong: pongFrame,
  error: errorFrame,
};

/** Parses one frame of the user stream (`/ws`). */
export function parseUserFrame(text: string): ParseResult<UserServerFrame> {
  return parseWith(text, userFrameDecoders);
}

export const errorBody = object({ detail: withDefault(json, () => null) });

export { decode };
