import { describe, expect, it } from "vitest";
import { FakeClock, sequenceRandom } from "../testing/fake_clock";
import { FakeSocketServer } from "../testing/fake_socket";
import { flush, ME } from "../testing/fixtures";
import type { UserServerFrame } from "./schemas";
import type { ConnectionStatus } from "./socket";
import { UserSocket, userSocketUrl, type UserSocketOptions } from "./user_socket";

const URL = "ws://test/ws";

function harness(over: Partial<UserSocketOptions> = {}, opts: { autoPong?: boolean } = {}) {
  const clock = new FakeClock();
  const server = new FakeSocketServer();
  server.autoPong = opts.autoPong ?? true;
  const frames: { frame: UserServerFrame; snapshot: boolean }[] = [];
  const statuses: ConnectionStatus[] = [];
  const invalid: string[] = [];
  const net = { online: true };
  const socket = new UserSocket({
    factory: server.factory,
    clock,
    random: () => 0.5,
    url: () => URL,
    onFrame: (frame, ctx) => frames.push({ frame, snapshot: ctx.snapshot }),
    onStatus: (s) => statuses.push(s),
    onInvalidFrame: (d) => invalid.push(d),
    isOnline: () => net.online,
    ...over,
  });
  return { clock, server, frames, statuses, invalid, socket, net };
}

const connected = (rooms: unknown[] = []) => ({
  type: "connected",
  user_id: ME,
  server_time: "2025-11-17T10:00:00.000Z",
  rooms,
});

const roomEntry = {
  room_id: "r1",
  title: "Line 1",
  status: "active",
  role: "EDITOR",
  last_sequence_number: 42,
  unread_count: 3,
  unread_mentions: 1,
  last_message_at: "2026-12-04T08:00:00.000Z",
  preview: {
    message_id: "m-42",
    sender_id: "op@x",
    sender_display_name: "Operator",
    message_type: "text",
    content: "oven at 90",
    created_at: "2026-12-04T08:00:00.000Z",
  },
};

function live(h: ReturnType<typeof harness>, rooms: unknown[] = []) {
  h.socket.start();
  h.server.last.open();
  h.server.last.receive(connected(rooms));
}

describe("UserSocket connecting", () => {
  it("connects to /ws and is live once the snapshot has been delivered", () => {
    const h = harness();
    h.socket.start();
    expect(h.server.last.url).toBe(URL);
    expect(h.socket.status.state).toBe("connecting");
    h.server.last.open();
    h.server.last.receive(connected([roomEntry]));
    expect(h.socket.status).toMatchObject({ state: "live", hasBeenLive: true });
    expect(h.frames).toHaveLength(1);
    expect(h.frames[0]!.snapshot).toBe(true);
    const frame = h.frames[0]!.frame;
    expect(frame.type === "connected" && frame.rooms[0]).toMatchObject({
      room_id: "r1",
      unread_mentions: 1,
      preview: { sender_display_name: "Operator", content: "oven at 90" },
    });
  });

  it("decodes a preview's sender_is_bot, false from a server that does not send it", () => {
    const h = harness();
    live(h, [roomEntry]);
    const first = h.frames[0]!.frame;
    expect(first.type === "connected" && first.rooms[0]!.preview!.sender_is_bot).toBe(false);
    const botPreview = { ...roomEntry.preview, message_id: "m-43", sender_display_name: "Prometheus", sender_is_bot: true };
    h.server.last.receive({ type: "room_activity", room_id: "r1", last_sequence_number: 43, last_message_at: null, preview: botPreview });
    const activity = h.frames[1]!.frame;
    expect(activity.type === "room_activity" && activity.preview).toMatchObject({ sender_display_name: "Prometheus", sender_is_bot: true });
  });

  it("decodes every live frame and flags none of them as the snapshot", () => {
    const h = harness();
    live(h);
    const s = h.server.last;
    s.receive({ type: "room_activity", room_id: "r1", last_sequence_number: 43, unread_count: 4, unread_mentions: 1, last_message_at: "2026-12-04T08:01:00.000Z", preview: null });
    s.receive({ type: "mention", room_id: "r1", room_title: "Line 1", message_id: "m-43", sequence_number: 43, sender_display_name: "Op", preview: "@Me" });
    s.receive({ type: "room_added", ...roomEntry, room_id: "r2" });
    s.receive({ type: "room_removed", room_id: "r2" });
    s.receive({ type: "room_status_changed", room_id: "r1", status: "resolved" });
    s.receive({ type: "role_changed", room_id: "r1", role: "VIEWER" });
    s.receive({ type: "error", code: "invalid", message: "bad frame" });
    expect(h.frames.slice(1).map((f) => [f.frame.type, f.snapshot])).toEqual([
      ["room_activity", false],
      ["mention", false],
      ["room_added", false],
      ["room_removed", false],
      ["room_status_changed", false],
      ["role_changed", false],
      ["error", false],
    ]);
    const added = h.frames[3]!.frame;
    expect(added.type === "room_added" && added.room.room_id).toBe("r2");
  });

  it("reports invalid frames instead of dispatching them", () => {
    const h = harness();
    live(h);
    h.server.last.receive("{nope");
    h.server.last.receive({ type: "room_activity", room_id: "r1" }); // no last_sequence_number
    h.server.last.receive({ type: "room_status_changed", room_id: "r1", status: "exploded" });
    h.server.last.receive({ type: "brand_new" });
    expect(h.frames).toHaveLength(1);
    expect(h.invalid).toHaveLength(4);
  });

  it("gives up on 4401 and 4403 without retrying", () => {
    for (const [code, reason] of [
      [4401, "unauthorized"],
      [4403, "forbidden"],
    ] as const) {
      const h = harness();
      live(h);
      h.server.last.serverClose(code);
      expect(h.socket.status).toMatchObject({ state: "closed", closeReason: reason });
      expect(h.clock.pendingDelays()).toEqual([]);
    }
  });

  it("stop() closes the socket and cancels everything", () => {
    const h = harness();
    live(h);
    const s = h.server.last;
    h.socket.stop();
    expect(s.closedWith?.code).toBe(1000);
    expect(h.socket.status.state).toBe("closed");
    expect(h.clock.pendingDelays()).toEqual([]);
  });

  it("builds its URL from the page's origin", () => {
    expect(userSocketUrl({ protocol: "https:", host: "andon.example" })).toBe("wss://andon.example/ws");
    expect(userSocketUrl({ protocol: "http:", host: "127.0.0.1:8000" })).toBe("ws://127.0.0.1:8000/ws");
  });
});

