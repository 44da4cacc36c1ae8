import { describe, expect, it } from "vitest";
import type { Room } from "../net/schemas";
import { emptyRooms, roomsReducer, totalUnread } from "./rooms";

const room = (id: string, over: Partial<Room> = {}): Room => ({
  room_id: id,
  title: id,
  description: null,
  status: "active",
  role: "EDITOR",
  created_at: "2025-11-01T00:00:00.000Z",
  last_message_at: null,
  unread_count: 0,
  ...over,
});

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
    expect(loaded.rooms.map((r) => r.room_id)).toEqual(["new", "old", "archived"]);
  });

  it("moves a room up on activity and counts unread only when asked", () => {
    let s = roomsReducer(loaded, { type: "activity", room_id: "old", at: "2025-11-16T00:00:00.000Z", unread: true });
    expect(s.rooms.map((r) => r.room_id)).toEqual(["old", "new", "archived"]);
    expect(totalUnread(s)).toBe(3);
    s = roomsReducer(s, { type: "activity", room_id: "new", at: "2025-11-17T00:00:00.000Z", unread: false });
    expect(totalUnread(s)).toBe(3);
    s = roomsReducer(s, { type: "read", room_id: "old" });
    expect(totalUnread(s)).toBe(0);
  });
});
