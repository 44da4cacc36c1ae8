import type { RandomSource } from "./clock";

export interface BackoffPolicy {
  /** Delay cap of the first retry, in milliseconds. */
  baseMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /** Largest delay cap, in milliseconds. */
  maxMs: number;
}

/**
 * Small on purpose: a client must be back within 3 s of the server being ready again, so
 * no wait exceeds 2.5 s. The jitter still spreads a crowd of clients over that window,
 * and while the browser reports itself offline no attempts are made at all (see socket.ts).
 */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 400, factor: 2, maxMs: 2_500 };

/**
 * Exponential backoff with "equal jitter": half of the capped exponential delay is
 * fixed, half is random. The fixed half keeps a flapping server from being hammered;
 * the random half spreads out the clients that lost it at the same moment.
 *
 * `attempt` counts failed attempts so far, starting at 0.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: RandomSource): number {
  const exp = policy.baseMs * Math.pow(policy.factor, Math.max(0, attempt));
  const cap = Math.min(policy.maxMs, exp);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(cap / 2 + (r * cap) / 2);
}
