/**
 * The room's message list as a pure reducer. Messages are kept sorted by
 * sequence_number and unique by it; the user's own unsent messages live beside
 * them as echoes keyed by client_id until the server's copy replaces them.
 */
import type {
  Acknowledgement,
  ChatMessage,
  FileInfo,
  OutgoingMessageFrame,
  StoredSystemFrame,
  TransientSystemFrame,
} from "../net/schemas";
import { applyReactorChange, keepReactors, type ReactorChange } from "./reactors";

/**
 * pending: queued and going out over the live connection; waiting: queued while there is
 * no connection (it goes out once one is back); acked: stored, its copy not yet seen;
 * failed: refused for good (shown with the reason, with Retry / Discard).
 */
export type EchoStatus = "pending" | "waiting" | "acked" | "failed";

export interface Echo {
  client_id: string;
  frame: OutgoingMessageFrame;
  sender_id: string;
  sender_display_name: string;
  queued_at: number;
  status: EchoStatus;
  error: string | null;
  message_id: string | null;
  sequence_number: number | null;
  /** Shown in place of a file_url while an image is not yet confirmed. */
  preview_url: string | null;
  /** The uploaded attachment's name, type and size (not kept across a reload). */
  file?: FileInfo | undefined;
}

/** A transient event (someone joined or left) shown after the message that was last when it happened. */
export interface Notice {
  id: string;
  event: string;
  user_id: string | null;
  display_name: string | null;
  timestamp: string;
  after_sequence: number;
}

export interface TimelineState {
  messages: ChatMessage[];
  echoes: Echo[];
  notices: Notice[];
  hasMoreOlder: boolean;
  /** Sequence numbers of messages that arrived live (for highlighting as new). */
  historyLoaded: boolean;
}

export const MAX_NOTICES = 50;

export const emptyTimeline: TimelineState = {
  messages: [],
  echoes: [],
  notices: [],
  hasMoreOlder: false,
  historyLoaded: false,
};

export type TimelineAction =
  | { type: "history_page"; messages: ChatMessage[]; hasMore: boolean; older: boolean }
  | { type: "message"; message: ChatMessage }
  | { type: "message_edited"; message: ChatMessage }
  | { type: "message_deleted"; message_id: string; deleted_at: string }
  | { type: "reactions"; message_id: string; reactions: Record<string, number>; change?: ReactorChange }
  | { type: "acknowledged"; message_id: string; ack: Acknowledgement }
  | { type: "system_stored"; frame: StoredSystemFrame }
  | { type: "notice"; frame: TransientSystemFrame }
  | { type: "echo_added"; echo: Echo }
  | { type: "ack"; client_id: string; message_id: string; sequence_number: number }
  | { type: "echo_failed"; client_id: string; error: string }
  | { type: "echo_retry"; client_id: string }
  | { type: "echo_discarded"; client_id: string }
  /** The connection went away (true) or is live again (false): unsent echoes wait, or go out. */
  | { type: "echoes_waiting"; waiting: boolean }
  /** Nothing unsent can ever go out (the user lost access): every unsent echo fails with the reason. */
  | { type: "unsent_failed"; error: string };

