import { describe, expect, it } from "vitest";
import { emptyPresence, nextTypingExpiry, presenceReducer, typingSummary, type PresenceState } from "./presence";

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
    expect(s.onlineCount).toBeNull();
  });

  it("keeps a large room's online count beside its sample, and drops it when the room is small again", () => {
    let s = presenceReducer(emptyPresence, { type: "online", online: [{ user_id: "a", display_name: "Ann" }], count: 1200 });
    expect([s.online.length, s.onlineCount]).toEqual([1, 1200]);
    s = presenceReducer(s, { type: "online", online: [{ user_id: "a", display_name: "Ann" }] });
    expect(s.onlineCount).toBeNull();
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
