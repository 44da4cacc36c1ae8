import { beforeEach, describe, expect, it } from "vitest";
import { FakeClock, sequenceRandom } from "../testing/fake_clock";
import { FakeSocketServer } from "../testing/fake_socket";
import { connectedFrame, flush, messageFrame, ROOM, syncComplete } from "../testing/fixtures";
import type { ServerFrame } from "./schemas";
import { RoomSocket, roomSocketUrl, type ConnectionStatus } from "./socket";

interface Harness {
  clock: FakeClock;
  server: FakeSocketServer;
  socket: RoomSocket;
  frames: { frame: ServerFrame; replay: boolean }[];
  statuses: ConnectionStatus[];
  prepareCalls: number;
  prepareResult: () => Promise<number>;
}

function harness(opts: { baseline?: number; random?: () => number; autoPong?: boolean; online?: { value: boolean } } = {}): Harness {
  const h = {
    clock: new FakeClock(),
    server: new FakeSocketServer(),
    frames: [],
    statuses: [],
    prepareCalls: 0,
    prepareResult: () => Promise.resolve(opts.baseline ?? 0),
  } as unknown as Harness;
  h.socket = new RoomSocket({
    roomId: ROOM,
    factory: h.server.factory,
    clock: h.clock,
    random: opts.random ?? (() => 0.5),
    urlFor: (room, since) => `ws://test/ws/${room}?since=${since}`,
    prepare: () => {
      h.prepareCalls += 1;
      return h.prepareResult();
    },
    onFrame: (frame, ctx) => h.frames.push({ frame, replay: ctx.replay }),
    onStatus: (s) => h.statuses.push(s),
    ...(opts.online ? { isOnline: () => opts.online!.value } : {}),
  });
  h.server.autoPong = opts.autoPong ?? true;
  return h;
}

const seqs = (h: Harness) =>
  h.frames.flatMap((f) => (f.frame.type === "message" ? [f.frame.message.sequence_number] : []));

async function connectLive(h: Harness, last: number) {
  h.socket.start();
  await flush();
  h.server.last.open();
  h.server.last.receive(connectedFrame(last));
  h.server.last.receive(syncComplete(last));
}

describe("RoomSocket connecting", () => {
  let h: Harness;
  beforeEach(() => {
    h = harness({ baseline: 40 });
  });

  it("connects with since = the last sequence number of the loaded history", async () => {
    h.socket.start();
    await flush();
    expect(h.server.last.url).toBe(`ws://test/ws/${ROOM}?since=40`);
    expect(h.socket.status.state).toBe("connecting");
  });

  it("is syncing until sync_complete, then live; replayed frames are flagged", async () => {
    h.socket.start();
    await flush();
    h.server.last.open();
    h.server.last.receive(connectedFrame(42));
    expect(h.socket.status.state).toBe("syncing");
    h.server.last.receive(messageFrame(41));
    h.server.last.receive(messageFrame(42));
    h.server.last.receive(syncComplete(42));
    expect(h.socket.status.state).toBe("live");
    h.server.last.receive(messageFrame(43));
    expect(h.frames.filter((f) => f.frame.type === "message").map((f) => f.replay)).toEqual([true, true, false]);
    expect(h.socket.lastSequence).toBe(43);
  });

  it("retries the history load with backoff when it fails, before opening any socket", async () => {
    let fail = true;
    h.prepareResult = () => (fail ? Promise.reject(new Error("offline")) : Promise.resolve(7));
    h.socket.start();
    await flush();
    expect(h.server.sockets).toHaveLength(0);
    expect(h.socket.status.state).toBe("waiting");
    fail = false;
    h.clock.advance(h.clock.pendingDelays()[0]!);
    await flush();
    expect(h.prepareCalls).toBe(2);
    expect(h.server.last.url).toContain("since=7");
  });
});

