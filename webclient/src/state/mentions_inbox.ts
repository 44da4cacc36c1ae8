/** The mentions inbox (`GET /api/mentions`): newest first, paged by `next_before`. */
import type { MentionItem, MentionsPage } from "../net/schemas";

export interface InboxState {
  items: MentionItem[];
  /** The cursor for the next (older) page; null when there is none. */
  nextBefore: string | null;
  hasMore: boolean;
  loaded: boolean;
  loading: boolean;
  error: string | null;
  /** The server's count of unread mentions over all rooms, from the last page. */
  unreadTotal: number | null;
}

export const emptyInbox: InboxState = {
  items: [],
  nextBefore: null,
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
      return {
        items: [...base, ...added],
        nextBefore: action.page.next_before,
        hasMore: action.page.has_more && action.page.next_before !== null,
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
