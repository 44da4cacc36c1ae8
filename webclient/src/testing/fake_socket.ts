import type { SocketFactory, SocketLike } from "../net/managed_socket";

/** A WebSocket stand-in the test drives by hand: open it, push frames in, close it. */
export class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: unknown[] = [];
  closedWith: { code?: number; reason?: string } | null = null;

  /** Answer heartbeat pings at once, like a healthy server (tests of the heartbeat turn it off). */
  autoPong: boolean;

  constructor(
    readonly url: string,
    autoPong = true,
  ) {
    this.autoPong = autoPong;
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    const frame = JSON.parse(data) as { type?: string; id?: string };
    this.sent.push(frame);
    if (this.autoPong && frame.type === "ping") {
      this.receive({ type: "pong", id: frame.id ?? null, server_time: "2025-11-17T10:00:00.000Z" });
    }
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  // ---- driven by the test

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }

  serverClose(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  sentOfType(type: string): Record<string, unknown>[] {
    return this.sent.filter((f): f is Record<string, unknown> => (f as { type?: string }).type === type);
  }
}

export class FakeSocketServer {
  readonly sockets: FakeSocket[] = [];
  /** Whether sockets created from now on answer pings by themselves. */
  autoPong = true;

  readonly factory: SocketFactory = (url) => {
    const s = new FakeSocket(url, this.autoPong);
    this.sockets.push(s);
    return s;
  };

  get last(): FakeSocket {
    const s = this.sockets[this.sockets.length - 1];
    if (!s) throw new Error("no socket was opened");
    return s;
  }

  /** The newest socket whose URL contains `part` (e.g. "/ws/room-1" or "/ws?"). */
  lastMatching(part: string): FakeSocket {
    for (let i = this.sockets.length - 1; i >= 0; i--) {
      if (this.sockets[i]!.url.includes(part)) return this.sockets[i]!;
    }
    throw new Error(`no socket matching ${part} was opened`);
  }
}