describe("RoomSocket stream ordering", () => {
  it("drops duplicates so each number is delivered once", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    h.server.last.receive(messageFrame(1));
    h.server.last.receive(messageFrame(1));
    h.server.last.receive(messageFrame(2));
    expect(seqs(h)).toEqual([1, 2]);
  });

  it("on a gap asks for a sync from the last contiguous number and delivers in order", async () => {
    const h = harness({ baseline: 10 });
    await connectLive(h, 10);
    h.server.last.receive(messageFrame(11));
    h.server.last.receive(messageFrame(13)); // 12 is missing
    h.server.last.receive(messageFrame(14));
    expect(seqs(h)).toEqual([11]);
    expect(h.server.last.sentOfType("sync")).toEqual([{ type: "sync", since: 11 }]);
    // The server replays everything after 11.
    h.server.last.receive(messageFrame(12));
    h.server.last.receive(messageFrame(13));
    h.server.last.receive(messageFrame(14));
    h.server.last.receive(syncComplete(14));
    expect(seqs(h)).toEqual([11, 12, 13, 14]);
    expect(h.socket.status.state).toBe("live");
  });

  it("sends only one sync while one is outstanding", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    h.server.last.receive(messageFrame(3));
    h.server.last.receive(messageFrame(4));
    h.server.last.receive(messageFrame(5));
    expect(h.server.last.sentOfType("sync")).toHaveLength(1);
  });

  it("treats stored system events as part of the sequence", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    h.server.last.receive(messageFrame(1));
    h.server.last.receive({
      type: "system",
      event: "member_added",
      message_id: "s-2",
      sequence_number: 2,
      user_id: "new@plant.example",
      actor_id: "boss@plant.example",
      role: "EDITOR",
      timestamp: "2025-11-17T10:00:02.000Z",
    });
    h.server.last.receive(messageFrame(3));
    expect(h.server.last.sentOfType("sync")).toHaveLength(0);
    expect(h.socket.lastSequence).toBe(3);
  });

  it("does not treat message_deleted's sequence number as a new position", async () => {
    const h = harness({ baseline: 5 });
    await connectLive(h, 5);
    h.server.last.receive({
      type: "message_deleted",
      message_id: "m-2",
      room_id: ROOM,
      sequence_number: 2,
      deleted_at: "2025-11-17T10:01:00.000Z",
      deleted_by: "op@plant.example",
    });
    expect(h.frames.map((f) => f.frame.type)).toContain("message_deleted");
    expect(h.socket.lastSequence).toBe(5);
    expect(h.server.last.sentOfType("sync")).toHaveLength(0);
  });

  it("recycles the socket when a sync never completes", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    h.server.last.receive(messageFrame(2));
    const first = h.server.last;
    h.clock.advance(15_000);
    expect(first.closedWith?.code).toBe(4000);
    expect(h.socket.status.state).toBe("waiting");
  });

  it("reports an invalid frame instead of dispatching it", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    const before = h.frames.length;
    h.server.last.receive("{not json");
    h.server.last.receive({ type: "message", content: "no id" });
    h.server.last.receive({ type: "something_new" });
    expect(h.frames.length).toBe(before);
  });
});

describe("RoomSocket reconnecting", () => {
  it("reconnects after an unexpected close with since = last contiguous number", async () => {
    const h = harness({ baseline: 3 });
    await connectLive(h, 3);
    h.server.last.receive(messageFrame(4));
    h.server.last.serverClose(1006);
    expect(h.socket.status.state).toBe("waiting");
    h.clock.advance(h.clock.pendingDelays()[0]!);
    await flush();
    expect(h.server.sockets).toHaveLength(2);
    expect(h.server.last.url).toContain("since=4");
    expect(h.prepareCalls).toBe(1); // history is not reloaded
  });

  it("backs off exponentially with jitter while the server stays away, and resets once live", async () => {
    const h = harness({ baseline: 0, random: sequenceRandom(0.5) });
    await connectLive(h, 0);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      h.server.last.serverClose(1006);
      const d = h.clock.pendingDelays()[0]!;
      delays.push(d);
      h.clock.advance(d);
      await flush();
      h.server.last.open();
    }
    expect(delays).toEqual([300, 600, 1200, 1875, 1875]);
    h.server.last.receive(connectedFrame(0));
    h.server.last.receive(syncComplete(0));
    h.server.last.serverClose(1006);
    expect(h.clock.pendingDelays()[0]).toBe(300);
  });

  it("after a reconnect asks for edits made while away with since_time", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    h.server.last.receive(messageFrame(1, { created_at: "2025-11-17T10:06:00.000Z" }));
    h.server.last.serverClose(1011);
    h.clock.advance(h.clock.pendingDelays()[0]!);
    await flush();
    h.server.last.open();
    h.server.last.receive(connectedFrame(1));
    h.server.last.receive(syncComplete(1, "2025-11-17T10:09:00.000Z"));
    expect(h.server.last.sentOfType("sync")).toEqual([
      { type: "sync", since: 1, since_time: "2025-11-17T10:06:00.000Z" },
    ]);
  });

  it("stops for good on 4401, 4403 and 4404", async () => {
    for (const [code, reason] of [
      [4401, "unauthorized"],
      [4403, "forbidden"],
      [4404, "not_found"],
    ] as const) {
      const h = harness({ baseline: 0 });
      await connectLive(h, 0);
      h.server.last.serverClose(code);
      expect(h.socket.status).toMatchObject({ state: "closed", closeReason: reason });
      expect(h.clock.pendingDelays()).toEqual([]);
    }
  });

  it("retries at once when asked (the browser came back online)", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    h.server.last.serverClose(1006);
    h.socket.retryNow();
    await flush();
    expect(h.server.sockets).toHaveLength(2);
  });

  it("ignores events from a socket it has replaced", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    const old = h.server.last;
    old.serverClose(1006);
    h.clock.advance(h.clock.pendingDelays()[0]!);
    await flush();
    old.receive(messageFrame(1));
    expect(seqs(h)).toEqual([]);
  });

  it("stop() closes the socket and cancels retries", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    const s = h.server.last;
    h.socket.stop();
    expect(s.closedWith?.code).toBe(1000);
    expect(h.socket.status.state).toBe("closed");
    expect(h.clock.pendingDelays()).toEqual([]);
  });
});

