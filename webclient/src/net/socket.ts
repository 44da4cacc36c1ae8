/**
 * The room's live connection: opens the WebSocket, keeps the sequenced stream
 * contiguous, and reconnects with backoff. No DOM: the WebSocket constructor,
 * the clock and the random source are injected.
 *
 * The stream invariant: frames that carry a room sequence number are delivered to
 * `onFrame` exactly once and in order 1, 2, 3, … A duplicate is dropped; a gap
 * (a number that is not last + 1) drops the frame and asks the server to replay
 * from the last contiguous number (`sync`), which re-sends everything after it.
 *
 * Liveness: a heartbeat (heartbeat.ts) closes a connection that stopped answering, a
 * connection that never greets us is recycled, and while the browser says it is offline
 * no attempt is made at all (state "offline"); `networkChanged(true)` retries at once.
 */
import { DEFAULT_BACKOFF, backoffDelay, type BackoffPolicy } from "./backoff";
import type { Clock, RandomSource, TimerHandle } from "./clock";
import { DEFAULT_HEARTBEAT, Heartbeat, type HeartbeatPolicy } from "./heartbeat";
import { parseServerFrame, streamSequence, type ClientFrame, type ServerFrame } from "./schemas";

/** The subset of the browser WebSocket this module uses (a fake implements it in tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

const OPEN = 1;

export type ConnectionState =
  /** Loading what the connection needs, or the socket is opening. */
  | "connecting"
  /** Connected; replaying missed messages. */
  | "syncing"
  /** Up to date and receiving live traffic. */
  | "live"
  /** Disconnected; the next attempt is scheduled at `retryAt`. */
  | "waiting"
  /** The browser reports no network: nothing is attempted until it is back (or the user asks). */
  | "offline"
  /** Given up for good (signed out, no access, room gone) or stopped. */
  | "closed";

export type CloseReason = "unauthorized" | "forbidden" | "not_found" | "stopped";

export interface ConnectionStatus {
  state: ConnectionState;
  /** Failed attempts since the last time the stream was live. */
  attempt: number;
  retryAt: number | null;
  closeReason: CloseReason | null;
  lastCloseCode: number | null;
  /** The connection was up at least once (so connecting again is a reconnect). */
  hasBeenLive: boolean;
}

/** What the sockets share about the network and liveness; every field has a default. */
export interface LivenessOptions {
  backoff?: BackoffPolicy;
  /** Application-level ping/pong; `null` turns it off. */
  heartbeat?: HeartbeatPolicy | null;
  /** A socket that has not sent its `connected` frame this long after creation is recycled. */
  connectTimeoutMs?: number;
  /** Whether the browser believes it has a network (navigator.onLine). */
  isOnline?: () => boolean;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface FrameContext {
  /** True while the server replays stored messages after a connect or a sync. */
  replay: boolean;
}

export interface RoomSocketOptions extends LivenessOptions {
  roomId: string;
  factory: SocketFactory;
  clock: Clock;
  random: RandomSource;
  /** Builds the socket URL; `since` is the last contiguous sequence number. */
  urlFor: (roomId: string, since: number) => string;
  /**
   * Runs before each connection attempt until it succeeds once: loads what gives the
   * stream its starting point (the newest history page) and returns the last contiguous
   * sequence number. Throwing schedules a retry.
   */
  prepare: () => Promise<number>;
  onFrame: (frame: ServerFrame, ctx: FrameContext) => void;
  onStatus: (status: ConnectionStatus) => void;
  onInvalidFrame?: (detail: string) => void;
  /** Without a `sync_complete` this long after asking, the socket is recycled. */
  syncTimeoutMs?: number;
}

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

export class RoomSocket {
  private socket: SocketLike | null = null;
  private readonly reconnector: Reconnector;
  private baseline: number | null = null;
  private lastSeq = 0;
  private state: ConnectionState = "connecting";
  private closeReason: CloseReason | null = null;
  private lastCloseCode: number | null = null;
  private stopped = false;
  private replaying = false;
  private syncRequested = false;
  private syncTimer: TimerHandle | null = null;
  private lastServerTime: string | null = null;
  private hasBeenLive = false;
  private generation = 0;
  private readonly heartbeat: Heartbeat | null;
  private connectTimer: TimerHandle | null = null;

