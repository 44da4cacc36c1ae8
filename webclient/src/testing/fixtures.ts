import type { ChatMessage, Room } from "../net/schemas";

export const ROOM = "room-1";
export const ME = "me@plant.example";
export const OTHER = "op@plant.example";

export function msg(seq: number, over: Partial<ChatMessage> = {}): ChatMessage {
  return {
    message_id: `m-${seq}`,
    room_id: ROOM,
    sender_id: OTHER,
    sender_display_name: "Operator",
    content: `message ${seq}`,
    message_type: "text",
    mentions: [],
    file_id: null,
    file_url: null,
    client_id: null,
    created_at: new Date(Date.parse("2025-11-17T10:00:00.000Z") + seq * 1000).toISOString(),
    edited_at: null,
    deleted_at: null,
    sequence_number: seq,
    reactions: {},
    ...over,
  };
}

export function messageFrame(seq: number, over: Partial<ChatMessage> = {}): Record<string, unknown> {
  return { type: "message", ...msg(seq, over) };
}

export function connectedFrame(last: number, online = [{ user_id: ME, display_name: "Me" }]): Record<string, unknown> {
  return {
    type: "connected",
    room_id: ROOM,
    user_id: ME,
    role: "EDITOR",
    last_sequence_number: last,
    server_time: "2025-11-17T10:00:00.000Z",
    online,
  };
}

export function syncComplete(last: number, serverTime = "2025-11-17T10:05:00.000Z"): Record<string, unknown> {
  return { type: "sync_complete", last_sequence_number: last, server_time: serverTime };
}

/** Lets pending promise callbacks (IndexedDB, fetch stubs) run. */
export async function flush(times = 20): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
}

/** A room as the room list holds it ("r1", active, nothing unread), with `over` on top. */
export function listedRoom(over: Partial<Room> = {}): Room {
  return {
    room_id: "r1",
    title: "Line 1",
    description: null,
    status: "active",
    role: "EDITOR",
    created_at: "2026-12-01T00:00:00.000Z",
    last_message_at: null,
    unread_count: 0,
    unread_mentions: 0,
    preview: null,
    last_sequence_number: null,
    ...over,
  };
}
