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
 * The connection's lifecycle (connect timeout, heartbeat, backoff, offline/online, giving
 * up on 4401/4403/4404) is ManagedSocket's (managed_socket.ts); this class adds what is the
 * room's own: the starting point loaded before the first connection (`prepare`), the
 * sequenced stream with its `sync` and replay, and the catch-up after a reconnect.
 */
import type { TimerHandle } from "./clock";
import { ManagedSocket, type CloseReason, type ManagedSocketOptions } from "./managed_socket";
import {
  parseServerFrame,
  streamSequence,
  type ClientFrame,
  type FrameParseResult,
  type PingFrame,
  type PongFrame,
  type ServerFrame,
} from "./schemas";

// RoomSocket's options and status are made of these; re-exported for the room socket's users.
export type {
  CloseReason,
  ConnectionState,
  ConnectionStatus,
  LivenessOptions,
  SocketFactory,
  SocketLike,
} from "./managed_socket";

export interface FrameContext {
  /** True while the server replays stored messages after a connect or a sync. */
  replay: boolean;
}

export interface RoomSocketOptions extends ManagedSocketOptions {
  roomId: string;
  /** Builds the socket URL; `since` is the last contiguous sequence number. */
  urlFor: (roomId: string, since: number) => string;
  /**
   * Runs before each connection attempt until it succeeds once: loads what gives the
   * stream its starting point (the newest history page) and returns the last contiguous
   * sequence number. Throwing schedules a retry.
   */
  prepare: () => Promise<number>;
  onFrame: (frame: ServerFrame, ctx: FrameContext) => void;
  /** Without a `sync_complete` this long after asking, the socket is recycled. */
  syncTimeoutMs?: number;
}

export class RoomSocket extends ManagedSocket<ServerFrame> {
  protected readonly finalCloseCodes: Readonly<Record<number, CloseReason>> = {
    4401: "unauthorized",
    4403: "forbidden",
    4404: "not_found",
  };
  protected readonly stopMessage = "leaving room";
  private baseline: number | null = null;
  private lastSeq = 0;
  private replaying = false;
  private syncRequested = false;
  private syncTimer: TimerHandle | null = null;
  private lastServerTime: string | null = null;
  /** The newest server time seen before the connection was lost: the `since_time` of the catch-up sync. */
  private lastServerTimeBeforeConnect: string | null = null;

  constructor(private readonly opts: RoomSocketOptions) {
    super(opts);
  }

  /** The last sequence number delivered without a gap. */
  get lastSequence(): number {
    return this.lastSeq;
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
    if (this.state !== "live" && this.state !== "syncing") return false;
    return this.transmit(frame);
  }

  protected override sendPing(frame: PingFrame): boolean {
    return this.send(frame);
  }

  protected parse(text: string): FrameParseResult {
    return parseServerFrame(text);
  }

  protected socketUrl(): string {
    return this.opts.urlFor(this.opts.roomId, this.lastSeq);
  }

  protected attempt(generation: number): void {
    if (this.baseline !== null) {
      this.open(generation);
      return;
    }
    this.opts.prepare().then(
      (seq) => {
        if (!this.isCurrent(generation)) return;
        this.baseline = seq;
        this.lastSeq = seq;
        this.open(generation);
      },
      () => {
        if (!this.isCurrent(generation)) return;
        this.fail(null);
      },
    );
  }

  private open(generation: number): void {
    this.replaying = false;
    this.syncRequested = false;
    this.openSocket(generation);
  }

  protected handleFrame(frame: Exclude<ServerFrame, PongFrame>): void {
    switch (frame.type) {
      case "connected":
        this.greeted();
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

  private requestSync(sinceTime?: string): void {
    if (this.syncRequested || !this.socket) return;
    const frame: ClientFrame = sinceTime
      ? { type: "sync", since: this.lastSeq, since_time: sinceTime }
      : { type: "sync", since: this.lastSeq };
    if (!this.transmit(frame)) return;
    this.syncRequested = true;
    this.replaying = true;
    this.clearSyncTimer();
    this.syncTimer = this.opts.clock.setTimeout(() => {
      this.syncTimer = null;
      // The server never finished the replay: start over on a fresh connection.
      this.connectionDead("sync timeout");
    }, this.opts.syncTimeoutMs ?? 15_000);
  }

  /** The stream resumes from `lastSeq` on the next connection; the replay state is this one's. */
  protected override connectionLost(): void {
    if (this.hasBeenLive && this.lastServerTimeBeforeConnect === null) {
      this.lastServerTimeBeforeConnect = this.lastServerTime;
    }
    this.replaying = false;
    this.syncRequested = false;
  }

  protected override stopTimers(): void {
    this.clearSyncTimer();
    super.stopTimers();
  }

  private clearSyncTimer(): void {
    if (this.syncTimer !== null) this.opts.clock.clearTimeout(this.syncTimer);
    this.syncTimer = null;
  }

  private noteServerTime(iso: string): void {
    if (this.lastServerTime === null || iso > this.lastServerTime) this.lastServerTime = iso;
  }
}

/** The socket URL for this page's origin: ws(s)://host/ws/{room}?since=N. */
export function roomSocketUrl(location: { protocol: string; host: string }, roomId: string, since: number): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/${encodeURIComponent(roomId)}?since=${since}`;
}
