import { describe, expect, it } from "vitest";
import { ApiClient } from "../net/http";
import { ME, msg } from "../testing/fixtures";
import { MentionsInbox } from "./mentions_inbox";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

/**
 * 45 mentions, newest first, served in pages as the server does: by `cursor` (an exact
 * position) when the server gives `next_cursor`, else by `before` (a created_at timestamp).
 * `tied` stores them in bursts of five that share a timestamp, as a burst of sends does.
 */
function server({ cursors = false, tied = false } = {}) {
  const all = Array.from({ length: 45 }, (_, i) => {
    const seq = 45 - i;
    const burst = Math.ceil(seq / 5);
    const tiedAt = { created_at: new Date(Date.parse("2025-11-17T10:00:00.000Z") + burst * 1000).toISOString() };
    return {
      ...msg(seq, { mentions: [ME], content: `@Me #${seq}`, ...(tied ? tiedAt : {}) }),
      room_title: "Line 3",
      unread: seq > 40,
    };
  });
  const requests: string[] = [];
  const fetchImpl = async (input: string) => {
    requests.push(input);
    const url = new URL(input, "http://test");
    if (url.pathname !== "/api/mentions") return json({ detail: "Not Found" }, 404);
    const limit = Number(url.searchParams.get("limit"));
    const before = url.searchParams.get("before");
    const cursor = url.searchParams.get("cursor");
    if (cursor !== null && !cursors) return json({ detail: "unknown parameter" }, 422);
    const older = all.filter(
      (m) => (before === null || m.created_at < before) && (cursor === null || m.sequence_number < Number(cursor.slice(3))),
    );
    const page = older.slice(0, limit);
    const more = older.length > limit;
    const last = page[page.length - 1];
    return json({
      messages: page,
      has_more: more,
      next_before: more ? last!.created_at : null,
      ...(cursors ? { next_cursor: more ? `seq${last!.sequence_number}` : null } : {}),
      unread_total: 5,
    });
  };
  return { api: new ApiClient(fetchImpl), requests };
}

const newestFirst = (n: number) => Array.from({ length: n }, (_, i) => 45 - i);

describe("MentionsInbox", () => {
  it("lists the newest page first, with room title and unread flag", async () => {
    const { api, requests } = server();
    const inbox = new MentionsInbox(api);
    await inbox.load();
    const s = inbox.state.value;
    expect(requests).toEqual(["/api/mentions?limit=20"]);
    expect(s.items.map((m) => m.sequence_number)).toEqual(newestFirst(20));
    expect(s.items[0]).toMatchObject({ room_title: "Line 3", unread: true, sender_display_name: "Operator" });
    expect(s.items[10]!.unread).toBe(false);
    expect(s.hasMore).toBe(true);
    expect(s.unreadTotal).toBe(5);
  });

  it("pages older with next_cursor, listing mentions that share a timestamp exactly once each", async () => {
    const { api, requests } = server({ cursors: true, tied: true });
    const inbox = new MentionsInbox(api);
    await inbox.load();
    expect(inbox.state.value.next).toEqual({ by: "cursor", value: "seq26" });
    await inbox.loadMore();
    await inbox.loadMore();
    const s = inbox.state.value;
    expect(s.items.map((m) => m.sequence_number)).toEqual(newestFirst(45));
    expect(s.hasMore).toBe(false);
    expect(s.next).toBeNull();
    expect(requests).toEqual([
      "/api/mentions?limit=20",
      "/api/mentions?limit=20&cursor=seq26",
      "/api/mentions?limit=20&cursor=seq6",
    ]);
    await inbox.loadMore(); // nothing left: no request
    expect(requests).toHaveLength(3);
  });

  it("pages older with next_before when the server gives no next_cursor, until there is no more", async () => {
    const { api, requests } = server();
    const inbox = new MentionsInbox(api);
    await inbox.load();
    await inbox.loadMore();
    await inbox.loadMore();
    const s = inbox.state.value;
    expect(s.items.map((m) => m.sequence_number)).toEqual(newestFirst(45));
    expect(s.hasMore).toBe(false);
    expect(requests[1]).toContain("before=");
    expect(requests.some((r) => r.includes("cursor="))).toBe(false);
    await inbox.loadMore(); // nothing left: no request
    expect(requests).toHaveLength(3);
  });

  it("keeps each mention once when pages overlap, and a reload replaces the list", async () => {
    const { api } = server();
    const inbox = new MentionsInbox(api);
    await inbox.load();
    const first = inbox.state.value.items[19]!;
    inbox.state.value = {
      ...inbox.state.value,
      next: { by: "before", value: new Date(Date.parse(first.created_at) + 1).toISOString() },
    };
    await inbox.loadMore();
    const ids = inbox.state.value.items.map((m) => m.message_id);
    expect(new Set(ids).size).toBe(ids.length);
    await inbox.load();
    expect(inbox.state.value.items).toHaveLength(20);
  });

  it("reports a failure and keeps what it had", async () => {
    const inbox = new MentionsInbox({
      mentions: async () => {
        throw new Error("offline");
      },
    });
    await inbox.load();
    expect(inbox.state.value.error).toContain("offline");
    expect(inbox.state.value.items).toEqual([]);
  });
});