describe("RoomSocket liveness", () => {
  it("answers nothing to onFrame for pongs, and stays live while they come back", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    h.clock.advance(60_000);
    expect(h.server.sockets).toHaveLength(1);
    expect(h.server.last.sentOfType("ping").length).toBeGreaterThanOrEqual(10);
    expect(h.frames.map((f) => f.frame.type)).not.toContain("pong");
    expect(h.socket.status.state).toBe("live");
  });

  it("closes a connection whose ping goes unanswered for 3 s and resumes from the last number", async () => {
    const h = harness({ baseline: 0, autoPong: false });
    await connectLive(h, 0);
    h.server.last.receive(messageFrame(1));
    h.clock.advance(8_000);
    expect(h.server.sockets[0]!.closedWith?.code).toBe(4000);
    expect(h.socket.status.state).toBe("waiting");
    h.clock.advance(h.clock.pendingDelays()[0]!);
    await flush();
    expect(h.server.last.url).toContain("since=1");
  });

  it("shows offline at once when the browser goes offline, without retrying, and reconnects when it is back", async () => {
    const online = { value: true };
    const h = harness({ baseline: 2, online });
    await connectLive(h, 2);
    online.value = false;
    h.socket.networkChanged(false);
    expect(h.socket.status.state).toBe("offline");
    expect(h.server.sockets[0]!.closedWith?.code).toBe(4000);
    h.clock.advance(60_000);
    expect(h.server.sockets).toHaveLength(1);
    online.value = true;
    h.socket.networkChanged(true);
    await flush();
    expect(h.server.sockets).toHaveLength(2);
    expect(h.server.last.url).toContain("since=2");
  });

  it("waits for the network before loading the first history page", async () => {
    const online = { value: false };
    const h = harness({ baseline: 0, online });
    h.socket.start();
    await flush();
    expect(h.prepareCalls).toBe(0);
    expect(h.socket.status.state).toBe("offline");
    online.value = true;
    h.socket.networkChanged(true);
    await flush();
    expect(h.prepareCalls).toBe(1);
    expect(h.server.sockets).toHaveLength(1);
  });

  it("forbid() gives up for good (the user stream said we were removed)", async () => {
    const h = harness({ baseline: 0 });
    await connectLive(h, 0);
    h.socket.forbid();
    expect(h.socket.status).toMatchObject({ state: "closed", closeReason: "forbidden" });
    expect(h.clock.pendingDelays()).toEqual([]);
  });
});

describe("roomSocketUrl", () => {
  it("uses wss on https and the page's host", () => {
    expect(roomSocketUrl({ protocol: "https:", host: "andon.example:8443" }, "a b", 5)).toBe(
      "wss://andon.example:8443/ws/a%20b?since=5",
    );
    expect(roomSocketUrl({ protocol: "http:", host: "127.0.0.1:8000" }, "r", 0)).toBe("ws://127.0.0.1:8000/ws/r?since=0");
  });
});
