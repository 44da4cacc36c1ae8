/** The room list: order by latest activity, unread counts kept in step with live events. */
import type { Room } from "../net/schemas";

export interface RoomsState {
  rooms: Room[];
  loaded: boolean;
}

export const emptyRooms: RoomsState = { rooms: [], loaded: false };

export type RoomsAction =
  | { type: "loaded"; rooms: Room[] }
  | { type: "upserted"; room: Room }
  | { type: "removed"; room_id: string }
  /** A new message in a room: it moves up; it counts as unread unless it is ours or being read. */
  | { type: "activity"; room_id: string; at: string; unread: boolean }
  | { type: "read"; room_id: string };

export function roomsReducer(state: RoomsState, action: RoomsAction): RoomsState {
  switch (action.type) {
    case "loaded":
      return { rooms: sortRooms(action.rooms), loaded: true };
    case "upserted": {
      const others = state.rooms.filter((r) => r.room_id !== action.room.room_id);
      return { ...state, rooms: sortRooms([...others, action.room]) };
    }
    case "removed":
      return { ...state, rooms: state.rooms.filter((r) => r.room_id !== action.room_id) };
    case "activity": {
      const room = state.rooms.find((r) => r.room_id === action.room_id);
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
      const room = state.rooms.find((r) => r.room_id === action.room_id);
      if (!room || room.unread_count === 0) return state;
      return roomsReducer(state, { type: "upserted", room: { ...room, unread_count: 0 } });
    }
  }
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
