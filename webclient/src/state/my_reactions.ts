/**
 * Which reactions are mine. Messages carry only counts per emoji, so the client
 * remembers the reactions it has seen this user add (from its own actions and from
 * reaction frames naming this user) to decide whether a click adds or removes.
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
