/**
 * The connection lifecycle both sockets share, the room's `/ws/{room_id}` (socket.ts) and
 * the user's `/ws` (user_socket.ts): opening a WebSocket that must greet us within a
 * timeout, the heartbeat, reconnecting with backoff, the browser's offline/online events,
 * "Retry now", and giving up for good on the close codes that mean retrying cannot help.
 * A subclass brings its protocol: how a text frame is decoded and handled, when the server
 * has greeted it (`greeted`) and when the connection is healthy (`reconnector.succeeded`).
 *
 * Every attempt, and every socket dropped on purpose, bumps a generation number; a callback
 * of an older generation is ignored, so a late close or message from a socket already given
 * up cannot disturb the current one. No DOM: the WebSocket constructor, the clock and the
 * random source are injected.
 */
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff";
import type { Clock, RandomSource, TimerHandle } from "./clock";
import { DEFAULT_HEARTBEAT, Heartbeat, type HeartbeatPolicy } from "./heartbeat";
import { Reconnector } from "./reconnector";
import type { ParseResult, PingFrame, PongFrame } from "./schemas";

/** The subset of the browser WebSocket the sockets use (a fake implements it in tests). */
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
  /** Connected; replaying missed messages (room socket only). */
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
  /** Failed attempts since the last time the connection was healthy. */
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

export interface ManagedSocketOptions extends LivenessOptions {
  factory: SocketFactory;
  clock: Clock;
  random: RandomSource;
  onStatus: (status: ConnectionStatus) => void;
  onInvalidFrame?: (detail: string) => void;
}

export abstract class ManagedSocket<F extends { type: string }> {
  protected socket: SocketLike | null = null;
  protected readonly reconnector: Reconnector;
  protected state: ConnectionState = "connecting";
  /** The connection was up at least once; the subclass says when that is. */
  protected hasBeenLive = false;
  protected stopped = false;
  private readonly heartbeat: Heartbeat | null;
  private closeReason: CloseReason | null = null;
  private lastCloseCode: number | null = null;
  private generation = 0;
  private connectTimer: TimerHandle | null = null;

  /** Decodes one text frame from the server. */
  protected abstract parse(text: string): ParseResult<F>;
  /** Handles a decoded frame (a `pong` is the heartbeat's and never reaches it). */
  protected abstract handleFrame(frame: Exclude<F, PongFrame>): void;
  /** Starts an attempt: opens the socket with `openSocket(generation)`, now or once ready. */
  protected abstract attempt(generation: number): void;
  /** The URL of the next socket. */
  protected abstract socketUrl(): string;
  /** Close codes after which retrying cannot help, and what each means. */
  protected abstract readonly finalCloseCodes: Readonly<Partial<Record<number, CloseReason>>>;
  /** The reason given to the server when `stop()` closes the socket. */
  protected abstract readonly stopMessage: string;

  constructor(private readonly options: ManagedSocketOptions) {
    this.reconnector = new Reconnector(options.clock, options.random, options.backoff ?? DEFAULT_BACKOFF, () =>
      this.connect(),
    );
    const hb = options.heartbeat === undefined ? DEFAULT_HEARTBEAT : options.heartbeat;
    this.heartbeat = hb
      ? new Heartbeat(options.clock, hb, (frame) => this.sendPing(frame), () => this.connectionDead("heartbeat timeout"))
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
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.reconnector.cancel();
    this.stopTimers();
    this.closeReason = "stopped";
    this.dropSocket(1000, this.stopMessage);
    this.setState("closed");
  }

  /** Skips the backoff wait (the user asked, the page became visible); also tries while "offline". */
  retryNow(): void {
    if (this.state === "waiting" || this.state === "offline") {
      this.reconnector.cancel();
      this.connect(true);
    }
  }

  /**
   * The browser's `offline` / `online` events. Offline: the connection is given up at
   * once (it cannot work, and waiting for TCP to notice takes minutes) and no retries
   * run. Online: connect now.
   */
  networkChanged(online: boolean): void {
    if (this.stopped || this.state === "closed") return;
    if (online) {
      this.retryNow();
      return;
    }
    this.connectionLost();
    this.reconnector.cancel();
    this.stopTimers();
    this.dropSocket(4000, "offline");
    this.setState("offline");
  }