  constructor(private readonly opts: RoomSocketOptions) {
    this.reconnector = new Reconnector(opts.clock, opts.random, opts.backoff ?? DEFAULT_BACKOFF, () =>
      this.connect(),
    );
    const hb = opts.heartbeat === undefined ? DEFAULT_HEARTBEAT : opts.heartbeat;
    this.heartbeat = hb
      ? new Heartbeat(opts.clock, hb, (frame) => this.send(frame), () => this.connectionDead("heartbeat timeout"))
      : null;
  }

  /** The last sequence number delivered without a gap. */
  get lastSequence(): number {
    return this.lastSeq;
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
    this.connect();
  }

  /**
   * The browser's `offline` / `online` events. Offline: the connection is given up at
   * once (it cannot work, and waiting for TCP to notice takes minutes) and no retries
   * run. Online: connect now.
   */
  networkChanged(online: boolean): void {
    if (this.stopped || this.state === "closed") return;
    if (!online) {
      this.rememberResumePoint();
      this.reconnector.cancel();
      this.stopTimers();
      this.dropSocket(4000, "offline");
      this.replaying = false;
      this.syncRequested = false;
      this.setState("offline");
      return;
    }
    if (this.state === "offline" || this.state === "waiting") {
      this.reconnector.cancel();
      this.connect(true);
    }
  }

  /** Gives up for good as if the server had refused us (the user stream said we were removed). */
  forbid(): void {
    if (this.stopped || this.state === "closed") return;
    this.stopTimers();
    this.dropSocket(1000, "removed from room");
    this.giveUp("forbidden");
  }

