import { describe, expect, it } from "vitest";
import {
  activeMentionQuery,
  filterCandidates,
  insertMention,
  mentionSegments,
  resolveMentions,
} from "./mentions";

const members = [
  { user_id: "ann@plant.example", display_name: "Ann" },
  { user_id: "ann.lee@plant.example", display_name: "Ann Lee" },
  { user_id: "bob@plant.example", display_name: "Bob Chen" },
  { user_id: "maintenance_team@plant.example", display_name: "maintenance_team" },
  { user_id: "wei@plant.example", display_name: "王偉" },
];

describe("activeMentionQuery", () => {
  it("opens on a bare @ at the start or after a space", () => {
    expect(activeMentionQuery("@", 1)).toEqual({ start: 0, query: "" });
    expect(activeMentionQuery("hello @", 7)).toEqual({ start: 6, query: "" });
  });

  it("follows what is typed after the @", () => {
    expect(activeMentionQuery("ping @bo", 8)).toEqual({ start: 5, query: "bo" });
    expect(activeMentionQuery("ping @Ann L", 11)).toEqual({ start: 5, query: "Ann L" });
  });

  it("ignores an @ inside an e-mail address", () => {
    expect(activeMentionQuery("mail bob@plant", 14)).toBeNull();
  });

  it("closes after a newline, a trailing space or when the caret is before the @", () => {
    expect(activeMentionQuery("@bob\nok", 7)).toBeNull();
    expect(activeMentionQuery("@Bob Chen ", 10)).toBeNull();
    expect(activeMentionQuery("hi @bob", 2)).toBeNull();
  });
});

describe("filterCandidates", () => {
  it("lists everyone for an empty query, alphabetically", () => {
    expect(filterCandidates(members, "").map((m) => m.display_name)).toEqual([
      "Ann",
      "Ann Lee",
      "Bob Chen",
      "maintenance_team",
      "王偉",
    ]);
  });

  it("ranks a name prefix before a later word and a substring", () => {
    expect(filterCandidates(members, "ch").map((m) => m.display_name)).toEqual(["Bob Chen"]);
    expect(filterCandidates(members, "an").map((m) => m.display_name)).toEqual([
      "Ann",
      "Ann Lee",
      "maintenance_team",
    ]);
  });

  it("matches case-insensitively, by user id and by CJK substring", () => {
    expect(filterCandidates(members, "BOB").map((m) => m.user_id)).toEqual(["bob@plant.example"]);
    expect(filterCandidates(members, "偉").map((m) => m.user_id)).toEqual(["wei@plant.example"]);
  });

  it("leaves out the current user and honours the limit", () => {
    expect(filterCandidates(members, "", { exclude: "ann@plant.example", limit: 2 }).map((m) => m.user_id)).toEqual([
      "ann.lee@plant.example",
      "bob@plant.example",
    ]);
  });
});

describe("insertMention", () => {
  it("replaces the typed query with @display_name and a space", () => {
    const text = "please @bo check";
    const q = activeMentionQuery(text, 10)!;
    expect(insertMention(text, q, 10, members[2]!)).toEqual({ text: "please @Bob Chen check", caret: 17 });
  });
});

describe("resolveMentions", () => {
  it("keeps the user ids of names still in the text", () => {
    expect(resolveMentions("@maintenance_team Please check Line 3 immediately", members)).toEqual([
      "maintenance_team@plant.example",
    ]);
  });

  it("prefers the longest name at each @", () => {
    expect(resolveMentions("@Ann Lee and @Ann, look", members)).toEqual([
      "ann.lee@plant.example",
      "ann@plant.example",
    ]);
  });

  it("drops a mention whose name was edited away or is only a prefix of a word", () => {
    expect(resolveMentions("@Annie is not Ann", members)).toEqual([]);
    expect(resolveMentions("x@Ann", members)).toEqual([]);
  });
});

describe("mentionSegments", () => {
  const nameOf = (id: string) => members.find((m) => m.user_id === id)?.display_name ?? null;

  it("marks mentions and which of them is me", () => {
    expect(
      mentionSegments("@Bob Chen ask @Ann Lee", ["bob@plant.example", "ann.lee@plant.example"], nameOf, "ann.lee@plant.example"),
    ).toEqual([
      { text: "@Bob Chen", mention: { user_id: "bob@plant.example", isMe: false } },
      { text: " ask " },
      { text: "@Ann Lee", mention: { user_id: "ann.lee@plant.example", isMe: true } },
    ]);
  });

  it("does not highlight names that are not in the message's mention list", () => {
    expect(mentionSegments("@Bob Chen hi", [], nameOf, null)).toEqual([{ text: "@Bob Chen hi" }]);
  });

  it("falls back to the user id for someone who is no longer a member", () => {
    expect(mentionSegments("cc @gone@plant.example.", ["gone@plant.example"], () => null, null)).toEqual([
      { text: "cc " },
      { text: "@gone@plant.example", mention: { user_id: "gone@plant.example", isMe: false } },
      { text: "." },
    ]);
  });
});