export function timelineReducer(state: TimelineState, action: TimelineAction): TimelineState {
  switch (action.type) {
    case "history_page": {
      let messages = state.messages;
      for (const m of action.messages) messages = upsert(messages, m);
      const echoes = dropConfirmedEchoes(state.echoes, action.messages);
      const hasMoreOlder = action.older || !state.historyLoaded ? action.hasMore : state.hasMoreOlder;
      return { ...state, messages, echoes, hasMoreOlder, historyLoaded: true };
    }
    case "message": {
      const messages = upsert(state.messages, action.message);
      const echoes = dropConfirmedEchoes(state.echoes, [action.message]);
      return { ...state, messages, echoes };
    }
    case "message_edited": {
      const i = indexOfId(state.messages, action.message.message_id);
      if (i < 0) return state;
      const messages = state.messages.slice();
      messages[i] = keepReactors(messages[i], { ...action.message });
      return { ...state, messages };
    }
    case "message_deleted":
      return updateMessage(state, action.message_id, (m) => ({
        ...m,
        content: null,
        deleted_at: action.deleted_at,
        file_url: null,
        file_id: null,
        mentions: [],
      }));
    case "reactions":
      return updateMessage(state, action.message_id, (m) => ({
        ...m,
        reactions: { ...action.reactions },
        ...(action.change ? { reacted_by: applyReactorChange(m.reacted_by, action.change, action.reactions) } : {}),
      }));
    case "acknowledged":
      return updateMessage(state, action.message_id, (m) =>
        (m.acknowledgements ?? []).some((a) => a.user_id === action.ack.user_id)
          ? m
          : { ...m, acknowledgements: [...(m.acknowledgements ?? []), action.ack] },
      );
    case "system_stored":
      return timelineReducer(state, { type: "message", message: systemFrameToMessage(action.frame) });
    case "notice": {
      const last = state.messages[state.messages.length - 1];
      const notice: Notice = {
        id: `${action.frame.event}:${action.frame.user_id ?? ""}:${action.frame.timestamp}`,
        event: action.frame.event,
        user_id: action.frame.user_id,
        display_name: action.frame.display_name,
        timestamp: action.frame.timestamp,
        after_sequence: last ? last.sequence_number : 0,
      };
      if (state.notices.some((n) => n.id === notice.id)) return state;
      const notices = [...state.notices, notice].slice(-MAX_NOTICES);
      return { ...state, notices };
    }
    case "echo_added": {
      if (state.echoes.some((e) => e.client_id === action.echo.client_id)) return state;
      if (state.messages.some((m) => m.client_id === action.echo.client_id && m.sender_id === action.echo.sender_id)) {
        return state;
      }
      return { ...state, echoes: [...state.echoes, action.echo] };
    }
    case "ack": {
      if (indexOfId(state.messages, action.message_id) >= 0) {
        return { ...state, echoes: state.echoes.filter((e) => e.client_id !== action.client_id) };
      }
      return mapEcho(state, action.client_id, (e) => ({
        ...e,
        status: "acked",
        error: null,
        message_id: action.message_id,
        sequence_number: action.sequence_number,
      }));
    }
    case "echo_failed":
      return mapEcho(state, action.client_id, (e) => ({ ...e, status: "failed", error: action.error }));
    case "echo_retry":
      return mapEcho(state, action.client_id, (e) => ({ ...e, status: "pending", error: null }));
    case "echo_discarded":
      return { ...state, echoes: state.echoes.filter((e) => e.client_id !== action.client_id) };
    case "echoes_waiting": {
      const from: EchoStatus = action.waiting ? "pending" : "waiting";
      const to: EchoStatus = action.waiting ? "waiting" : "pending";
      if (!state.echoes.some((e) => e.status === from)) return state;
      return { ...state, echoes: state.echoes.map((e) => (e.status === from ? { ...e, status: to } : e)) };
    }
    case "unsent_failed": {
      const unsent = (e: Echo) => e.status === "pending" || e.status === "waiting";
      if (!state.echoes.some(unsent)) return state;
      return {
        ...state,
        echoes: state.echoes.map((e) => (unsent(e) ? { ...e, status: "failed", error: action.error } : e)),
      };
    }
  }
}

export type TimelineItem =
  | { kind: "message"; key: string; message: ChatMessage }
  | { kind: "notice"; key: string; notice: Notice }
  | { kind: "echo"; key: string; echo: Echo };

/** What the view shows, top to bottom: messages in sequence order with notices after their anchor, then echoes. */
export function timelineItems(state: TimelineState): TimelineItem[] {
  const items: TimelineItem[] = [];
  const notices = [...state.notices].sort((a, b) => a.after_sequence - b.after_sequence);
  let n = 0;
  const firstSeq = state.messages[0]?.sequence_number ?? Number.POSITIVE_INFINITY;
  // Notices anchored before the loaded window are dropped from view rather than misplaced.
  while (n < notices.length && notices[n]!.after_sequence < firstSeq - 1 && state.messages.length > 0) n++;
  for (const message of state.messages) {
    while (n < notices.length && notices[n]!.after_sequence < message.sequence_number) {
      const notice = notices[n++]!;
      items.push({ kind: "notice", key: `n:${notice.id}`, notice });
    }
    items.push({ kind: "message", key: `m:${message.message_id}`, message });
  }
  while (n < notices.length) {
    const notice = notices[n++]!;
    items.push({ kind: "notice", key: `n:${notice.id}`, notice });
  }
  for (const echo of state.echoes) items.push({ kind: "echo", key: `e:${echo.client_id}`, echo });
  return items;
}

