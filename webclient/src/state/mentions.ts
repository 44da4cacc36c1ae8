/**
 * @mentions: finding the query being typed, ranking members for the autocomplete,
 * inserting the chosen one as "@display_name", turning the text back into the
 * list of user ids for the frame, and splitting a message into highlighted parts.
 */

export interface MentionCandidate {
  user_id: string;
  display_name: string;
}

export interface MentionQuery {
  /** Index of the "@" in the text. */
  start: number;
  /** What was typed after the "@", up to the caret. */
  query: string;
}

const MAX_QUERY_LENGTH = 40;

/** The mention being typed at `caret`, or null when the caret is not inside one. */
export function activeMentionQuery(text: string, caret: number): MentionQuery | null {
  const upto = text.slice(0, caret);
  const at = upto.lastIndexOf("@");
  if (at < 0) return null;
  if (at > 0 && !isBoundary(upto[at - 1]!)) return null; // an e-mail address, not a mention
  const query = upto.slice(at + 1);
  // A trailing space closes the list (a picked mention ends with one); typing on reopens it,
  // so multi-word names still filter: "@Ann L".
  if (query.length > MAX_QUERY_LENGTH || /[\n\r\t@]/.test(query) || /\s$/.test(query) || query.startsWith(" ")) {
    return null;
  }
  return { start: at, query };
}

/** Members matching the query, best first: name prefix, then a word of the name, then anywhere. */
export function filterCandidates<T extends MentionCandidate>(
  members: readonly T[],
  query: string,
  opts: { exclude?: string; limit?: number } = {},
): T[] {
  const q = query.trim().toLocaleLowerCase();
  const scored: { m: T; score: number }[] = [];
  for (const m of members) {
    if (opts.exclude && m.user_id === opts.exclude) continue;
    const name = m.display_name.toLocaleLowerCase();
    // Only the local part of an e-mail id: every member shares the domain.
    const id = m.user_id.toLocaleLowerCase().split("@")[0] ?? "";
    let score: number;
    if (q === "") score = 3;
    else if (name.startsWith(q)) score = 0;
    else if (name.split(/\s+/).some((word) => word.startsWith(q)) || id.startsWith(q)) score = 1;
    else if (name.includes(q) || id.includes(q)) score = 2;
    else continue;
    scored.push({ m, score });
  }
  scored.sort(
    (a, b) =>
      a.score - b.score || a.m.display_name.localeCompare(b.m.display_name) || a.m.user_id.localeCompare(b.m.user_id),
  );
  return scored.slice(0, opts.limit ?? 8).map((s) => s.m);
}

/** Replaces the query at [start, caret) with "@display_name " and returns the new text and caret. */
export function insertMention(
  text: string,
  query: MentionQuery,
  caret: number,
  member: MentionCandidate,
): { text: string; caret: number } {
  const inserted = `@${member.display_name} `;
  const rest = text.slice(caret).replace(/^ /, "");
  const next = text.slice(0, query.start) + inserted + rest;
  return { text: next, caret: query.start + inserted.length };
}

/**
 * The user ids mentioned in `text`: every "@display_name" (or "@user_id") of a member
 * that is still present, whether picked from the list or typed out. At each "@" the
 * longest matching name wins, so "@Ann Lee" is Ann Lee even when a member is named "Ann".
 */
export function resolveMentions(text: string, members: readonly MentionCandidate[]): string[] {
  const ids: string[] = [];
  for (const hit of scanMentions(text, members)) {
    if (!ids.includes(hit.user_id)) ids.push(hit.user_id);
  }
  return ids;
}

export interface TextSegment {
  text: string;
  /** Set when this segment is a mention. */
  mention?: { user_id: string; isMe: boolean };
}

/**
 * Splits a message into plain and mention segments for display. Only ids the message
 * lists in `mentions` are highlighted; a name unknown to us falls back to the user id.
 */
export function mentionSegments(
  content: string,
  mentionIds: readonly string[],
  nameOf: (userId: string) => string | null,
  meId: string | null,
): TextSegment[] {
  if (mentionIds.length === 0) return content ? [{ text: content }] : [];
  const candidates: MentionCandidate[] = [];
  for (const id of mentionIds) {
    const name = nameOf(id);
    if (name) candidates.push({ user_id: id, display_name: name });
    candidates.push({ user_id: id, display_name: id });
  }
  const segments: TextSegment[] = [];
  let pos = 0;
  for (const hit of scanMentions(content, candidates)) {
    if (hit.start > pos) segments.push({ text: content.slice(pos, hit.start) });
    segments.push({
      text: content.slice(hit.start, hit.end),
      mention: { user_id: hit.user_id, isMe: hit.user_id === meId },
    });
    pos = hit.end;
  }
  if (pos < content.length) segments.push({ text: content.slice(pos) });
  return segments;
}

interface MentionHit {
  start: number;
  end: number;
  user_id: string;
}

function scanMentions(text: string, candidates: readonly MentionCandidate[]): MentionHit[] {
  const names: { lower: string; length: number; user_id: string }[] = [];
  for (const c of candidates) {
    names.push({ lower: c.display_name.toLocaleLowerCase(), length: c.display_name.length, user_id: c.user_id });
    names.push({ lower: c.user_id.toLocaleLowerCase(), length: c.user_id.length, user_id: c.user_id });
  }
  names.sort((a, b) => b.length - a.length);
  const lower = text.toLocaleLowerCase();
  const hits: MentionHit[] = [];
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf("@", i);
    if (at < 0) break;
    if (at > 0 && !isBoundary(text[at - 1]!)) {
      i = at + 1;
      continue;
    }
    const match = names.find((n) => {
      if (n.length === 0 || !lower.startsWith(n.lower, at + 1)) return false;
      const after = text[at + 1 + n.length];
      return after === undefined || isBoundary(after) || /[.,!?;:)\]}'"]/.test(after);
    });
    if (match) {
      hits.push({ start: at, end: at + 1 + match.length, user_id: match.user_id });
      i = at + 1 + match.length;
    } else {
      i = at + 1;
    }
  }
  return hits;
}

function isBoundary(ch: string): boolean {
  return /[\s([{"'“‘,，、。：:;；]/.test(ch);
}
