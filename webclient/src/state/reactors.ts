/**
 * Who reacted with what. REST history brings `reacted_by` ({emoji: [{user_id, display_name}]},
 * oldest first); live `reaction_added` / `reaction_removed` frames name one user each, and
 * keep it current. The counts stay the server's: a list may know fewer people than the count
 * (a message that arrived live, before anyone here saw who reacted), never more.
 */
import type { ChatMessage, Reactor } from "../net/schemas";

export interface ReactorChange {
  emoji: string;
  user_id: string;
  added: boolean;
}

/** `reacted_by` after one live change, trimmed to the emoji the new counts still have. */
export function applyReactorChange(
  reactedBy: Record<string, Reactor[]> | undefined,
  change: ReactorChange,
  counts: Record<string, number>,
): Record<string, Reactor[]> {
  const out: Record<string, Reactor[]> = {};
  for (const [emoji, who] of Object.entries(reactedBy ?? {})) out[emoji] = who.slice();
  const list = (out[change.emoji] ?? []).filter((r) => r.user_id !== change.user_id);
  if (change.added) list.push({ user_id: change.user_id, display_name: "" });
  out[change.emoji] = list;
  for (const emoji of Object.keys(out)) {
    const n = counts[emoji] ?? 0;
    if (n <= 0) delete out[emoji];
    else if (out[emoji]!.length > n) out[emoji] = out[emoji]!.slice(-n);
  }
  return out;
}

/** A stored message replaced by a frame that does not carry the extensions keeps what we knew. */
export function keepReactors(previous: ChatMessage | undefined, next: ChatMessage): ChatMessage {
  if (!previous || next.reacted_by !== undefined || previous.reacted_by === undefined) return next;
  if (next.message_id !== previous.message_id) return next;
  const reacted_by: Record<string, Reactor[]> = {};
  for (const [emoji, who] of Object.entries(previous.reacted_by)) {
    const n = next.reactions[emoji] ?? 0;
    if (n > 0) reacted_by[emoji] = who.slice(-n);
  }
  return { ...next, reacted_by };
}

/** The names to show for one emoji: display names resolved now, else the stored one, else the id. */
export function reactorNames(
  who: readonly Reactor[] | undefined,
  count: number,
  nameOf: (userId: string) => string | null,
): { names: string[]; others: number } {
  const names = (who ?? []).map((r) => nameOf(r.user_id) || r.display_name || r.user_id);
  return { names, others: Math.max(0, count - names.length) };
}
