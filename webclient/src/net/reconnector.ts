/** When to try a connection again: exponential backoff with jitter, from an injected clock. */
import { backoffDelay, type BackoffPolicy } from "./backoff";
import type { Clock, RandomSource, TimerHandle } from "./clock";

/** Schedules attempts with exponential backoff and jitter. */
export class Reconnector {
  private failures = 0;
  private timer: TimerHandle | null = null;
  private retryAtMs: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly policy: BackoffPolicy,
    private readonly attempt: () => void,
  ) {}

  get attempts(): number {
    return this.failures;
  }

  get retryAt(): number | null {
    return this.retryAtMs;
  }

  /** Records a failure and schedules the next attempt; returns the delay chosen. */
  scheduleRetry(): number {
    this.cancel();
    const delay = backoffDelay(this.failures, this.policy, this.random);
    this.failures += 1;
    this.retryAtMs = this.clock.now() + delay;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.retryAtMs = null;
      this.attempt();
    }, delay);
    return delay;
  }

  /** The connection reached a healthy state: the next failure starts from the base delay. */
  succeeded(): void {
    this.failures = 0;
  }

  /** Retries now (the network came back, the user asked): skips the pending wait. */
  retryNow(): boolean {
    if (this.timer === null) return false;
    this.cancel();
    this.attempt();
    return true;
  }

  cancel(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.retryAtMs = null;
  }
}
