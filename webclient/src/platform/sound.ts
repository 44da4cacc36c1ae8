/**
 * A short alert tone synthesized with Web Audio (nothing to download). Browsers only
 * allow audio after a user gesture, so the context is created and resumed on the
 * first click or key press; until then `play` is silently a no-op.
 */
export type ToneKind = "message" | "mention" | "urgent";

const TONES: Record<ToneKind, { freq: number; at: number; length: number }[]> = {
  message: [{ freq: 880, at: 0, length: 0.12 }],
  mention: [
    { freq: 988, at: 0, length: 0.1 },
    { freq: 1319, at: 0.12, length: 0.16 },
  ],
  // An urgent page: three insistent high-low pairs.
  urgent: [0, 0.45, 0.9].flatMap((at) => [
    { freq: 1568, at, length: 0.16 },
    { freq: 1175, at: at + 0.2, length: 0.16 },
  ]),
};

export class SoundPlayer {
  private ctx: AudioContext | null = null;
  private lastPlayedAt = 0;

  /** Listens for the first gesture on `target` to unlock audio. */
  unlockOn(target: EventTarget): void {
    const unlock = () => {
      this.unlock();
      target.removeEventListener("pointerdown", unlock);
      target.removeEventListener("keydown", unlock);
    };
    target.addEventListener("pointerdown", unlock);
    target.addEventListener("keydown", unlock);
  }

  unlock(): void {
    const Ctor = globalThis.AudioContext ?? (globalThis as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
    if (!Ctor) return;
    if (!this.ctx) this.ctx = new Ctor();
    if (this.ctx.state === "suspended") void this.ctx.resume();
  }

  get unlocked(): boolean {
    return this.ctx !== null && this.ctx.state === "running";
  }

  play(kind: ToneKind): void {
    const ctx = this.ctx;
    if (!ctx || ctx.state !== "running") return;
    // A burst of messages (a replay after reconnecting) makes one sound, not a hundred.
    const now = ctx.currentTime;
    if (now - this.lastPlayedAt < 1) return;
    this.lastPlayedAt = now;
    for (const tone of TONES[kind]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = tone.freq;
      const start = now + tone.at;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.25, start + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + tone.length);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + tone.length + 0.02);
    }
  }
}
