/**
 * Decides when to send `typing` frames: at most one "true" per interval while the user
 * keeps typing (the server clears the indicator TYPING_TIMEOUT after the last one, so the
 * interval stays below it), and one "false" when the draft is emptied.
 */
export class TypingThrottle {
  private lastSentAt: number | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly send: (isTyping: boolean) => void,
  ) {}

  /** Call on every edit of the draft. */
  onInput(draft: string, now: number): void {
    if (draft.trim() === "") {
      this.stop();
      return;
    }
    if (this.lastSentAt === null || now - this.lastSentAt >= this.intervalMs) {
      this.lastSentAt = now;
      this.send(true);
    }
  }

  /** The message went out: the server clears the indicator itself when it arrives. */
  onSent(): void {
    this.lastSentAt = null;
  }

  /** The draft was cleared or the composer closed. */
  stop(): void {
    if (this.lastSentAt === null) return;
    this.lastSentAt = null;
    this.send(false);
  }
}

/** Resend interval for a server typing timeout in seconds: comfortably inside it. */
export function typingIntervalMs(typingTimeoutSeconds: number): number {
  return Math.max(500, Math.round(typingTimeoutSeconds * 1000 * 0.6));
}
