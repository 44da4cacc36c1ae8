import { beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../testing/fake_clock";
import { TypingThrottle } from "./typing_throttle";

describe("TypingThrottle", () => {
  let clock: FakeClock;
  let sent: Array<{ at: number; on: boolean }>;
  let throttle: TypingThrottle;
  let start: number;

  beforeEach(() => {
    clock = new FakeClock();
    start = clock.now();
    sent = [];
    throttle = new TypingThrottle(3000, clock, (on) => sent.push({ at: clock.now() - start, on }));
  });

  /** Keystrokes every `everyMs` until `untilMs` (relative to the start), the draft growing. */
  function typeUntil(untilMs: number, everyMs: number): void {
    let draft = "";
    for (let t = 0; t <= untilMs; t += everyMs) {
      clock.advance(t - (clock.now() - start));
      draft += "x";
      throttle.onInput(draft);
    }
  }

  it("sends at once, refreshes every second while typing and once after, and clears 3 s after the last keystroke", () => {
    typeUntil(3500, 250); // last keystroke at 3.5 s
    clock.advance(10_000);
    expect(sent).toEqual([
      { at: 0, on: true },
      { at: 1000, on: true },
      { at: 2000, on: true },
      { at: 3000, on: true },
      { at: 4000, on: true },
      { at: 6500, on: false },
    ]);
  });

  it("never leaves the server's 3 s timer to expire while the user is still within 3 s of a keystroke", () => {
    typeUntil(7000, 700);
    clock.advance(10_000);
    const on = sent.filter((s) => s.on).map((s) => s.at);
    const lastKeystroke = 7000;
    for (let i = 1; i < on.length; i++) expect(on[i]! - on[i - 1]!).toBeLessThanOrEqual(1000);
    // The last `true` is not older than the last keystroke: the server's timer fires after the `false`.
    expect(on.at(-1)!).toBeGreaterThanOrEqual(lastKeystroke);
    expect(sent.at(-1)).toEqual({ at: lastKeystroke + 3000, on: false });
  });

  it("a single keystroke shows the indicator for 3 s", () => {
    throttle.onInput("a");
    clock.advance(2999);
    expect(sent.at(-1)?.on).toBe(true);
    clock.advance(1);
    expect(sent).toEqual([
      { at: 0, on: true },
      { at: 3000, on: false },
    ]);
    clock.advance(60_000);
    expect(sent).toHaveLength(2);
  });

  it("an emptied draft clears at once, and only once", () => {
    throttle.onInput("a");
    throttle.onInput("");
    throttle.onInput("  ");
    clock.advance(10_000);
    expect(sent).toEqual([
      { at: 0, on: true },
      { at: 0, on: false },
    ]);
  });

  it("typing again right after sending sends a new typing once the message has gone out", () => {
    throttle.onInput("first");
    clock.advance(400);
    throttle.onSending(); // the server clears the indicator when the message arrives
    throttle.onInput("n"); // typed while the message is still on its way
    expect(sent.map((s) => s.on)).toEqual([true]);
    clock.advance(50);
    throttle.onSendDone();
    expect(sent).toEqual([
      { at: 0, on: true },
      { at: 450, on: true },
    ]);
    clock.advance(10_000);
    expect(sent.at(-1)).toEqual({ at: 400 + 3000, on: false });
  });

  it("sending without typing afterwards sends nothing more (the message cleared it)", () => {
    throttle.onInput("done");
    throttle.onSending();
    throttle.onSendDone();
    throttle.onInput(""); // the composer emptied itself
    clock.advance(10_000);
    expect(sent.map((s) => s.on)).toEqual([true]);
  });

  it("typing within a second of sending, after the message went out, is sent at once", () => {
    throttle.onInput("a");
    throttle.onSending();
    throttle.onSendDone();
    clock.advance(300);
    throttle.onInput("b");
    expect(sent).toEqual([
      { at: 0, on: true },
      { at: 300, on: true },
    ]);
  });
});
