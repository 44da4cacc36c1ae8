/**
 * Which reactions are mine, to decide whether a click adds or removes. History pages say it
 * exactly (`my_reactions` on each message, whatever device added them); live messages carry
 * only counts, so the client also remembers what it has seen this user add or remove (its own
 * actions and reaction frames naming this user).
 */

export type MyReactions = Record<string, string[]>;

export const MAX_TRACKED_MESSAGES = 500;

export function withReaction(state: MyReactions, messageId: string, emoji: string, mine: boolean): MyReactions {
  const current = state[messageId] ?? [];
  const has = current.includes(emoji);
  if (mine === has) return state;
  const nextList = mine ? [...current, emoji] : current.filter((e) => e !== emoji);
  const next: MyReactions = { ...state };
  delete next[messageId];
  if (nextList.length > 0) next[messageId] = nextList;
  const keys = Object.keys(next);
  // Oldest entries go first once the cap is passed (insertion order is kept by objects).
  for (let i = 0; i < keys.length - MAX_TRACKED_MESSAGES; i++) delete next[keys[i]!];
  return next;
}

/** A history page's word on these messages replaces what was remembered for them. */
export function withServerReactions(
  state: MyReactions,
  messages: readonly { message_id: string; my_reactions?: string[] | undefined }[],
): MyReactions {
  let next: MyReactions | null = null;
  for (const m of messages) {
    if (m.my_reactions === undefined) continue;
    const current = (next ?? state)[m.message_id] ?? [];
    const same = current.length === m.my_reactions.length && current.every((e) => m.my_reactions!.includes(e));
    if (same) continue;
    next ??= { ...state };
    delete next[m.message_id];
    if (m.my_reactions.length > 0) next[m.message_id] = [...m.my_reactions];
  }
  if (next === null) return state;
  const keys = Object.keys(next);
  for (let i = 0; i < keys.length - MAX_TRACKED_MESSAGES; i++) delete next[keys[i]!];
  return next;
}

/** After a count change: a count of zero means nobody, me included, still has it. */
export function reconcileCounts(state: MyReactions, messageId: string, counts: Record<string, number>): MyReactions {
  const current = state[messageId];
  if (!current) return state;
  const kept = current.filter((e) => (counts[e] ?? 0) > 0);
  if (kept.length === current.length) return state;
  const next: MyReactions = { ...state };
  if (kept.length > 0) next[messageId] = kept;
  else delete next[messageId];
  return next;
}

export function hasMyReaction(state: MyReactions, messageId: string, emoji: string): boolean {
  return state[messageId]?.includes(emoji) ?? false;
}

export function decodeMyReactions(raw: string | null): MyReactions {
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    const out: MyReactions = {};
    for (const [k, v] of Object.entries(parsed)) {
      if (Array.isArray(v) && v.every((e) => typeof e === "string")) out[k] = v as string[];
    }
    return out;
  } catch {
    return {};
  }
}
