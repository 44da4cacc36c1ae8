import { describe, expect, it } from "vitest";
import { FakeClock } from "../testing/fake_clock";
import { FakeSocketServer } from "../testing/fake_socket";
import { ManagedSocket, type CloseReason, type ConnectionStatus, type ManagedSocketOptions } from "./managed_socket";
import type { ParseResult, PongFrame } from "./schemas";

type TestFrame = { type: "hello" } | { type: "note"; text: string } | PongFrame;

/** The smallest protocol on top of the lifecycle: `hello` greets and makes it live, `note`s are recorded. */
class TestSocket extends ManagedSocket<TestFrame> {
  protected readonly finalCloseCodes: Readonly<Record<number, CloseReason>> = { 4401: "unauthorized" };
  protected readonly stopMessage = "test over";
  readonly frames: TestFrame[] = [];
  lost = 0;

  protected parse(text: string): ParseResult<TestFrame> {
    try {
      return { ok: true, frame: JSON.parse(text) as TestFrame };
    } catch {
      return { ok: false, reason: "invalid_json", detail: text };
    }
  }

  protected socketUrl(): string {
    return "ws://test/managed";
  }

  protected attempt(generation: number): void {
    this.openSocket(generation);
  }

  protected handleFrame(frame: Exclude<TestFrame, PongFrame>): void {
    this.frames.push(frame);
    if (frame.type === "hello") {
      this.greeted();
      this.hasBeenLive = true;
      this.reconnector.succeeded();
      this.setState("live");
    }
  }

  protected override connectionLost(): void {
    this.lost += 1;
  }
}

function harness(over: Partial<ManagedSocketOptions> = {}) {
  const clock = new FakeClock();
  const server = new FakeSocketServer();
  const statuses: ConnectionStatus[] = [];
  const invalid: string[] = [];
  const net = { online: true };
  const socket = new TestSocket({
    factory: server.factory,
    clock,
    random: () => 0.5,
    onStatus: (s) => statuses.push(s),
    onInvalidFrame: (d) => invalid.push(d),
    isOnline: () => net.online,
    ...over,
  });
  const goLive = () => {
    server.last.open();
    server.last.receive({ type: "hello" });
  };
  return { clock, server, statuses, invalid, net, socket, goLive };
}

describe("ManagedSocket", () => {
  it("recycles a socket that does not greet within the connect timeout, then retries after the backoff", () => {
    const h = harness({ connectTimeoutMs: 1_000 });
    h.socket.start();
    h.server.last.open();
    h.clock.advance(999);
    expect(h.socket.status.state).toBe("connecting");
    h.clock.advance(1);
    expect(h.server.sockets[0]!.closedWith).toEqual({ code: 4000, reason: "connect timeout" });
    expect(h.socket.status).toMatchObject({ state: "waiting", attempt: 1 });
    // Equal jitter at 0.5: three quarters of the 400 ms base.
    h.clock.advance(300);
    expect(h.server.sockets).toHaveLength(2);
    h.goLive();
    expect(h.socket.status).toMatchObject({ state: "live", attempt: 0, hasBeenLive: true });
    h.clock.advance(5_000);
    expect(h.socket.status.state).toBe("live"); // the greeting ended the connect timeout
  });

  it("backs off longer after each failure and starts over once healthy", () => {
    const h = harness();
    h.socket.start();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      h.server.last.serverClose(1012);
      delays.push(h.socket.status.retryAt! - h.clock.now());
      h.clock.advance(h.socket.status.retryAt! - h.clock.now());
    }
    expect(delays).toEqual([300, 600, 1_200, 1_875]);
    expect(h.socket.status.lastCloseCode).toBe(1012);
    h.goLive();
    h.server.last.serverClose(1012);
    expect(h.socket.status.retryAt! - h.clock.now()).toBe(300);
    expect(h.socket.lost).toBe(5);
  });

  it("gives up for good on a final close code", () => {
    const h = harness();
    h.socket.start();
    h.goLive();
    h.server.last.serverClose(4401);
    expect(h.socket.status).toMatchObject({ state: "closed", closeReason: "unauthorized", lastCloseCode: 4401 });
    h.clock.advance(60_000);
    h.socket.retryNow();
    h.socket.networkChanged(true);
    expect(h.server.sockets).toHaveLength(1);
  });

  it("ignores what a dropped socket says afterwards", () => {
    const h = harness();
    h.socket.start();
    h.goLive();
    const old = h.server.last;
    h.socket.networkChanged(false);
    h.socket.networkChanged(true);
    expect(h.server.sockets).toHaveLength(2);
    old.receive({ type: "note", text: "late" });
    old.serverClose(1006);
    expect(h.socket.frames).toEqual([{ type: "hello" }]);
    expect(h.socket.status.state).toBe("connecting");
  });

  it("while offline closes at once and attempts nothing until online or Retry now", () => {
    const h = harness();
    h.socket.start();
    h.goLive();
    h.net.online = false;
    h.socket.networkChanged(false);
    expect(h.server.sockets[0]!.closedWith).toEqual({ code: 4000, reason: "offline" });
    expect(h.socket.status.state).toBe("offline");
    expect(h.socket.lost).toBe(1);
    h.clock.advance(60_000);
    expect(h.server.sockets).toHaveLength(1);
    h.socket.retryNow(); // the user asks: tried even though the browser says offline
    expect(h.server.sockets).toHaveLength(2);
    h.server.last.serverClose(1006);
    expect(h.socket.status).toMatchObject({ state: "offline", retryAt: null });
    h.net.online = true;
    h.socket.networkChanged(true);
    expect(h.server.sockets).toHaveLength(3);
    expect(h.socket.status.state).toBe("connecting");
  });

  it("closes a connection whose pings go unanswered; pongs never reach the protocol", () => {
    const h = harness({ heartbeat: { intervalMs: 1_000, timeoutMs: 500 } });
    h.server.autoPong = false;
    h.socket.start();
    h.goLive();
    h.clock.advance(1_000);
    const ping = h.server.last.sentOfType("ping")[0]!;
    h.server.last.receive({ type: "pong", id: ping.id, server_time: null });
    h.clock.advance(1_000 + 499);
    expect(h.socket.status.state).toBe("live");
    h.clock.advance(1);
    expect(h.server.sockets[0]!.closedWith).toEqual({ code: 4000, reason: "heartbeat timeout" });
    expect(h.socket.status.state).toBe("waiting");
    expect(h.socket.frames).toEqual([{ type: "hello" }]);
  });

  it("reports frames it cannot decode and stays connected", () => {
    const h = harness();
    h.socket.start();
    h.goLive();
    h.server.last.receive("{not json");
    expect(h.invalid).toEqual(["invalid_json: {not json"]);
    expect(h.socket.status.state).toBe("live");
  });

  it("stop closes with its reason and nothing is attempted afterwards", () => {
    const h = harness();
    h.socket.start();
    h.goLive();
    h.socket.stop();
    expect(h.server.last.closedWith).toEqual({ code: 1000, reason: "test over" });
    expect(h.socket.status).toMatchObject({ state: "closed", closeReason: "stopped" });
    h.socket.retryNow();
    h.socket.networkChanged(true);
    h.clock.advance(60_000);
    expect(h.server.sockets).toHaveLength(1);
  });
});
