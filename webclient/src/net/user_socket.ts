/**
 * The user's stream (`/ws`, docs/user-stream.md): what concerns the signed-in user across
 * all their rooms (room list state, mentions, membership). Every frame is a state frame and
 * each connection starts with a full `connected` snapshot, so there is nothing to resume:
 * reconnecting simply replaces the state.
 *
 * The connection's lifecycle (connect timeout, heartbeat, backoff, offline/online, giving
 * up on 4401/4403) is ManagedSocket's (managed_socket.ts), as for the room socket. No DOM:
 * the WebSocket constructor, clock and random source are injected.
 */
import { ManagedSocket, type CloseReason, type ManagedSocketOptions } from "./managed_socket";
import { parseUserFrame, type ParseResult, type PongFrame, type UserServerFrame } from "./schemas";

export interface UserFrameContext {
  /** The frame is the `connected` snapshot, not a live change (it must not alert). */
  snapshot: boolean;
}

export interface UserSocketOptions extends ManagedSocketOptions {
  url: () => string;
  onFrame: (frame: UserServerFrame, ctx: UserFrameContext) => void;
}

export class UserSocket extends ManagedSocket<UserServerFrame> {
  protected readonly finalCloseCodes: Readonly<Record<number, CloseReason>> = {
    4401: "unauthorized",
    4403: "forbidden",
  };
  protected readonly stopMessage = "signed out";
  private started = false;

  constructor(private readonly opts: UserSocketOptions) {
    super(opts);
  }

  /** Connects once; later calls do nothing. */
  override start(): void {
    if (this.started) return;
    this.started = true;
    super.start();
  }

  override stop(): void {
    if (this.stopped) return;
    super.stop();
  }

  /** Network events before `start()` are ignored: the first attempt checks the network itself. */
  override networkChanged(online: boolean): void {
    if (!this.started) return;
    super.networkChanged(online);
  }

  protected parse(text: string): ParseResult<UserServerFrame> {
    return parseUserFrame(text);
  }

  protected socketUrl(): string {
    return this.opts.url();
  }

  protected attempt(generation: number): void {
    this.openSocket(generation);
  }

  protected handleFrame(frame: Exclude<UserServerFrame, PongFrame>): void {
    if (frame.type === "connected") {
      this.greeted();
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
}

/** The user stream's URL for this page's origin: ws(s)://host/ws. */
export function userSocketUrl(location: { protocol: string; host: string }): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws`;
}