  /**
   * The connection is gone or given up (it failed, or the browser went offline) and a later
   * one starts afresh: a subclass forgets what belonged to this connection here.
   */
  protected connectionLost(): void {}

  /** Whether an attempt's asynchronous step may still go on (no newer attempt, not stopped). */
  protected isCurrent(generation: number): boolean {
    return !this.stopped && generation === this.generation;
  }

  /** Opens the attempt's socket; the server must greet it (`greeted`) within the connect timeout. */
  protected openSocket(generation: number): void {
    let socket: SocketLike;
    try {
      socket = this.options.factory(this.socketUrl());
    } catch {
      this.fail(null);
      return;
    }
    this.socket = socket;
    this.clearConnectTimer();
    this.connectTimer = this.options.clock.setTimeout(() => {
      this.connectTimer = null;
      this.connectionDead("connect timeout");
    }, this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    socket.onmessage = (ev) => {
      if (generation !== this.generation || typeof ev.data !== "string") return;
      this.heartbeat?.traffic();
      this.receive(ev.data);
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

  /** The server greeted us (`connected`): the connect timeout is over and the heartbeat starts. */
  protected greeted(): void {
    this.clearConnectTimer();
    this.heartbeat?.start();
  }

  /** Sends on an open socket; false when there is none. */
  protected transmit(frame: unknown): boolean {
    if (!this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  protected sendPing(frame: PingFrame): boolean {
    return this.transmit(frame);
  }

  /** Gives up for good: no more attempts until the owner makes a new socket. */
  protected giveUp(reason: CloseReason): void {
    this.closeReason = reason;
    this.reconnector.cancel();
    this.setState("closed");
  }

  /** The attempt or the connection failed: wait out the backoff, or without a network wait for it. */
  protected fail(code: number | null): void {
    if (code !== null) this.lastCloseCode = code;
    this.connectionLost();
    this.stopTimers();
    if (!this.online()) {
      // No network: retrying would only spin. The `online` event brings us back.
      this.setState("offline");
      return;
    }
    this.reconnector.scheduleRetry();
    this.setState("waiting");
  }

  /** The connection up but useless (no greeting, no answer to pings, a replay that never ends): start over. */
  protected connectionDead(reason: string): void {
    if (this.stopped) return;
    this.dropSocket(4000, reason);
    this.fail(null);
  }

  /** Closes the current socket, if any, without hearing from it again. */
  protected dropSocket(code: number, reason: string): void {
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

  /** Cancels the timers that belong to one connection; a subclass adds its own. */
  protected stopTimers(): void {
    this.clearConnectTimer();
    this.heartbeat?.stop();
  }

  protected setState(state: ConnectionState): void {
    this.state = state;
    this.options.onStatus(this.status);
  }

  private connect(force = false): void {
    if (this.stopped) return;
    if (!force && !this.online()) {
      this.setState("offline");
      return;
    }
    const generation = ++this.generation;
    this.setState("connecting");
    this.attempt(generation);
  }

  private receive(text: string): void {
    const parsed = this.parse(text);
    if (!parsed.ok) {
      this.options.onInvalidFrame?.(`${parsed.reason}: ${parsed.detail}`);
      return;
    }
    const frame = parsed.frame;
    if (isPong(frame)) {
      this.heartbeat?.pong(frame.id);
      return;
    }
    this.handleFrame(frame as Exclude<F, PongFrame>);
  }

  private handleClose(code: number): void {
    this.stopTimers();
    this.lastCloseCode = code;
    if (this.stopped) return;
    const final = this.finalCloseCodes[code];
    if (final) return this.giveUp(final);
    this.fail(code);
  }

  private online(): boolean {
    return this.options.isOnline ? this.options.isOnline() : true;
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) this.options.clock.clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }
}

function isPong(frame: { type: string }): frame is PongFrame {
  return frame.type === "pong";
}
