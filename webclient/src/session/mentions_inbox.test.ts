import { describe, expect, it } from "vitest";
import { ApiClient } from "../net/http";
import { ME, msg } from "../testing/fixtures";
import { MentionsInbox } from "./mentions_inbox";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

/** 45 mentions, newest first, served in pages by `before` (a created_at cursor), as the server does. */
function server() {
  const all = Array.from({ length: 45 }, (_, i) => {
    const seq = 45 - i;
    return { ...msg(seq, { mentions: [ME], content: `@Me #${seq}` }), room_title: "Line 3", unread: seq > 40 };
  });
  const requests: string[] = [];
  const fetchImpl = async (input: string) => {
    requests.push(input);
    const url = new URL(input, "http://test");
    if (url.pathname !== "/api/mentions") return json({ detail: "Not Found" }, 404);
    const limit = Number(url.searchParams.get("limit"));
    const before = url.searchParams.get("before");
    const older = all.filter((m) => before === null || m.created_at < before);
    const page = older.slice(0, limit);
    return json({
      messages: page,
      has_more: older.length > limit,
      next_before: older.length > limit ? page[page.length - 1]!.created_at : null,
      unread_total: 5,
    });
  };
  return { api: new ApiClient(fetchImpl), requests };
}

describe("MentionsInbox", () => {
  it("lists the newest page first, with room title and unread flag", async () => {
    const { api, requests } = server();
    const inbox = new MentionsInbox(api);
    await inbox.load();
    const s = inbox.state.value;
    expect(requests).toEqual(["/api/mentions?limit=20"]);
    expect(s.items.map((m) => m.sequence_number)).toEqual(Array.from({ length: 20 }, (_, i) => 45 - i));
    expect(s.items[0]).toMatchObject({ room_title: "Line 3", unread: true, sender_display_name: "Operator" });
    expect(s.items[10]!.unread).toBe(false);
    expect(s.hasMore).toBe(true);
    expect(s.unreadTotal).toBe(5);
  });

  it("pages older with next_before until there is no more", async () => {
    const { api, requests } = server();
    const inbox = new MentionsInbox(api);
    await inbox.load();
    await inbox.loadMore();
    await inbox.loadMore();
    const s = inbox.state.value;
    expect(s.items.map((m) => m.sequence_number)).toEqual(Array.from({ length: 45 }, (_, i) => 45 - i));
    expect(s.hasMore).toBe(false);
    expect(requests[1]).toContain("before=");
    await inbox.loadMore(); // nothing left: no request
    expect(requests).toHaveLength(3);
  });

  it("keeps each mention once when pages overlap, and a reload replaces the list", async () => {
    const { api } = server();
    const inbox = new MentionsInbox(api);
    await inbox.load();
    const first = inbox.state.value.items[19]!;
    inbox.state.value = { ...inbox.state.value, nextBefore: new Date(Date.parse(first.created_at) + 1).toISOString() };
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
