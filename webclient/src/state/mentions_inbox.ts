/** The mentions inbox (`GET /api/mentions`): newest first, paged by `next_cursor` (or `next_before`). */
import { nextMentionsPosition, type MentionItem, type MentionsPage, type MentionsPosition } from "../net/schemas";

export interface InboxState {
  items: MentionItem[];
  /** Where the next (older) page starts; null when there is none. */
  next: MentionsPosition | null;
  hasMore: boolean;
  loaded: boolean;
  loading: boolean;
  error: string | null;
  /** The server's count of unread mentions over all rooms, from the last page. */
  unreadTotal: number | null;
}

export const emptyInbox: InboxState = {
  items: [],
  next: null,
  hasMore: false,
  loaded: false,
  loading: false,
  error: null,
  unreadTotal: null,
};

export type InboxAction =
  | { type: "loading" }
  /** A page arrived: the first one (`reset`) replaces the list, later ones append. */
  | { type: "page"; page: MentionsPage; reset: boolean }
  | { type: "failed"; error: string };

export function inboxReducer(state: InboxState, action: InboxAction): InboxState {
  switch (action.type) {
    case "loading":
      return { ...state, loading: true, error: null };
    case "page": {
      const base = action.reset ? [] : state.items;
      const seen = new Set(base.map((m) => m.message_id));
      // Pages overlap when mentions arrive between two requests (timestamps can tie): keep each once.
      const added = action.page.messages.filter((m) => !seen.has(m.message_id));
      const next = nextMentionsPosition(action.page);
      return {
        items: [...base, ...added],
        next,
        hasMore: next !== null,
        loaded: true,
        loading: false,
        error: null,
        unreadTotal: action.page.unread_total ?? state.unreadTotal,
      };
    }
    case "failed":
      return { ...state, loading: false, error: action.error };
  }
}
