import { afterEach, describe, expect, it } from "vitest";
import { chooseLanguage, initLanguage } from "../i18n";
import { decode, DecodeError } from "../net/decode";
import { chatMessage, roomPreview, type Room, type RoomPreview, type SystemPreview } from "../net/schemas";
import { roomLine } from "./rooms";
import { listedRoom } from "../testing/fixtures";
import { MemoryStore } from "./settings";
import { eventNameOf } from "./system_text";

const ANA = { actor_id: "ana@x", actor_display_name: "Ana Wu" };
const CAROL = { user_id: "carol@x", user_display_name: "Carol Lin" };

const room = (preview: RoomPreview): Room =>
  listedRoom({ last_message_at: preview.created_at, unread_count: 1, preview, last_sequence_number: 9 });

const systemPreview = (system: SystemPreview | undefined, content = "the server's English line"): RoomPreview => ({
  message_id: "s-9",
  sender_id: "ana@x",
  sender_display_name: "Ana Wu",
  sender_is_bot: false,
  message_type: "system",
  content,
  created_at: "2026-12-04T08:00:00.000Z",
  system,
});

const text = (system: SystemPreview | undefined, content?: string) => {
  const line = roomLine(room(systemPreview(system, content)));
  if (line.kind !== "preview") throw new Error(`no preview line: ${line.kind}`);
  expect(line.sender).toBeNull();
  return line.text;
};

const EVENTS: [string, SystemPreview, string, string][] = [
  [
    "member_added",
    { event: "member_added", ...CAROL, ...ANA, role: "VIEWER" },
    "Carol Lin was added as VIEWER by Ana Wu",
    "Carol Lin 已由 Ana Wu 以 檢視者 身分加入",
  ],
  ["member_removed", { event: "member_removed", ...CAROL, ...ANA }, "Carol Lin was removed by Ana Wu", "Carol Lin 已被 Ana Wu 移出"],
  [
    "member_role_changed",
    { event: "member_role_changed", ...CAROL, ...ANA, role: "EDITOR" },
    "Carol Lin is now EDITOR (changed by Ana Wu)",
    "Carol Lin 現在是 編輯者（由 Ana Wu 變更）",
  ],
  [
    "room_status_changed",
    { event: "room_status_changed", user_id: "ana@x", user_display_name: "Ana Wu", ...ANA, old_status: "active", new_status: "resolved" },
    "Ana Wu changed the room status from active to resolved",
    "Ana Wu 將聊天室狀態從 處理中 改為 已解決",
  ],
  [
    "alert_resolved",
    { event: "alert_resolved", user_id: "bot@x", actor_id: "bot@x", actor_display_name: "Line 3 PLC", title: "Press 4 pressure high" },
    "Resolved: Press 4 pressure high",
    "已解除：Press 4 pressure high",
  ],
];

afterEach(() => {
  initLanguage({ store: new MemoryStore(), preferences: ["en-US"] });
});

describe("a system event's room-list line", () => {
  it.each(EVENTS)("words %s with the preview's names, in English", (_kind, system, en) => {
    initLanguage({ store: new MemoryStore(), preferences: ["en-US"] });
    expect(text(system)).toBe(en);
  });

  it.each(EVENTS)("words %s with the preview's names, in Chinese", (_kind, system, _en, zh) => {
    initLanguage({ store: new MemoryStore(), preferences: ["zh-TW"] });
    expect(text(system)).toBe(zh);
  });

  it("follows a change of language without a new preview", () => {
    initLanguage({ store: new MemoryStore(), preferences: ["en-US"] });
    const system = EVENTS[1]![1];
    expect(text(system)).toBe("Carol Lin was removed by Ana Wu");
    chooseLanguage("zh-TW");
    expect(text(system)).toBe("Carol Lin 已被 Ana Wu 移出");
  });

  it("shows the server's line when the preview has no `system` (an older server)", () => {
    initLanguage({ store: new MemoryStore(), preferences: ["zh-TW"] });
    expect(text(undefined, "member added: carol@x")).toBe("member added: carol@x");
  });

  it("names by id only a person the event has no name for", () => {
    initLanguage({ store: new MemoryStore(), preferences: ["en-US"] });
    expect(text({ event: "member_removed", user_id: "carol@x", actor_id: "ana@x" })).toBe("carol@x was removed by ana@x");
  });
});

describe("eventNameOf", () => {
  const content = { event: "member_removed", ...CAROL, ...ANA };

  it("prefers the name the room knows, then the stored one, then the id", () => {
    const known = (id: string) => (id === "ana@x" ? "Ana Wu-Lin" : null);
    const nameOf = eventNameOf(content, known);
    expect(nameOf("ana@x")).toBe("Ana Wu-Lin");
    expect(nameOf("carol@x")).toBe("Carol Lin");
    expect(nameOf("dan@x")).toBe("dan@x");
  });
});

describe("the preview decoder", () => {
  const wire = {
    message_id: "s-9",
    sender_id: "ana@x",
    sender_display_name: "Ana Wu",
    sender_is_bot: false,
    message_type: "system",
    content: "Carol Lin was removed by Ana Wu",
    created_at: "2026-12-04T08:00:00.000Z",
  };

  it("accepts `system`, and a preview without it", () => {
    const system = { event: "member_removed", ...CAROL, ...ANA, alert_count: 2 };
    expect(decode(roomPreview, { ...wire, system }).system).toMatchObject({ event: "member_removed", ...CAROL, ...ANA });
    expect(decode(roomPreview, wire).system).toBeUndefined();
  });

  it("refuses a `system` of the wrong shape", () => {
    expect(() => decode(roomPreview, { ...wire, system: "member removed" })).toThrow(DecodeError);
    expect(() => decode(roomPreview, { ...wire, system: { user_id: "carol@x" } })).toThrow(DecodeError);
    expect(() => decode(roomPreview, { ...wire, system: { event: "member_removed", user_display_name: 7 } })).toThrow(DecodeError);
  });
});

describe("a stored system event in history", () => {
  const stored = {
    message_id: "s-3",
    room_id: "r1",
    sender_id: "ana@x",
    sender_display_name: "Ana Wu",
    content: { event: "member_removed", user_id: "carol@x", actor_id: "ana@x" },
    message_type: "system",
    mentions: [],
    file_id: null,
    file_url: null,
    client_id: null,
    created_at: "2026-12-04T08:00:00.000Z",
    edited_at: null,
    deleted_at: null,
    sequence_number: 3,
    reactions: {},
  };

  it("takes the names it was stored with from `names` into the event a view reads", () => {
    const m = decode(chatMessage, { ...stored, names: { "carol@x": "Carol Lin", "ana@x": "Ana Wu" } });
    expect(m.content).toEqual({ event: "member_removed", ...CAROL, ...ANA });
    expect(eventNameOf(m.content as Record<string, unknown>)("carol@x")).toBe("Carol Lin");
  });

  it("is left as it is without `names` (an older event or server), and refuses names that are not text", () => {
    expect(decode(chatMessage, stored).content).toEqual(stored.content);
    expect(() => decode(chatMessage, { ...stored, names: { "carol@x": 7 } })).toThrow(DecodeError);
  });
});
