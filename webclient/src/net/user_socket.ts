/**
 * The user's stream (`/ws`, docs/user-stream.md): what concerns the signed-in user across
 * all their rooms (room list state, mentions, membership). Every frame is a state frame and
 * each connection starts with a full `connected` snapshot, so there is nothing to resume:
 * reconnecting simply replaces the state.
 *
 * It shares the room socket's reconnect policy (Reconnector, backoff), heartbeat and
 * offline handling. No DOM: the WebSocket constructor, clock and random source are injected.
 */
import { DEFAULT_BACKOFF } from "./backoff";
import type { Clock, RandomSource, TimerHandle } from "./clock";
import { DEFAULT_HEARTBEAT, Heartbeat } from "./heartbeat";
import { parseUserFrame, type PingFrame, type UserServerFrame } from "./schemas";
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  Reconnector,
  type CloseReason,
  type ConnectionState,
  type ConnectionStatus,
  type LivenessOptions,
  type SocketFactory,
  type SocketLike,
} from "./socket";

const OPEN = 1;

export interface UserFrameContext {
  /** The frame is the `connected` snapshot, not a live change (it must not alert). */
  snapshot: boolean;
}

export interface UserSocketOptions extends LivenessOptions {
  factory: SocketFactory;
  clock: Clock;
  random: RandomSource;
  url: () => string;
  onFrame: (frame: UserServerFrame, ctx: UserFrameContext) => void;
  onStatus: (status: ConnectionStatus) => void;
  onInvalidFrame?: (detail: string) => void;
}

export class UserSocket {
  private socket: SocketLike | null = null;
  private readonly reconnector: Reconnector;
  private readonly heartbeat: Heartbeat | null;
  private state: ConnectionState = "connecting";
  private closeReason: CloseReason | null = null;
  private lastCloseCode: number | null = null;
  private hasBeenLive = false;
  private started = false;
  private stopped = false;
  private generation = 0;
  private connectTimer: TimerHandle | null = null;

  constructor(private readonly opts: UserSocketOptions) {
    this.reconnector = new Reconnector(opts.clock, opts.random, opts.backoff ?? DEFAULT_BACKOFF, () => this.connect());
    const hb = opts.heartbeat === undefined ? DEFAULT_HEARTBEAT : opts.heartbeat;
    this.heartbeat = hb
      ? new Heartbeat(opts.clock, hb, (frame) => this.sendPing(frame), () => this.connectionDead("heartbeat timeout"))
      : null;
  }

  get status(): ConnectionStatus {
    return {
      state: this.state,
      attempt: this.reconnector.attempts,
      retryAt: this.reconnector.retryAt,
      closeReason: this.closeReason,
      lastCloseCode: this.lastCloseCode,
      hasBeenLive: this.hasBeenLive,
    };
  }

  get isLive(): boolean {
    return this.state === "live";
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reconnector.cancel();
    this.stopTimers();
    this.closeReason = "stopped";
    this.dropSocket(1000, "signed out");
    this.setState("closed");
  }

  /** Skips the backoff wait (the user asked, the page became visible); also tries while "offline". */
  retryNow(): void {
    if (this.state === "waiting" || this.state === "offline") {
      this.reconnector.cancel();
      this.connect(true);
    }
  }

  /** The browser's `offline` / `online` events (see RoomSocket.networkChanged). */
  networkChanged(online: boolean): void {
    if (this.stopped || this.state === "closed" || !this.started) return;
    if (!online) {
      this.reconnector.cancel();
      this.stopTimers();
      this.dropSocket(4000, "offline");
      this.setState("offline");
      return;
    }
    if (this.state === "offline" || this.state === "waiting") {
      this.reconnector.cancel();
      this.connect(true);
    }
  }

  private connect(force = false): void {
    if (this.stopped) return;
    if (!force && !this.online()) {
      this.setState("offline");
      return;
    }
    const generation = ++this.generation;
    this.setState("connecting");
    let socket: SocketLike;
    try {
      socket = this.opts.factory(this.opts.url());
    } catch {
      this.fail(null);
      return;
    }
    this.socket = socket;
    this.connectTimer = this.opts.clock.setTimeout(() => {
      this.connectTimer = null;
      this.connectionDead("connect timeout");
    }, this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    socket.onmessage = (ev) => {
      if (generation !== this.generation || typeof ev.data !== "string") return;
      this.heartbeat?.traffic();
      this.handleText(ev.data);
    };
    socket.onclose = (ev) => {
      if (generation !== this.generation) return;
      this.socket = null;
      this.handleClose(ev.code);
    };
    socket.onerror = () => {
      // A close event always follows an error; the decision is taken there.
    };
  }

  private handleText(text: string): void {
    const parsed = parseUserFrame(text);
    if (!parsed.ok) {
      this.opts.onInvalidFrame?.(`${parsed.reason}: ${parsed.detail}`);
      return;
    }
    const frame = parsed.frame;
    if (frame.type === "pong") {
      this.heartbeat?.pong(frame.id);
      return;
    }
    if (frame.type === "connected") {
      this.clearConnectTimer();
      this.heartbeat?.start();
      this.hasBeenLive = true;
      this.reconnector.succeeded();
      // The snapshot is applied before the state says "live", so a view never shows
      // "Live" over the previous connection's (possibly stale) room list.
      this.opts.onFrame(frame, { snapshot: true });
      this.setState("live");
      return;
    }
    if (this.state !== "live") return; // nothing is meaningful before the snapshot
    this.opts.onFrame(frame, { snapshot: false });
  }

  private handleClose(code: number): void {
    this.stopTimers();
    this.lastCloseCode = code;
    if (this.stopped) return;
    if (code === 4401) return this.giveUp("unauthorized");
    if (code === 4403) return this.giveUp("forbidden");
    this.fail(code);
  }

  private giveUp(reason: CloseReason): void {
    this.closeReason = reason;
    this.reconnector.cancel();
    this.setState("closed");
  }

  private fail(code: number | null): void {
    if (code !== null) this.lastCloseCode = code;
    this.stopTimers();
    if (!this.online()) {
      this.setState("offline");
      return;
    }
    this.reconnector.scheduleRetry();
    this.setState("waiting");
  }

  private connectionDead(reason: string): void {
    if (this.stopped) return;
    this.dropSocket(4000, reason);
    this.fail(null);
  }

  private sendPing(frame: PingFrame): boolean {
    if (!this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  private online(): boolean {
    return this.opts.isOnline ? this.opts.isOnline() : true;
  }

  private stopTimers(): void {
    if (this.connectTimer !== null) this.opts.clock.clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.heartbeat?.stop();
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) this.opts.clock.clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private dropSocket(code: number, reason: string): void {
    const socket = this.socket;
    this.socket = null;
    this.generation += 1;
    if (!socket) return;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
    try {
      socket.close(code, reason);
    } catch {
      // Closing an already-closed socket is not an error worth surfacing.
    }
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.opts.onStatus(this.status);
  }
}

/** The user stream's URL for this page's origin: ws(s)://host/ws. */
export function userSocketUrl(location: { protocol: string; host: string }): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws`;
}
