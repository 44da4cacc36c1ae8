import { describe, expect, it } from "vitest";
import type { Room, RoomEntry, RoomPreview } from "../net/schemas";
import { listedRoom } from "../testing/fixtures";
import { emptyRooms, roomLine, roomsReducer, totalUnread, totalUnreadMentions, type RoomsState } from "./rooms";

const room = (id: string, over: Partial<Room> = {}): Room =>
  listedRoom({ room_id: id, title: id, created_at: "2025-11-01T00:00:00.000Z", ...over });

const preview = (over: Partial<RoomPreview> = {}): RoomPreview => ({
  message_id: "m-9",
  sender_id: "op@x",
  sender_display_name: "Operator",
  sender_is_bot: false,
  message_type: "text",
  content: "oven at 90",
  created_at: "2025-11-20T08:00:00.000Z",
  ...over,
});

const entry = (id: string, over: Partial<RoomEntry> = {}): RoomEntry => ({
  room_id: id,
  title: id.toUpperCase(),
  status: "active",
  role: "EDITOR",
  last_sequence_number: 0,
  unread_count: 0,
  unread_mentions: 0,
  last_message_at: null,
  preview: null,
  ...over,
});

const ids = (s: RoomsState) => s.rooms.map((r) => r.room_id);
const get = (s: RoomsState, id: string) => s.rooms.find((r) => r.room_id === id)!;

describe("roomsReducer", () => {
  const loaded = roomsReducer(emptyRooms, {
    type: "loaded",
    rooms: [
      room("old", { last_message_at: "2025-11-10T00:00:00.000Z", unread_count: 2 }),
      room("archived", { status: "archived", last_message_at: "2025-11-20T00:00:00.000Z" }),
      room("new", { last_message_at: "2025-11-15T00:00:00.000Z" }),
    ],
  });

  it("orders active rooms by latest activity, archived last", () => {
    expect(ids(loaded)).toEqual(["new", "old", "archived"]);
  });

  it("moves a room up on activity and counts unread only when asked", () => {
    let s = roomsReducer(loaded, { type: "activity", room_id: "old", at: "2025-11-16T00:00:00.000Z", unread: true });
    expect(ids(s)).toEqual(["old", "new", "archived"]);
    expect(totalUnread(s)).toBe(3);
    s = roomsReducer(s, { type: "activity", room_id: "new", at: "2025-11-17T00:00:00.000Z", unread: false });
    expect(totalUnread(s)).toBe(3);
    s = roomsReducer(s, { type: "read", room_id: "old" });
    expect(totalUnread(s)).toBe(0);
  });
});

