import { describe, expect, it } from "vitest";
import {
  decodeMyReactions,
  hasMyReaction,
  MAX_TRACKED_MESSAGES,
  reconcileCounts,
  withReaction,
  withServerReactions,
} from "./my_reactions";
import { DEFAULT_SETTINGS, loadSettings, MemoryStore, saveSettings } from "./settings";
import { describeSystemEvent } from "./system_text";

describe("my reactions", () => {
  it("toggles and forgets emoji whose count dropped to zero", () => {
    let s = withReaction({}, "m1", "👍", true);
    s = withReaction(s, "m1", "🔥", true);
    expect(hasMyReaction(s, "m1", "👍")).toBe(true);
    s = withReaction(s, "m1", "👍", false);
    expect(hasMyReaction(s, "m1", "👍")).toBe(false);
    s = reconcileCounts(s, "m1", { "🔥": 0 });
    expect(s).toEqual({});
  });

  it("remembers a bounded number of messages", () => {
    let s = {};
    for (let i = 0; i < MAX_TRACKED_MESSAGES + 10; i++) s = withReaction(s, `m${i}`, "👍", true);
    expect(Object.keys(s)).toHaveLength(MAX_TRACKED_MESSAGES);
    expect(hasMyReaction(s, "m0", "👍")).toBe(false);
    expect(hasMyReaction(s, `m${MAX_TRACKED_MESSAGES + 9}`, "👍")).toBe(true);
  });

  it("takes a history page's my_reactions as the truth for its messages", () => {
    let s = withReaction({}, "m1", "👍", true); // remembered, but removed on another device
    s = withReaction(s, "m3", "🔥", true); // not on this page: kept
    const next = withServerReactions(s, [
      { message_id: "m1", my_reactions: [] },
      { message_id: "m2", my_reactions: ["✅", "👀"] }, // added on another device
      { message_id: "m4" }, // a live frame: says nothing
    ]);
    expect(next).toEqual({ m3: ["🔥"], m2: ["✅", "👀"] });
    expect(withServerReactions(next, [{ message_id: "m2", my_reactions: ["👀", "✅"] }])).toBe(next);
  });

  it("survives garbage in storage", () => {
    expect(decodeMyReactions("{oops")).toEqual({});
    expect(decodeMyReactions('{"m":["👍",3],"n":["🔥"]}')).toEqual({ n: ["🔥"] });
  });
});

describe("settings", () => {
  it("defaults, saves and reloads", () => {
    const store = new MemoryStore();
    expect(loadSettings(store)).toEqual(DEFAULT_SETTINGS);
    saveSettings(store, { sound: false, vibrate: true, alertFor: "mentions", notificationChoice: "denied" });
    expect(loadSettings(store)).toEqual({ sound: false, vibrate: true, alertFor: "mentions", notificationChoice: "denied" });
  });

  it("ignores malformed values", () => {
    const store = new MemoryStore();
    store.setItem("andon.settings.v1", '{"sound":"yes","notificationChoice":"maybe"}');
    expect(loadSettings(store)).toEqual(DEFAULT_SETTINGS);
  });
});

describe("system event text", () => {
  const nameOf = (id: string) => ({ "a@x": "Ann", "b@x": "Bob" })[id] ?? id;
  it("describes membership and status changes", () => {
    expect(describeSystemEvent({ event: "member_added", user_id: "a@x", actor_id: "b@x", role: "EDITOR" }, nameOf)).toBe(
      "Ann was added as EDITOR by Bob",
    );
    expect(
      describeSystemEvent({ event: "room_status_changed", user_id: "b@x", actor_id: "b@x", old_status: "active", new_status: "resolved" }, nameOf),
    ).toBe("Bob changed the room status from active to resolved");
    expect(describeSystemEvent({ event: "user_joined", user_id: "c@x" }, nameOf)).toBe("c@x joined");
  });
  it("describes a resolved alert by its title", () => {
    expect(describeSystemEvent({ event: "alert_resolved", user_id: "bot@x", actor_id: "bot@x", title: "ProbeFailure" }, nameOf)).toBe(
      "Resolved: ProbeFailure",
    );
  });
});
