/**
 * The room list: order by latest activity, unread counts, mention counts and the newest
 * message's preview. With the user stream up (`/ws`), its `connected` snapshot replaces the
 * state and its frames update it; without it, the REST list and the open room's own events
 * keep it roughly current.
 */
import { t } from "../i18n";
import type { Role, Room, RoomEntry, RoomPreview, RoomStatus } from "../net/schemas";
import { describeSystemEvent, eventNameOf } from "./system_text";

export interface RoomsState {
  rooms: Room[];
  loaded: boolean;
}

export const emptyRooms: RoomsState = { rooms: [], loaded: false };

/** The state-carrying part of a `room_activity` frame. */
export interface RoomActivity {
  room_id: string;
  last_sequence_number: number;
  unread_count: number;
  unread_mentions: number;
  last_message_at: string | null;
  preview: RoomPreview | null;
}

export type RoomsAction =
  /** `GET /api/rooms`. */
  | { type: "loaded"; rooms: Room[] }
  /** The user stream's `connected` frame: the whole list, replacing what we had. `at` is the server time. */
  | { type: "snapshot"; rooms: RoomEntry[]; at: string }
  | { type: "upserted"; room: Room }
  | { type: "removed"; room_id: string }
  /** A new message in a room, seen by the open room's socket (used while the user stream is down). */
  | { type: "activity"; room_id: string; at: string; unread: boolean }
  /** The user read the room up to its newest message. */
  | { type: "read"; room_id: string }
  /**
   * The user stream's `room_activity`. `readUpTo` is where this client has already put the
   * read marker (or is about to, reading the open room): counts the frame reports for messages
   * at or below it are stale and shown as read.
   */
  | { type: "room_activity"; activity: RoomActivity; readUpTo: number | null }
  | { type: "room_added"; room: RoomEntry; at: string }
  | { type: "status_changed"; room_id: string; status: RoomStatus }
  | { type: "role_changed"; room_id: string; role: Role };

export function roomsReducer(state: RoomsState, action: RoomsAction): RoomsState {
  switch (action.type) {
    case "loaded": {
      const known = byId(state.rooms);
      const rooms = action.rooms.map((r) => ({
        ...r,
        last_sequence_number: r.last_sequence_number ?? known.get(r.room_id)?.last_sequence_number ?? null,
      }));
      return { rooms: sortRooms(rooms), loaded: true };
    }
    case "snapshot": {
      const known = byId(state.rooms);
      const rooms = action.rooms.map((e) => roomFromEntry(e, known.get(e.room_id), action.at));
      return { rooms: sortRooms(rooms), loaded: true };
    }
    case "upserted": {
      const others = state.rooms.filter((r) => r.room_id !== action.room.room_id);
      return { ...state, rooms: sortRooms([...others, action.room]) };
    }
    case "removed":
      if (!state.rooms.some((r) => r.room_id === action.room_id)) return state;
      return { ...state, rooms: state.rooms.filter((r) => r.room_id !== action.room_id) };
    case "activity": {
      const room = find(state, action.room_id);
      if (!room) return state;
      const last = room.last_message_at && room.last_message_at > action.at ? room.last_message_at : action.at;
      const updated: Room = {
        ...room,
        last_message_at: last,
        unread_count: room.unread_count + (action.unread ? 1 : 0),
      };
      return roomsReducer(state, { type: "upserted", room: updated });
    }
    case "read": {
      const room = find(state, action.room_id);
      if (!room || (room.unread_count === 0 && room.unread_mentions === 0)) return state;
      return roomsReducer(state, { type: "upserted", room: { ...room, unread_count: 0, unread_mentions: 0 } });
    }
    case "room_activity": {
      const a = action.activity;
      const room = find(state, a.room_id);
      if (!room) return state; // `room_added` always comes first; anything else is stale
      const read = action.readUpTo !== null && action.readUpTo >= a.last_sequence_number;
      const updated: Room = {
        ...room,
        last_sequence_number: a.last_sequence_number,
        unread_count: read ? 0 : a.unread_count,
        unread_mentions: read ? 0 : a.unread_mentions,
        last_message_at: a.last_message_at ?? room.last_message_at,
        preview: a.preview,
      };
      return roomsReducer(state, { type: "upserted", room: updated });
    }
    case "room_added": {
      const known = find(state, action.room.room_id) ?? undefined;
      return roomsReducer(state, { type: "upserted", room: roomFromEntry(action.room, known, action.at) });
    }
    case "status_changed": {
      const room = find(state, action.room_id);
      if (!room || room.status === action.status) return state;
      return roomsReducer(state, { type: "upserted", room: { ...room, status: action.status } });
    }
    case "role_changed": {
      const room = find(state, action.room_id);
      if (!room || room.role === action.role) return state;
      return { ...state, rooms: state.rooms.map((r) => (r.room_id === action.room_id ? { ...r, role: action.role } : r)) };
    }
  }
}

