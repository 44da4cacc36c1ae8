/**
 * The application-level heartbeat: `{"type":"ping","id"}` every few seconds while a
 * socket is open, and a connection that answers neither with its `pong` nor with any
 * other frame within the timeout is declared dead. The browser's own WebSocket notices a
 * vanished network only after a long TCP timeout (or the server's 30 s protocol ping);
 * this notices it within `intervalMs + timeoutMs`.
 *
 * Any frame counts as a sign of life: during a long replay the `pong` may queue behind
 * the replayed messages, and closing a connection that is busily delivering would only
 * start the replay over.
 */
import type { Clock, TimerHandle } from "./clock";
import type { PingFrame } from "./schemas";

export interface HeartbeatPolicy {
  /** Pause between a pong and the next ping. */
  intervalMs: number;
  /** How long a ping may stay unanswered (with no other traffic) before the socket is dead. */
  timeoutMs: number;
}

export const DEFAULT_HEARTBEAT: HeartbeatPolicy = { intervalMs: 5_000, timeoutMs: 3_000 };

export class Heartbeat {
  private timer: TimerHandle | null = null;
  private awaiting: string | null = null;
  private trafficSincePing = false;
  private counter = 0;
  private running = false;

  constructor(
    private readonly clock: Clock,
    private readonly policy: HeartbeatPolicy,
    private readonly send: (frame: PingFrame) => boolean,
    private readonly onDead: () => void,
  ) {}

  /** The id of the ping waiting for its pong, if any (for tests and diagnostics). */
  get pending(): string | null {
    return this.awaiting;
  }

  start(): void {
    this.stop();
    this.running = true;
    this.schedulePing();
  }

  stop(): void {
    this.clearTimer();
    this.running = false;
    this.awaiting = null;
  }

  /** A frame arrived from the server. */
  traffic(): void {
    this.trafficSincePing = true;
  }

  /** A `pong` arrived; one without an id answers whatever ping is outstanding. */
  pong(id: string | null): void {
    if (!this.running || this.awaiting === null) return;
    if (id !== null && id !== this.awaiting) return;
    this.awaiting = null;
    this.clearTimer();
    this.schedulePing();
  }

  private schedulePing(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.ping();
    }, this.policy.intervalMs);
  }

  private ping(): void {
    if (!this.running) return;
    this.counter += 1;
    const id = `hb-${this.counter}`;
    this.awaiting = id;
    this.trafficSincePing = false;
    // The timeout is armed before sending, so an answer that comes back at once finds it.
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.timedOut();
    }, this.policy.timeoutMs);
    this.send({ type: "ping", id });
  }

  private timedOut(): void {
    if (!this.running) return;
    if (this.trafficSincePing) {
      // Frames are still arriving: the connection is alive, only the pong is late.
      this.ping();
      return;
    }
    this.awaiting = null;
    this.running = false;
    this.onDead();
  }

  private clearTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
