import { describe, expect, it } from "vitest";
import type { StoredSystemFrame } from "../net/schemas";
import { ME, msg } from "../testing/fixtures";
import { emptyTimeline, lastSequence, timelineItems, timelineReducer, type Echo, type TimelineAction, type TimelineState } from "./timeline";

const run = (actions: TimelineAction[], start: TimelineState = emptyTimeline) => actions.reduce(timelineReducer, start);
const seqs = (s: TimelineState) => s.messages.map((m) => m.sequence_number);

function echo(clientId: string, content = "hello"): Echo {
  return {
    client_id: clientId,
    frame: { type: "message", content, message_type: "text", client_id: clientId },
    sender_id: ME,
    sender_display_name: "Me",
    queued_at: 0,
    status: "pending",
    error: null,
    message_id: null,
    sequence_number: null,
    preview_url: null,
  };
}

describe("ordering", () => {
  it("keeps messages in sequence order whatever order they arrive in", () => {
    const s = run([5, 2, 9, 1, 3].map((n) => ({ type: "message", message: msg(n) })));
    expect(seqs(s)).toEqual([1, 2, 3, 5, 9]);
  });

  it("merges a newest-first history page and older pages in order", () => {
    const s = run([
      { type: "history_page", messages: [msg(10), msg(9), msg(8)], hasMore: true, older: false },
      { type: "message", message: msg(11) },
      { type: "history_page", messages: [msg(7), msg(6)], hasMore: false, older: true },
    ]);
    expect(seqs(s)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(s.hasMoreOlder).toBe(false);
    expect(lastSequence(s)).toBe(11);
  });

  it("does not double a message seen in history and again live", () => {
    const s = run([
      { type: "history_page", messages: [msg(2), msg(1)], hasMore: false, older: false },
      { type: "message", message: msg(2) },
      { type: "message", message: msg(2) },
    ]);
    expect(seqs(s)).toEqual([1, 2]);
  });
});

describe("local echo", () => {
  it("shows an echo after the sequenced messages until the server's copy replaces it", () => {
    let s = run([{ type: "message", message: msg(1) }, { type: "echo_added", echo: echo("c-1") }]);
    expect(timelineItems(s).map((i) => i.kind)).toEqual(["message", "echo"]);
    s = timelineReducer(s, { type: "message", message: msg(2, { sender_id: ME, client_id: "c-1", content: "hello" }) });
    expect(s.echoes).toEqual([]);
    expect(timelineItems(s).map((i) => i.key)).toEqual(["m:m-1", "m:m-2"]);
  });

  it("marks an echo acked, and drops it when its message is already there", () => {
    let s = run([{ type: "echo_added", echo: echo("c-1") }, { type: "echo_added", echo: echo("c-2") }]);
    s = timelineReducer(s, { type: "ack", client_id: "c-1", message_id: "m-7", sequence_number: 7 });
    expect(s.echoes[0]).toMatchObject({ status: "acked", sequence_number: 7 });
    s = timelineReducer(s, { type: "message", message: msg(8, { message_id: "m-8", sender_id: ME, client_id: "c-2" }) });
    s = timelineReducer(s, { type: "ack", client_id: "c-2", message_id: "m-8", sequence_number: 8 });
    expect(s.echoes.map((e) => e.client_id)).toEqual(["c-1"]);
  });

  it("replaces an echo by the acked message id even without a client id on the message", () => {
    let s = run([
      { type: "echo_added", echo: echo("c-1") },
      { type: "ack", client_id: "c-1", message_id: "m-3", sequence_number: 3 },
    ]);
    s = timelineReducer(s, { type: "message", message: msg(3, { sender_id: ME }) });
    expect(s.echoes).toEqual([]);
  });

  it("does not add an echo twice, nor for a message already stored", () => {
    const stored = msg(4, { sender_id: ME, client_id: "c-9" });
    const s = run([
      { type: "message", message: stored },
      { type: "echo_added", echo: echo("c-9") },
      { type: "echo_added", echo: echo("c-1") },
      { type: "echo_added", echo: echo("c-1") },
    ]);
    expect(s.echoes.map((e) => e.client_id)).toEqual(["c-1"]);
  });

  it("keeps another sender's message with the same client id apart from my echo", () => {
    const s = run([
      { type: "echo_added", echo: echo("c-1") },
      { type: "message", message: msg(1, { client_id: "c-1" }) },
    ]);
    expect(s.echoes).toHaveLength(1);
  });

  it("marks failures and lets the user retry or discard", () => {
    let s = run([{ type: "echo_added", echo: echo("c-1") }, { type: "echo_failed", client_id: "c-1", error: "forbidden" }]);
    expect(s.echoes[0]).toMatchObject({ status: "failed", error: "forbidden" });
    s = timelineReducer(s, { type: "echo_retry", client_id: "c-1" });
    expect(s.echoes[0]).toMatchObject({ status: "pending", error: null });
    s = timelineReducer(s, { type: "echo_discarded", client_id: "c-1" });
    expect(s.echoes).toEqual([]);
  });

  it("marks unsent echoes waiting while offline and pending again once live, leaving the others alone", () => {
    let s = run([
      { type: "echo_added", echo: echo("c-1") },
      { type: "echo_added", echo: echo("c-2") },
      { type: "ack", client_id: "c-2", message_id: "m-2", sequence_number: 2 },
      { type: "echoes_waiting", waiting: true },
    ]);
    expect(s.echoes.map((e) => e.status)).toEqual(["waiting", "acked"]);
    s = timelineReducer(s, { type: "echoes_waiting", waiting: false });
    expect(s.echoes.map((e) => e.status)).toEqual(["pending", "acked"]);
  });

  it("fails every unsent echo with one reason when nothing can be sent any more", () => {
    const s = run([
      { type: "echo_added", echo: echo("c-1") },
      { type: "echo_added", echo: { ...echo("c-2"), status: "waiting" } },
      { type: "echo_added", echo: echo("c-3") },
      { type: "ack", client_id: "c-3", message_id: "m-3", sequence_number: 3 },
      { type: "unsent_failed", error: "You were removed from this room" },
    ]);
    expect(s.echoes.map((e) => [e.status, e.error])).toEqual([
      ["failed", "You were removed from this room"],
      ["failed", "You were removed from this room"],
      ["acked", null],
    ]);
  });
});

describe("edits, deletes and reactions", () => {
  const base = run([{ type: "history_page", messages: [msg(2), msg(1)], hasMore: false, older: false }]);

  it("applies an edit with its edited_at", () => {
    const s = timelineReducer(base, {
      type: "message_edited",
      message: msg(1, { content: "Updated: stabilized at 75°C", edited_at: "2025-11-17T10:03:00.000Z" }),
    });
    expect(s.messages[0]).toMatchObject({ content: "Updated: stabilized at 75°C", edited_at: "2025-11-17T10:03:00.000Z" });
    expect(s.messages[1]).toBe(base.messages[1]);
  });

  it("ignores an edit of a message not loaded", () => {
    expect(timelineReducer(base, { type: "message_edited", message: msg(99) })).toBe(base);
  });

  it("keeps a deleted message's place with its content gone", () => {
    const withFile = timelineReducer(base, {
      type: "message",
      message: msg(3, { message_type: "image_ref", file_id: "f", file_url: "/api/files/f" }),
    });
    const s = timelineReducer(withFile, { type: "message_deleted", message_id: "m-3", deleted_at: "2025-11-17T10:04:00.000Z" });
    expect(seqs(s)).toEqual([1, 2, 3]);
    expect(s.messages[2]).toMatchObject({ content: null, deleted_at: "2025-11-17T10:04:00.000Z", file_url: null });
  });

  it("takes the server's aggregated reaction counts", () => {
    let s = timelineReducer(base, { type: "reactions", message_id: "m-2", reactions: { "👍": 2, "🔥": 1 } });
    s = timelineReducer(s, { type: "reactions", message_id: "m-2", reactions: { "👍": 1 } });
    expect(s.messages[1]!.reactions).toEqual({ "👍": 1 });
  });

  it("adds each acknowledgement of an urgent message once", () => {
    const urgent = timelineReducer(base, { type: "message_edited", message: msg(2, { priority: "urgent", acknowledgements: [] }) });
    const ack = { user_id: "bob@x", display_name: "Bob", at: "2025-11-17T10:05:00.000Z" };
    let s = timelineReducer(urgent, { type: "acknowledged", message_id: "m-2", ack });
    s = timelineReducer(s, { type: "acknowledged", message_id: "m-2", ack: { ...ack, at: "2025-11-17T10:06:00.000Z" } });
    expect(s.messages[1]!.acknowledgements).toEqual([ack]);
    expect(s.messages[0]).toBe(urgent.messages[0]);
  });
});

describe("system events", () => {
  it("places a stored system event by its sequence number", () => {
    const frame: StoredSystemFrame = {
      type: "system",
      stored: true,
      event: "room_status_changed",
      message_id: "s-2",
      sequence_number: 2,
      user_id: "boss@plant.example",
      actor_id: "boss@plant.example",
      timestamp: "2025-11-17T10:00:02.000Z",
      detail: { old_status: "active", new_status: "resolved" },
    };
    const s = run([
      { type: "message", message: msg(1) },
      { type: "message", message: msg(3) },
      { type: "system_stored", frame },
    ]);
    expect(s.messages.map((m) => m.message_type)).toEqual(["text", "system", "text"]);
    expect(s.messages[1]!.content).toMatchObject({ event: "room_status_changed", new_status: "resolved" });
  });

  it("shows join and leave notices after the message that was last, once each", () => {
    const joined = { type: "system", stored: false, event: "user_joined", user_id: "a@x", display_name: "A", timestamp: "t1" } as const;
    const s = run([
      { type: "message", message: msg(1) },
      { type: "notice", frame: joined },
      { type: "notice", frame: joined },
      { type: "message", message: msg(2) },
    ]);
    expect(timelineItems(s).map((i) => i.kind)).toEqual(["message", "notice", "message"]);
  });
});