describe("UserSocket reconnecting", () => {
  it("reconnects with a fresh snapshot after a drop", () => {
    const h = harness();
    live(h, [roomEntry]);
    h.server.last.serverClose(1012);
    expect(h.socket.status.state).toBe("waiting");
    h.clock.advance(h.clock.pendingDelays()[0]!);
    expect(h.server.sockets).toHaveLength(2);
    h.server.last.open();
    h.server.last.receive(connected([]));
    expect(h.frames.filter((f) => f.snapshot)).toHaveLength(2);
    expect(h.socket.status.state).toBe("live");
  });

  it("never waits more than 2.5 s between attempts, and starts small again once live", () => {
    const h = harness({ random: sequenceRandom(0.999999) });
    live(h);
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      h.server.last.serverClose(1006);
      const d = h.clock.pendingDelays()[0]!;
      delays.push(d);
      h.clock.advance(d);
    }
    expect(Math.max(...delays)).toBeLessThanOrEqual(2_500);
    expect(delays[0]).toBeLessThanOrEqual(500);
    h.server.last.open();
    h.server.last.receive(connected());
    h.server.last.serverClose(1006);
    expect(h.clock.pendingDelays()[0]).toBeLessThanOrEqual(500);
  });

  it("recycles a socket that never sends its snapshot", () => {
    const h = harness();
    h.socket.start();
    h.server.last.open();
    h.clock.advance(10_000);
    expect(h.server.sockets[0]!.closedWith?.code).toBe(4000);
    expect(h.socket.status.state).toBe("waiting");
  });

  it("retries at once when asked", () => {
    const h = harness();
    live(h);
    h.server.last.serverClose(1006);
    h.socket.retryNow();
    expect(h.server.sockets).toHaveLength(2);
    expect(h.clock.pendingDelays()).toEqual([10_000]); // only the new socket's connect timeout
  });
});

describe("UserSocket heartbeat", () => {
  it("pings every 5 s and stays up while pongs come back", () => {
    const h = harness();
    live(h);
    h.clock.advance(60_000);
    expect(h.server.sockets).toHaveLength(1);
    expect(h.server.last.sentOfType("ping").length).toBeGreaterThanOrEqual(10);
    expect(h.server.last.sentOfType("ping")[0]).toEqual({ type: "ping", id: "hb-1" });
    expect(h.socket.status.state).toBe("live");
  });

  it("declares the connection dead 3 s after an unanswered ping, closes it and reconnects", () => {
    const h = harness({}, { autoPong: false });
    live(h);
    h.clock.advance(5_000);
    expect(h.server.last.sentOfType("ping")).toHaveLength(1);
    h.clock.advance(2_999);
    expect(h.socket.status.state).toBe("live");
    h.clock.advance(1);
    expect(h.server.sockets[0]!.closedWith?.code).toBe(4000);
    expect(h.socket.status.state).toBe("waiting");
    h.clock.advance(h.clock.pendingDelays()[0]!);
    expect(h.server.sockets).toHaveLength(2);
  });

  it("does not kill a connection that is busy delivering frames while the pong is late", () => {
    const h = harness({}, { autoPong: false });
    live(h);
    h.clock.advance(5_000);
    h.clock.advance(2_000);
    h.server.last.receive({ type: "room_removed", room_id: "x" });
    h.clock.advance(1_000); // timeout: there was traffic, so ping again
    expect(h.socket.status.state).toBe("live");
    expect(h.server.last.sentOfType("ping")).toHaveLength(2);
    h.server.last.receive({ type: "pong", id: "hb-2", server_time: "2025-11-17T10:00:08.000Z" });
    h.clock.advance(4_000);
    expect(h.socket.status.state).toBe("live");
  });
});

describe("UserSocket and the browser's network events", () => {
  it("goes offline at once, closes the socket and schedules nothing; back online it connects at once", () => {
    const h = harness();
    live(h);
    const first = h.server.last;
    h.net.online = false;
    h.socket.networkChanged(false);
    expect(h.socket.status.state).toBe("offline");
    expect(first.closedWith?.code).toBe(4000);
    expect(h.clock.pendingDelays()).toEqual([]);
    h.clock.advance(120_000);
    expect(h.server.sockets).toHaveLength(1); // no spinning while offline
    h.net.online = true;
    h.socket.networkChanged(true);
    expect(h.server.sockets).toHaveLength(2);
    expect(h.socket.status.state).toBe("connecting");
  });

  it("does not try while the browser starts offline, and stays offline after a failed manual retry", async () => {
    const h = harness();
    h.net.online = false;
    h.socket.start();
    expect(h.server.sockets).toHaveLength(0);
    expect(h.socket.status.state).toBe("offline");
    h.socket.retryNow(); // the user insists
    expect(h.server.sockets).toHaveLength(1);
    h.server.last.serverClose(1006);
    await flush();
    expect(h.socket.status.state).toBe("offline");
    expect(h.clock.pendingDelays()).toEqual([]);
  });
});