/** A room list entry from the user stream, keeping what only REST knows (description, creation time). */
export function roomFromEntry(entry: RoomEntry, known: Room | undefined, fallbackCreatedAt: string): Room {
  return {
    room_id: entry.room_id,
    title: entry.title || known?.title || entry.room_id,
    description: known?.description ?? null,
    status: entry.status,
    role: entry.role,
    created_at: known?.created_at ?? entry.last_message_at ?? fallbackCreatedAt,
    last_message_at: entry.last_message_at,
    unread_count: entry.unread_count,
    unread_mentions: entry.unread_mentions,
    preview: entry.preview,
    last_sequence_number: entry.last_sequence_number,
  };
}

/** Active rooms first, then by last activity (or creation), newest first. */
export function sortRooms(rooms: Room[]): Room[] {
  const rank = { active: 0, resolved: 1, archived: 2 } as const;
  return [...rooms].sort((a, b) => {
    const byStatus = rank[a.status] - rank[b.status];
    if (byStatus !== 0) return byStatus;
    const at = a.last_message_at ?? a.created_at;
    const bt = b.last_message_at ?? b.created_at;
    return at < bt ? 1 : at > bt ? -1 : a.title.localeCompare(b.title);
  });
}

export function totalUnread(state: RoomsState): number {
  return state.rooms.reduce((sum, r) => sum + r.unread_count, 0);
}

export function totalUnreadMentions(state: RoomsState): number {
  return state.rooms.reduce((sum, r) => sum + r.unread_mentions, 0);
}

/**
 * What a room's row says about its messages. It never says "No messages yet" about a room
 * that has any: a room with only system events shows the system sentence, and one whose
 * messages were all deleted (or whose server sends no preview) shows just its time.
 */
export type RoomLine =
  | { kind: "preview"; sender: string | null; bot: boolean; text: string; at: string | null }
  | { kind: "activity"; at: string | null }
  | { kind: "empty" };

export function roomLine(room: Room): RoomLine {
  const at = room.last_message_at ?? room.preview?.created_at ?? null;
  const p = room.preview;
  if (p) {
    const sender = p.message_type === "system" ? null : p.sender_display_name || p.sender_id || null;
    return {
      kind: "preview",
      sender,
      // A bot's badge goes with its name: never on a line that shows no sender.
      bot: sender !== null && p.sender_is_bot,
      text: p.system
        ? // Worded here, in the reader's language, with the names the preview carries.
          describeSystemEvent(p.system, eventNameOf(p.system))
        : p.content || (p.message_type === "text" ? "" : t(`roomPreview.${p.message_type}`)),
      at,
    };
  }
  if ((room.last_sequence_number ?? 0) > 0 || room.unread_count > 0 || room.unread_mentions > 0 || at !== null) {
    return { kind: "activity", at };
  }
  return { kind: "empty" };
}

function find(state: RoomsState, roomId: string): Room | null {
  return state.rooms.find((r) => r.room_id === roomId) ?? null;
}

function byId(rooms: Room[]): Map<string, Room> {
  return new Map(rooms.map((r) => [r.room_id, r]));
}