export function hasSequence(state: TimelineState, sequence: number): boolean {
  const first = state.messages[0]?.sequence_number;
  const last = state.messages[state.messages.length - 1]?.sequence_number;
  return first !== undefined && last !== undefined && sequence >= first && sequence <= last;
}

export function lastSequence(state: TimelineState): number {
  return state.messages[state.messages.length - 1]?.sequence_number ?? 0;
}

export function oldestSequence(state: TimelineState): number | null {
  return state.messages[0]?.sequence_number ?? null;
}

export function findMessage(state: TimelineState, messageId: string): ChatMessage | null {
  const i = indexOfId(state.messages, messageId);
  return i >= 0 ? state.messages[i]! : null;
}

export function systemFrameToMessage(frame: StoredSystemFrame): ChatMessage {
  return {
    message_id: frame.message_id,
    room_id: typeof frame.detail.room_id === "string" ? frame.detail.room_id : "",
    sender_id: frame.actor_id ?? "",
    sender_display_name:
      typeof frame.detail.actor_display_name === "string" ? frame.detail.actor_display_name : (frame.actor_id ?? ""),
    content: { event: frame.event, user_id: frame.user_id, actor_id: frame.actor_id, ...frame.detail },
    message_type: "system",
    mentions: [],
    file_id: null,
    file_url: null,
    client_id: null,
    created_at: frame.timestamp,
    edited_at: null,
    deleted_at: null,
    sequence_number: frame.sequence_number,
    reactions: {},
  };
}

// ---------------------------------------------------------------- helpers

/** Inserts or replaces by sequence number, keeping the array sorted. */
function upsert(messages: ChatMessage[], message: ChatMessage): ChatMessage[] {
  const seq = message.sequence_number;
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (messages[mid]!.sequence_number < seq) lo = mid + 1;
    else hi = mid;
  }
  const out = messages.slice();
  if (lo < messages.length && messages[lo]!.sequence_number === seq) {
    out[lo] = keepReactors(messages[lo], message);
  } else {
    // A message id is unique: if the same message shows up with another number, the new one wins.
    const dup = indexOfId(messages, message.message_id);
    out.splice(lo, 0, message);
    if (dup >= 0) out.splice(dup < lo ? dup : dup + 1, 1);
  }
  return out;
}

function indexOfId(messages: ChatMessage[], messageId: string): number {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.message_id === messageId) return i;
  }
  return -1;
}

function updateMessage(
  state: TimelineState,
  messageId: string,
  fn: (m: ChatMessage) => ChatMessage,
): TimelineState {
  const i = indexOfId(state.messages, messageId);
  if (i < 0) return state;
  const messages = state.messages.slice();
  messages[i] = fn(messages[i]!);
  return { ...state, messages };
}

function mapEcho(state: TimelineState, clientId: string, fn: (e: Echo) => Echo): TimelineState {
  const i = state.echoes.findIndex((e) => e.client_id === clientId);
  if (i < 0) return state;
  const echoes = state.echoes.slice();
  echoes[i] = fn(echoes[i]!);
  return { ...state, echoes };
}

function dropConfirmedEchoes(echoes: Echo[], messages: ChatMessage[]): Echo[] {
  if (echoes.length === 0) return echoes;
  const confirmed = new Set<string>();
  const confirmedIds = new Set<string>();
  for (const m of messages) {
    if (m.client_id) confirmed.add(`${m.sender_id}\u0000${m.client_id}`);
    confirmedIds.add(m.message_id);
  }
  const kept = echoes.filter(
    (e) =>
      !confirmed.has(`${e.sender_id}\u0000${e.client_id}`) && !(e.message_id && confirmedIds.has(e.message_id)),
  );
  return kept.length === echoes.length ? echoes : kept;
}