describe("roomsReducer with the user stream", () => {
  const at = "2025-11-20T09:00:00.000Z";

  it("replaces the list with the connected snapshot, keeping what only REST knows", () => {
    const before = roomsReducer(emptyRooms, {
      type: "loaded",
      rooms: [room("a", { description: "Line A", created_at: "2025-11-02T00:00:00.000Z" }), room("gone")],
    });
    const s = roomsReducer(before, {
      type: "snapshot",
      at,
      rooms: [
        entry("a", { last_sequence_number: 4, unread_count: 2, unread_mentions: 1, last_message_at: "2025-11-20T08:00:00.000Z", preview: preview() }),
        entry("b", { title: "Line B" }),
      ],
    });
    expect(ids(s)).toEqual(["b", "a"]); // b was created "now" (server time), after a's last message
    expect(get(s, "a")).toMatchObject({
      title: "A",
      description: "Line A",
      created_at: "2025-11-02T00:00:00.000Z",
      unread_count: 2,
      unread_mentions: 1,
      last_sequence_number: 4,
      preview: preview(),
    });
    expect(get(s, "b")).toMatchObject({ title: "Line B", description: null, created_at: at });
    expect(s.loaded).toBe(true);
    expect(totalUnreadMentions(s)).toBe(1);
  });

  it("applies room_activity: counts, preview, time, and moves the room up", () => {
    const s0 = roomsReducer(emptyRooms, {
      type: "snapshot",
      at,
      rooms: [entry("a", { last_message_at: "2025-11-20T07:00:00.000Z" }), entry("b", { last_message_at: "2025-11-20T06:00:00.000Z" })],
    });
    const s = roomsReducer(s0, {
      type: "room_activity",
      readUpTo: null,
      activity: { room_id: "b", last_sequence_number: 7, unread_count: 3, unread_mentions: 1, last_message_at: "2025-11-20T08:00:00.000Z", preview: preview() },
    });
    expect(ids(s)).toEqual(["b", "a"]);
    expect(get(s, "b")).toMatchObject({ unread_count: 3, unread_mentions: 1, last_sequence_number: 7, preview: preview() });
    expect(totalUnread(s)).toBe(3);
  });

  it("shows as read what this client has already read, whatever a late frame says", () => {
    const s0 = roomsReducer(emptyRooms, { type: "snapshot", at, rooms: [entry("a")] });
    const activity = { room_id: "a", last_sequence_number: 5, unread_count: 1, unread_mentions: 1, last_message_at: at, preview: preview() };
    expect(get(roomsReducer(s0, { type: "room_activity", activity, readUpTo: 5 }), "a")).toMatchObject({ unread_count: 0, unread_mentions: 0 });
    expect(get(roomsReducer(s0, { type: "room_activity", activity, readUpTo: 4 }), "a")).toMatchObject({ unread_count: 1, unread_mentions: 1 });
  });

  it("ignores room_activity for a room it does not list", () => {
    const s0 = roomsReducer(emptyRooms, { type: "snapshot", at, rooms: [entry("a")] });
    const s = roomsReducer(s0, {
      type: "room_activity",
      readUpTo: null,
      activity: { room_id: "zzz", last_sequence_number: 1, unread_count: 1, unread_mentions: 0, last_message_at: at, preview: null },
    });
    expect(s).toBe(s0);
  });

  it("adds a room on room_added and drops it on removed", () => {
    const s0 = roomsReducer(emptyRooms, { type: "snapshot", at, rooms: [entry("a")] });
    const s1 = roomsReducer(s0, { type: "room_added", room: entry("n", { title: "New" }), at: "2025-11-20T10:00:00.000Z" });
    expect(ids(s1)).toEqual(["n", "a"]);
    const s2 = roomsReducer(s1, { type: "removed", room_id: "n" });
    expect(ids(s2)).toEqual(["a"]);
    expect(roomsReducer(s2, { type: "removed", room_id: "n" })).toBe(s2);
  });

  it("changes status (re-sorting) and role", () => {
    const s0 = roomsReducer(emptyRooms, {
      type: "snapshot",
      at,
      rooms: [entry("a", { last_message_at: "2025-11-20T08:00:00.000Z" }), entry("b", { last_message_at: "2025-11-20T07:00:00.000Z" })],
    });
    const s1 = roomsReducer(s0, { type: "status_changed", room_id: "a", status: "archived" });
    expect(ids(s1)).toEqual(["b", "a"]);
    expect(get(s1, "a").status).toBe("archived");
    const s2 = roomsReducer(s1, { type: "role_changed", room_id: "b", role: "VIEWER" });
    expect(get(s2, "b").role).toBe("VIEWER");
  });

  it("clears unread and mentions on read", () => {
    const s0 = roomsReducer(emptyRooms, { type: "snapshot", at, rooms: [entry("a", { unread_count: 2, unread_mentions: 1 })] });
    const s = roomsReducer(s0, { type: "read", room_id: "a" });
    expect(get(s, "a")).toMatchObject({ unread_count: 0, unread_mentions: 0 });
  });

  it("keeps the last sequence number known from the stream when REST reloads the list", () => {
    const s0 = roomsReducer(emptyRooms, { type: "snapshot", at, rooms: [entry("a", { last_sequence_number: 9 })] });
    const s = roomsReducer(s0, { type: "loaded", rooms: [room("a")] });
    expect(get(s, "a").last_sequence_number).toBe(9);
  });
});

describe("roomLine", () => {
  it("shows the preview with its sender", () => {
    expect(roomLine(room("a", { preview: preview(), last_message_at: "2025-11-20T08:00:00.000Z" }))).toEqual({
      kind: "preview",
      sender: "Operator",
      bot: false,
      text: "oven at 90",
      at: "2025-11-20T08:00:00.000Z",
    });
  });

  it("marks a bot sender, but never a line without a sender", () => {
    const bot = preview({ sender_display_name: "Prometheus", sender_is_bot: true, content: "[FIRING:1] ProbeFailure" });
    expect(roomLine(room("a", { preview: bot }))).toMatchObject({ kind: "preview", sender: "Prometheus", bot: true });
    const notice = preview({ sender_is_bot: true, message_type: "system", content: "alert resolved: x" });
    expect(roomLine(room("a", { preview: notice }))).toMatchObject({ sender: null, bot: false });
  });

  it("shows a system preview without a sender", () => {
    const line = roomLine(room("a", { preview: preview({ message_type: "system", content: "status: active → resolved" }) }));
    expect(line).toMatchObject({ kind: "preview", sender: null, text: "status: active → resolved" });
  });

  it("never says the room is empty when it has messages or unread ones", () => {
    expect(roomLine(room("a", { last_sequence_number: 3 })).kind).toBe("activity");
    expect(roomLine(room("a", { unread_count: 1 })).kind).toBe("activity");
    expect(roomLine(room("a", { last_message_at: "2025-11-20T08:00:00.000Z" })).kind).toBe("activity");
    expect(roomLine(room("a")).kind).toBe("empty");
    expect(roomLine(room("a", { last_sequence_number: 0 })).kind).toBe("empty");
  });
});
