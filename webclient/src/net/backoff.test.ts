import { describe, expect, it } from "vitest";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff";

const policy = { baseMs: 500, factor: 2, maxMs: 30_000 };

describe("backoffDelay", () => {
  it("doubles the cap with each failure", () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, policy, mid))).toEqual([375, 750, 1500, 3000]);
  });

  it("keeps half of the cap fixed and jitters the other half", () => {
    expect(backoffDelay(2, policy, () => 0)).toBe(1000);
    expect(backoffDelay(2, policy, () => 0.999999)).toBe(2000);
  });

  it("never exceeds the maximum however many failures", () => {
    for (const attempt of [10, 20, 100, 1000]) {
      expect(backoffDelay(attempt, policy, () => 0.999999)).toBeLessThanOrEqual(30_000);
      expect(backoffDelay(attempt, policy, () => 0)).toBe(15_000);
    }
  });

  it("spreads clients that failed together", () => {
    const delays = new Set([0.1, 0.3, 0.5, 0.7, 0.9].map((r) => backoffDelay(4, DEFAULT_BACKOFF, () => r)));
    expect(delays.size).toBe(5);
  });
});

describe("DEFAULT_BACKOFF", () => {
  it("starts between 300 and 500 ms", () => {
    expect(DEFAULT_BACKOFF.baseMs).toBeGreaterThanOrEqual(300);
    expect(DEFAULT_BACKOFF.baseMs).toBeLessThanOrEqual(500);
  });

  it("never waits more than 2.5 s, so a client is back within 3 s of the server", () => {
    for (const attempt of [0, 1, 2, 3, 5, 10, 100]) {
      for (const r of [0, 0.5, 0.999999]) {
        expect(backoffDelay(attempt, DEFAULT_BACKOFF, () => r)).toBeLessThanOrEqual(2_500);
      }
    }
    expect(backoffDelay(50, DEFAULT_BACKOFF, () => 0)).toBe(1_250);
  });
});
