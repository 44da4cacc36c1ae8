/** Who is online in the room and who is typing, as a pure reducer with explicit time. */
import { t } from "../i18n";
import type { OnlineUser } from "../net/schemas";

export interface Typist {
  user_id: string;
  display_name: string;
  /** Epoch ms after which the indicator is dropped even without an is_typing:false. */
  expires_at: number;
}

export interface PresenceState {
  online: OnlineUser[];
  /**
   * A large room (docs/big-rooms.md): how many are online, while `online` is only a sample
   * (the viewer, then the room's recent speakers). Null in a room whose whole list is known.
   */
  onlineCount: number | null;
  typing: Typist[];
}

export const emptyPresence: PresenceState = { online: [], onlineCount: null, typing: [] };

export type PresenceAction =
  | { type: "online"; online: OnlineUser[]; count?: number | null }
  | { type: "typing"; user_id: string; display_name: string; is_typing: boolean; now: number; timeoutMs: number }
  | { type: "spoke"; user_id: string }
  | { type: "expire"; now: number }
  | { type: "reset" };

export function presenceReducer(state: PresenceState, action: PresenceAction): PresenceState {
  switch (action.type) {
    case "online": {
      const seen = new Set<string>();
      const online = action.online
        .filter((u) => (seen.has(u.user_id) ? false : (seen.add(u.user_id), true)))
        .sort((a, b) => a.display_name.localeCompare(b.display_name));
      return { ...state, online, onlineCount: action.count ?? null };
    }
    case "typing": {
      const rest = state.typing.filter((t) => t.user_id !== action.user_id);
      if (!action.is_typing) return rest.length === state.typing.length ? state : { ...state, typing: rest };
      // The server clears a typist after its timeout; a little slack locally covers a lost clear.
      const typist: Typist = {
        user_id: action.user_id,
        display_name: action.display_name,
        expires_at: action.now + action.timeoutMs + 1000,
      };
      return { ...state, typing: [...rest, typist] };
    }
    case "spoke": {
      const typing = state.typing.filter((t) => t.user_id !== action.user_id);
      return typing.length === state.typing.length ? state : { ...state, typing };
    }
    case "expire": {
      const typing = state.typing.filter((t) => t.expires_at > action.now);
      return typing.length === state.typing.length ? state : { ...state, typing };
    }
    case "reset":
      return emptyPresence;
  }
}

export function nextTypingExpiry(state: PresenceState): number | null {
  let next: number | null = null;
  for (const t of state.typing) if (next === null || t.expires_at < next) next = t.expires_at;
  return next;
}

/** "Ann is typing…", "Ann and Bob are typing…", "3 people are typing…". */
export function typingSummary(typists: readonly Typist[]): string {
  const names = typists.map((t) => t.display_name);
  if (names.length === 0) return "";
  if (names.length === 1) return t("typing.one", { name: names[0] });
  if (names.length === 2) return t("typing.two", { first: names[0], second: names[1] });
  return t("typing.many", { count: names.length });
}

export function isOnline(state: PresenceState, userId: string): boolean {
  return state.online.some((u) => u.user_id === userId);
}
