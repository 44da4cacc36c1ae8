import { describe, expect, it } from "vitest";
import { emptyPresence, nextTypingExpiry, presenceReducer, typingSummary, type PresenceState } from "./presence";
import { TypingThrottle, typingIntervalMs } from "./typing_throttle";

const typing = (user_id: string, is_typing: boolean, now: number) =>
  ({ type: "typing", user_id, display_name: user_id.toUpperCase(), is_typing, now, timeoutMs: 3000 }) as const;

describe("presenceReducer", () => {
  it("sets the online list from connected/presence frames, sorted and unique", () => {
    const s = presenceReducer(emptyPresence, {
      type: "online",
      online: [
        { user_id: "b", display_name: "Bob" },
        { user_id: "a", display_name: "Ann" },
        { user_id: "b", display_name: "Bob" },
      ],
    });
    expect(s.online.map((u) => u.user_id)).toEqual(["a", "b"]);
  });

  it("tracks typists, clears them on is_typing false, on their message and on expiry", () => {
    let s: PresenceState = emptyPresence;
    s = presenceReducer(s, typing("a", true, 0));
    s = presenceReducer(s, typing("b", true, 1000));
    s = presenceReducer(s, typing("c", true, 1000));
    expect(typingSummary(s.typing)).toBe("3 people are typing…");
    s = presenceReducer(s, typing("a", false, 1500));
    s = presenceReducer(s, { type: "spoke", user_id: "b" });
    expect(typingSummary(s.typing)).toBe("C is typing…");
    expect(nextTypingExpiry(s)).toBe(5000);
    s = presenceReducer(s, { type: "expire", now: 4999 });
    expect(s.typing).toHaveLength(1);
    s = presenceReducer(s, { type: "expire", now: 5000 });
    expect(s.typing).toHaveLength(0);
  });

  it("refreshes a typist's expiry on each typing frame", () => {
    let s = presenceReducer(emptyPresence, typing("a", true, 0));
    s = presenceReducer(s, typing("a", true, 3000));
    expect(s.typing).toHaveLength(1);
    expect(s.typing[0]!.expires_at).toBe(7000);
  });

  it("summarises two typists by name", () => {
    const s = presenceReducer(presenceReducer(emptyPresence, typing("a", true, 0)), typing("b", true, 0));
    expect(typingSummary(s.typing)).toBe("A and B are typing…");
  });
});

describe("TypingThrottle", () => {
  it("sends typing at most once per interval and false when the draft is cleared", () => {
    const sent: boolean[] = [];
    const t = new TypingThrottle(typingIntervalMs(3), (v) => sent.push(v));
    t.onInput("h", 0);
    t.onInput("he", 500);
    t.onInput("hel", 1799);
    expect(sent).toEqual([true]);
    t.onInput("hell", 1800);
    expect(sent).toEqual([true, true]);
    t.onInput("", 1900);
    t.onInput("", 2000);
    expect(sent).toEqual([true, true, false]);
  });

  it("does not send false after a message went out (the server clears it)", () => {
    const sent: boolean[] = [];
    const t = new TypingThrottle(1800, (v) => sent.push(v));
    t.onInput("x", 0);
    t.onSent();
    t.onInput("", 10);
    expect(sent).toEqual([true]);
    t.onInput("y", 20);
    expect(sent).toEqual([true, true]);
  });
});
