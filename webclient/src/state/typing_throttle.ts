import type { Clock, TimerHandle } from "../net/clock";

/**
 * Decides when to send `typing` frames so that others see the indicator from the first
 * keystroke until TYPING_TIMEOUT of *inactivity* (the spec), rather than until the server's
 * timeout after whichever frame a throttle happened to let through:
 * - the first keystroke sends `true` at once;
 * - while keystrokes keep coming, `true` is re-sent at most every third of the timeout, and
 *   once more after the last keystroke: each frame restarts the server's auto-clear timer, so
 *   that timer never fires before the client's own `false`;
 * - after the timeout without a keystroke, or when the draft is emptied, one `false`.
 * A message being sent ends the indicator on the server when it arrives; typing meanwhile is
 * held until the message has gone out (`onSendDone`), so the next `true` follows the message
 * instead of racing it and being cleared by it.
 */
export class TypingThrottle {
  private active = false;
  private lastInputAt = 0;
  private lastSentAt = 0;
  private timer: TimerHandle | null = null;
  private holding = false;
  private heldInput = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly send: (isTyping: boolean) => void,
  ) {}

  private get refreshMs(): number {
    return this.timeoutMs / 3;
  }

  /** Call on every edit of the draft. */
  onInput(draft: string): void {
    if (draft.trim() === "") {
      this.stop();
      return;
    }
    this.lastInputAt = this.clock.now();
    if (this.holding) {
      this.heldInput = true;
      return;
    }
    if (!this.active || this.lastInputAt - this.lastSentAt >= this.refreshMs) {
      this.active = true;
      this.sendTyping();
    }
    this.schedule();
  }

  /** A message is about to be sent: the server clears the indicator when it arrives. */
  onSending(): void {
    this.cancelTimer();
    this.active = false;
    this.holding = true;
    this.heldInput = false;
  }

  /** The message went out (or was queued): typing since `onSending` counts now. */
  onSendDone(): void {
    this.holding = false;
    if (!this.heldInput) return;
    this.heldInput = false;
    if (this.clock.now() - this.lastInputAt >= this.timeoutMs) return;
    this.active = true;
    this.sendTyping();
    this.schedule();
  }

  /** The draft was cleared or the composer closed. */
  stop(): void {
    this.cancelTimer();
    this.heldInput = false;
    if (!this.active) return;
    this.active = false;
    this.send(false);
  }

  private sendTyping(): void {
    this.lastSentAt = this.clock.now();
    this.send(true);
  }

  private schedule(): void {
    this.cancelTimer();
    let due = this.lastInputAt + this.timeoutMs;
    if (this.lastInputAt > this.lastSentAt) due = Math.min(due, this.lastSentAt + this.refreshMs);
    this.timer = this.clock.setTimeout(() => this.tick(), Math.max(0, due - this.clock.now()));
  }

  private tick(): void {
    this.timer = null;
    if (!this.active) return;
    const now = this.clock.now();
    if (now - this.lastInputAt >= this.timeoutMs) {
      this.active = false;
      this.send(false);
      return;
    }
    if (this.lastInputAt > this.lastSentAt && now - this.lastSentAt >= this.refreshMs) this.sendTyping();
    this.schedule();
  }

  private cancelTimer(): void {
    if (this.timer === null) return;
    this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