  /** Sends when the socket is open and the server has greeted us; false otherwise. */
  send(frame: ClientFrame): boolean {
    if (!this.socket || this.socket.readyState !== OPEN) return false;
    if (this.state !== "live" && this.state !== "syncing") return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Skips the backoff wait (the user asked, the page became visible); also tries while "offline". */
  retryNow(): void {
    if (this.state === "waiting") {
      this.reconnector.cancel();
      this.connect(true);
    } else if (this.state === "offline") {
      this.connect(true);
    }
  }

  stop(): void {
    this.stopped = true;
    this.reconnector.cancel();
    this.stopTimers();
    this.closeReason = "stopped";
    this.dropSocket(1000, "leaving room");
    this.setState("closed");
  }

  private connect(force = false): void {
    if (this.stopped) return;
    if (!force && !this.online()) {
      this.setState("offline");
      return;
    }
    const generation = ++this.generation;
    this.setState("connecting");
    if (this.baseline === null) {
      this.opts.prepare().then(
        (seq) => {
          if (this.stopped || generation !== this.generation) return;
          this.baseline = seq;
          this.lastSeq = seq;
          this.open(generation);
        },
        () => {
          if (this.stopped || generation !== this.generation) return;
          this.fail(null);
        },
      );
      return;
    }
    this.open(generation);
  }

  private open(generation: number): void {
    let socket: SocketLike;
    try {
      socket = this.opts.factory(this.opts.urlFor(this.opts.roomId, this.lastSeq));
    } catch {
      this.fail(null);
      return;
    }
    this.socket = socket;
    this.replaying = false;
    this.syncRequested = false;
    this.clearConnectTimer();
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
    const parsed = parseServerFrame(text);
    if (!parsed.ok) {
      this.opts.onInvalidFrame?.(`${parsed.reason}: ${parsed.detail}`);
      return;
    }
    const frame = parsed.frame;
    switch (frame.type) {
      case "pong":
        this.heartbeat?.pong(frame.id);
        return;
      case "connected":
        this.clearConnectTimer();
        this.heartbeat?.start();
        this.noteServerTime(frame.server_time);
        // Messages with a number above ours follow, then sync_complete.
        this.replaying = true;
        this.setState("syncing");
        this.opts.onFrame(frame, { replay: false });
        return;
      case "sync_complete":
        this.noteServerTime(frame.server_time);
        this.handleSyncComplete(frame.last_sequence_number);
        this.opts.onFrame(frame, { replay: false });
        return;
      default:
        break;
    }
    const seq = streamSequence(frame);
    if (seq !== null) {
      if (seq <= this.lastSeq) return; // already delivered (replay overlap)
      if (seq !== this.lastSeq + 1) {
        this.requestSync();
        return;
      }
      this.lastSeq = seq;
    }
    if (frame.type === "message") this.noteServerTime(frame.message.created_at);
    if (frame.type === "message_edited" && frame.message.edited_at) this.noteServerTime(frame.message.edited_at);
    if (frame.type === "message_deleted") this.noteServerTime(frame.deleted_at);
    this.opts.onFrame(frame, { replay: this.replaying });
  }

  private handleSyncComplete(serverLast: number): void {
    const wasSyncRequested = this.syncRequested;
    if (this.lastSeq < serverLast) {
      // Still behind (a gap was met during the replay, or numbers were committed since):
      // ask again unless our own request is still on its way.
      if (!wasSyncRequested) this.requestSync();
      return;
    }
    this.syncRequested = false;
    this.clearSyncTimer();
    this.replaying = false;
    const firstTimeLive = this.state !== "live";
    this.setState("live");
    this.reconnector.succeeded();
    if (firstTimeLive && this.hasBeenLive && this.lastServerTimeBeforeConnect !== null) {
      // Edits, deletions and reactions to older messages made while we were away are
      // not part of the `since` replay; a sync with since_time brings them.
      this.requestSync(this.lastServerTimeBeforeConnect);
    }
    this.hasBeenLive = true;
    this.lastServerTimeBeforeConnect = null;
  }

  private lastServerTimeBeforeConnect: string | null = null;

  private requestSync(sinceTime?: string): void {
    if (this.syncRequested || !this.socket) return;
    const frame: ClientFrame = sinceTime
      ? { type: "sync", since: this.lastSeq, since_time: sinceTime }
      : { type: "sync", since: this.lastSeq };
    if (this.socket.readyState !== OPEN) return;
    this.socket.send(JSON.stringify(frame));
    this.syncRequested = true;
    this.replaying = true;
    this.clearSyncTimer();
    this.syncTimer = this.opts.clock.setTimeout(() => {
      this.syncTimer = null;
      // The server never finished the replay: start over on a fresh connection.
      this.connectionDead("sync timeout");
    }, this.opts.syncTimeoutMs ?? 15_000);
  }

  private handleClose(code: number): void {
    this.stopTimers();
    this.lastCloseCode = code;
    if (this.stopped) return;
    if (code === 4401) return this.giveUp("unauthorized");
    if (code === 4403) return this.giveUp("forbidden");
    if (code === 4404) return this.giveUp("not_found");
    this.fail(code);
  }

  private giveUp(reason: CloseReason): void {
    this.closeReason = reason;
    this.reconnector.cancel();
    this.setState("closed");
  }

  private fail(code: number | null): void {
    if (code !== null) this.lastCloseCode = code;
    this.rememberResumePoint();
    this.stopTimers();
    this.replaying = false;
    this.syncRequested = false;
    if (!this.online()) {
      // No network: retrying would only spin. The `online` event brings us back.
      this.setState("offline");
      return;
    }
    this.reconnector.scheduleRetry();
    this.setState("waiting");
  }

  /** The connection is up but useless (no greeting, no answer to pings): start over. */
  private connectionDead(reason: string): void {
    if (this.stopped) return;
    this.dropSocket(4000, reason);
    this.fail(null);
  }

  private rememberResumePoint(): void {
    if (this.hasBeenLive && this.lastServerTimeBeforeConnect === null) {
      this.lastServerTimeBeforeConnect = this.lastServerTime;
    }
  }

  private online(): boolean {
    return this.opts.isOnline ? this.opts.isOnline() : true;
  }

  private stopTimers(): void {
    this.clearSyncTimer();
    this.clearConnectTimer();
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

  private clearSyncTimer(): void {
    if (this.syncTimer !== null) this.opts.clock.clearTimeout(this.syncTimer);
    this.syncTimer = null;
  }

  private noteServerTime(iso: string): void {
    if (this.lastServerTime === null || iso > this.lastServerTime) this.lastServerTime = iso;
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.opts.onStatus(this.status);
  }
}

/** The socket URL for this page's origin: ws(s)://host/ws/{room}?since=N. */
export function roomSocketUrl(location: { protocol: string; host: string }, roomId: string, since: number): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/${encodeURIComponent(roomId)}?since=${since}`;
}
