import { describe, expect, it } from "vitest";
import { ApiClient } from "../net/http";
import { MemoryOutbox } from "../net/memory_outbox";
import type { ChatMessage, MentionFrame } from "../net/schemas";
import { MemoryStore } from "../state/settings";
import { FakeClock } from "../testing/fake_clock";
import { FakeSocketServer } from "../testing/fake_socket";
import { connectedFrame, flush, ME, messageFrame, ROOM, syncComplete } from "../testing/fixtures";
import { AppSession, type AlertSink } from "./app_session";

type Handler = (init: RequestInit | undefined) => Response | Promise<Response>;

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const ROOM_OBJ = {
  room_id: ROOM,
  title: "Line 3",
  description: null,
  status: "active",
  role: "EDITOR",
  created_at: "2025-11-17T00:00:00.000Z",
  last_message_at: null,
  unread_count: 0,
};

function world(routes: Record<string, Handler>, storage = new MemoryStore()) {
  const calls: string[] = [];
  const fetchImpl = async (input: string, init?: RequestInit) => {
    calls.push(`${init?.method ?? "GET"} ${input}`);
    const path = input.split("?")[0]!;
    const handler = routes[`${init?.method ?? "GET"} ${path}`];
    return handler ? handler(init) : json({ status_code: 404, detail: "Not Found" }, 404);
  };
  const alerts = { messages: [] as ChatMessage[], mentions: [] as MentionFrame[] };
  const sink: AlertSink = {
    newMessage: (m) => alerts.messages.push(m),
    mention: (f) => alerts.mentions.push(f),
    clearRoom: async () => undefined,
  };
  const clock = new FakeClock();
  const server = new FakeSocketServer();
  const app = new AppSession({
    api: new ApiClient(fetchImpl),
    storage,
    openOutbox: async () => new MemoryOutbox(),
    socketFactory: server.factory,
    socketUrl: (r, since) => `ws://test/ws/${r}?since=${since}`,
    clock,
    random: () => 0.5,
    newClientId: () => "c-1",
    isFocused: () => false,
    alerts: sink,
  });
  return { app, calls, alerts, clock, server, storage };
}

const signedInRoutes: Record<string, Handler> = {
  "GET /api/me": () => json({ user_id: ME, display_name: "Me", is_admin: false }),
  "GET /api/rooms": () => json({ rooms: [ROOM_OBJ] }),
  "GET /api/rooms/room-1/messages": () => json({ messages: [], has_more: false, next_before_sequence: null }),
  "GET /api/rooms/room-1/members": () => json({ members: [] }),
};

describe("AppSession start-up", () => {
  it("signs in from the cookie session and falls back to default display settings", async () => {
    const { app } = world(signedInRoutes);
    await app.init();
    expect(app.auth.value).toBe("signed_in");
    expect(app.config.value).toEqual({ display_timezone: "Asia/Taipei", edit_window_seconds: 900, typing_timeout: 3 });
    expect(app.rooms.value.rooms.map((r) => r.title)).toEqual(["Line 3"]);
  });

  it("shows the sign-in page on 401", async () => {
    const { app } = world({ "GET /api/me": () => json({ status_code: 401, detail: "unauthorized" }, 401) });
    await app.init();
    expect(app.auth.value).toBe("signed_out");
  });

  it("opens offline with the last known user and rooms when the server is unreachable", async () => {
    const first = world(signedInRoutes);
    await first.app.init();
    const down = () => Promise.reject(new TypeError("Failed to fetch"));
    const { app } = world({ "GET /api/me": down, "GET /api/config": down }, first.storage);
    await app.init();
    expect(app.auth.value).toBe("signed_in");
    expect(app.offline.value).toBe(true);
    expect(app.rooms.value.rooms.map((r) => r.room_id)).toEqual([ROOM]);
  });

  it("leaves offline mode once a room connects again, with fresh settings and rooms", async () => {
    const first = world(signedInRoutes);
    await first.app.init();
    const down = () => Promise.reject(new TypeError("Failed to fetch"));
    const routes: Record<string, Handler> = {
      "GET /api/me": down,
      "GET /api/config": down,
      "GET /api/rooms": down,
      "GET /api/rooms/room-1/messages": down,
      "GET /api/rooms/room-1/members": down,
    };
    const w = world(routes, first.storage);
    await w.app.init();
    expect(w.app.offline.value).toBe(true);
    w.app.openRoom(ROOM);
    await flush();

    Object.assign(routes, signedInRoutes, {
      "GET /api/config": () => json({ display_timezone: "Asia/Tokyo", edit_window_seconds: 600, typing_timeout: 3 }),
      "GET /api/rooms": () => json({ rooms: [{ ...ROOM_OBJ, title: "Line 3 (renamed)", unread_count: 2 }] }),
    });
    // The history request failed, so the socket waits to retry: let it.
    w.clock.advance(30_000);
    await flush();
    expect(w.app.offline.value).toBe(true);
    w.server.last.open();
    w.server.last.receive(connectedFrame(0));
    await flush();
    expect(w.app.offline.value).toBe(false);
    expect(w.app.config.value.display_timezone).toBe("Asia/Tokyo");
    expect(w.app.rooms.value.rooms.map((r) => r.title)).toEqual(["Line 3 (renamed)"]);
    expect(w.calls.filter((c) => c === "GET /api/me")).toHaveLength(2);
  });

  it("forgets the cached user on sign-out", async () => {
    const w = world({ ...signedInRoutes, "POST /api/auth/logout": () => new Response(null, { status: 204 }) });
    await w.app.init();
    await w.app.signOut();
    expect(w.app.auth.value).toBe("signed_out");
    expect(w.storage.getItem("andon.last_user.v1")).toBeNull();
  });
});

describe("AppSession alerts", () => {
  async function openLive() {
    const w = world(signedInRoutes);
    await w.app.init();
    w.app.openRoom(ROOM);
    await flush();
    w.server.last.open();
    w.server.last.receive(connectedFrame(0));
    w.server.last.receive(syncComplete(0));
    await flush();
    return w;
  }

  it("alerts once for a mention: through the mention frame, with a toast that goes away", async () => {
    const w = await openLive();
    w.server.last.receive(messageFrame(1, { mentions: [ME], content: "@Me look" }));
    w.server.last.receive({
      type: "mention",
      room_id: ROOM,
      room_title: "Line 3",
      message_id: "m-1",
      sequence_number: 1,
      sender_display_name: "Operator",
      preview: "@Me look",
    });
    expect(w.alerts.messages).toEqual([]);
    expect(w.alerts.mentions.map((m) => m.message_id)).toEqual(["m-1"]);
    expect(w.app.toasts.value.map((t) => t.preview)).toEqual(["@Me look"]);
    expect(w.app.announcement.value).toContain("mentioned you");
    w.clock.advance(15_000);
    expect(w.app.toasts.value).toEqual([]);
  });

  it("alerts for other people's messages, announces them, and counts them unread while unfocused", async () => {
    const w = await openLive();
    w.server.last.receive(messageFrame(1, { content: "oven at 90" }));
    w.server.last.receive(messageFrame(2, { sender_id: ME, content: "mine" }));
    expect(w.alerts.messages.map((m) => m.sequence_number)).toEqual([1]);
    expect(w.app.announcement.value).toBe("Operator: oven at 90");
    expect(w.app.unreadTotal.value).toBe(1);
  });

  it("signs out when the socket is closed as unauthorized", async () => {
    const w = await openLive();
    w.server.last.serverClose(4401);
    expect(w.app.auth.value).toBe("signed_out");
    expect(w.app.room.value).toBeNull();
  });
});
