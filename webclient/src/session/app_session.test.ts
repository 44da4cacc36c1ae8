import { describe, expect, it } from "vitest";
import { ApiClient } from "../net/http";
import { MemoryOutbox } from "../net/memory_outbox";
import type { ChatMessage, MentionFrame } from "../net/schemas";
import { MemoryStore } from "../state/settings";
import { FakeClock } from "../testing/fake_clock";
import { FakeConnectivity } from "../testing/fake_connectivity";
import { FakeSocketServer, type FakeSocket } from "../testing/fake_socket";
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

const USER_URL = "ws://test/ws";

function entry(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    room_id: ROOM,
    title: "Line 3",
    status: "active",
    role: "EDITOR",
    last_sequence_number: 0,
    unread_count: 0,
    unread_mentions: 0,
    last_message_at: null,
    preview: null,
    ...over,
  };
}

function activity(seq: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "room_activity",
    room_id: ROOM,
    last_sequence_number: seq,
    unread_count: 1,
    unread_mentions: 0,
    last_message_at: `2025-11-17T10:00:0${seq}.000Z`,
    preview: {
      message_id: `m-${seq}`,
      sender_id: "op@plant.example",
      sender_display_name: "Operator",
      message_type: "text",
      content: `message ${seq}`,
      created_at: `2025-11-17T10:00:0${seq}.000Z`,
    },
    ...over,
  };
}

const mentionFrame = (seq: number) => ({
  type: "mention",
  room_id: ROOM,
  room_title: "Line 3",
  message_id: `m-${seq}`,
  sequence_number: seq,
  sender_display_name: "Operator",
  preview: "@Me look",
});

function world(routes: Record<string, Handler>, storage = new MemoryStore()) {
  const calls: string[] = [];
  const fetchImpl = async (input: string, init?: RequestInit) => {
    calls.push(`${init?.method ?? "GET"} ${input}`);
    const path = input.split("?")[0]!;
    const handler = routes[`${init?.method ?? "GET"} ${path}`];
    return handler ? handler(init) : json({ status_code: 404, detail: "Not Found" }, 404);
  };
  const alerts = { messages: [] as ChatMessage[], mentions: [] as MentionFrame[], activity: [] as string[], urgent: [] as number[] };
  const sink: AlertSink = {
    urgent: (f) => alerts.urgent.push(f.round),
    newMessage: (m) => alerts.messages.push(m),
    mention: (f) => alerts.mentions.push(f),
    activity: (_room, p) => alerts.activity.push(p.message_id),
    clearRoom: async () => undefined,
  };
  const clock = new FakeClock();
  const server = new FakeSocketServer();
  const connectivity = new FakeConnectivity();
  const focus = { focused: false };
  const app = new AppSession({
    api: new ApiClient(fetchImpl),
    storage,
    openOutbox: async () => new MemoryOutbox(),
    socketFactory: server.factory,
    socketUrl: (r, since) => `ws://test/ws/${r}?since=${since}`,
    userSocketUrl: () => USER_URL,
    connectivity,
    clock,
    random: () => 0.5,
    newClientId: () => `c-${calls.length}`,
    isFocused: () => focus.focused,
    alerts: sink,
  });
  const roomSocket = (): FakeSocket => server.lastMatching("/ws/room-1");
  const userSocket = (): FakeSocket => {
    const s = server.sockets.filter((x) => x.url === USER_URL).at(-1);
    if (!s) throw new Error("no user stream socket");
    return s;
  };
  const userSockets = () => server.sockets.filter((x) => x.url === USER_URL);
  return { app, calls, alerts, clock, server, storage, connectivity, focus, roomSocket, userSocket, userSockets };
}

/** Opens the user stream with a snapshot of these rooms. */
function streamUp(w: ReturnType<typeof world>, rooms: Record<string, unknown>[] = [entry()]) {
  w.userSocket().open();
  w.userSocket().receive({ type: "connected", user_id: ME, server_time: "2025-11-17T10:00:00.000Z", rooms });
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
    w.roomSocket().open();
    w.roomSocket().receive(connectedFrame(0));
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
    w.roomSocket().open();
    w.roomSocket().receive(connectedFrame(0));
    w.roomSocket().receive(syncComplete(0));
    await flush();
    return w;
  }

  it("alerts once for a mention: through the mention frame, with a toast that goes away", async () => {
    const w = await openLive();
    w.roomSocket().receive(messageFrame(1, { mentions: [ME], content: "@Me look" }));
    w.roomSocket().receive({
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
    w.roomSocket().receive(messageFrame(1, { content: "oven at 90" }));
    w.roomSocket().receive(messageFrame(2, { sender_id: ME, content: "mine" }));
    expect(w.alerts.messages.map((m) => m.sequence_number)).toEqual([1]);
    expect(w.app.announcement.value).toBe("Operator: oven at 90");
    expect(w.app.unreadTotal.value).toBe(1);
  });

  it("signs out when the socket is closed as unauthorized", async () => {
    const w = await openLive();
    w.roomSocket().serverClose(4401);
    expect(w.app.auth.value).toBe("signed_out");
    expect(w.app.room.value).toBeNull();
  });
});

describe("AppSession user stream", () => {
  it("opens the stream once signed in; its snapshot replaces the room list", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    expect(w.userSockets()).toHaveLength(1);
    expect(w.app.userStream.value.state).toBe("connecting");
    streamUp(w, [
      entry({ unread_count: 2, unread_mentions: 1, last_sequence_number: 5, last_message_at: "2025-11-17T10:00:05.000Z" }),
      entry({ room_id: "room-2", title: "Line 4" }),
    ]);
    expect(w.app.userStream.value.state).toBe("live");
    expect(w.app.rooms.value.rooms.map((r) => r.title).sort()).toEqual(["Line 3", "Line 4"]);
    expect(w.app.unreadTotal.value).toBe(2);
    expect(w.app.unreadMentions.value).toBe(1);
    expect(w.alerts.activity).toEqual([]); // a snapshot never alerts
  });

  it("keeps the list live: activity, added, removed, status and role", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    streamUp(w);
    const s = w.userSocket();
    s.receive(activity(1, { unread_mentions: 1 }));
    expect(w.app.findRoom(ROOM)).toMatchObject({ unread_count: 1, unread_mentions: 1, last_sequence_number: 1 });
    expect(w.app.findRoom(ROOM)!.preview!.content).toBe("message 1");
    s.receive({ type: "room_added", ...entry({ room_id: "room-9", title: "Press 9" }) });
    expect(w.app.findRoom("room-9")!.title).toBe("Press 9");
    s.receive({ type: "room_status_changed", room_id: ROOM, status: "resolved" });
    expect(w.app.findRoom(ROOM)!.status).toBe("resolved");
    s.receive({ type: "role_changed", room_id: ROOM, role: "VIEWER" });
    expect(w.app.findRoom(ROOM)!.role).toBe("VIEWER");
    s.receive({ type: "room_removed", room_id: "room-9" });
    expect(w.app.findRoom("room-9")).toBeNull();
  });

  it("rings for every round of an urgent page and keeps its banner until I acknowledge", async () => {
    const w = world({ ...signedInRoutes, "POST /api/messages/m-7/acknowledge": () => json({}, 201) });
    await w.app.init();
    streamUp(w);
    const page = (round: number) => ({
      type: "urgent_page",
      room_id: ROOM,
      room_title: "Line 3",
      message_id: "m-7",
      sequence_number: 7,
      sender_display_name: "Operator",
      preview: "boiler",
      round,
      last_round: false,
      escalated: false,
    });
    w.userSocket().receive(page(1));
    w.userSocket().receive(page(2));
    expect(w.alerts.urgent).toEqual([1, 2]);
    expect(w.app.urgentPages.value.map((p) => [p.message_id, p.round])).toEqual([["m-7", 2]]);
    // Someone else's acknowledgement leaves my page; mine (from another device) clears it.
    w.userSocket().receive({ type: "urgent_acknowledged", message_id: "m-7", room_id: ROOM, user_id: "other@x", display_name: "O", at: "2025-11-17T10:00:00.000Z" });
    expect(w.app.urgentPages.value).toHaveLength(1);
    w.userSocket().receive({ type: "urgent_acknowledged", message_id: "m-7", room_id: ROOM, user_id: ME, display_name: "Me", at: "2025-11-17T10:00:00.000Z" });
    expect(w.app.urgentPages.value).toHaveLength(0);
    // From the banner: acknowledged over REST, and the banner goes.
    w.userSocket().receive(page(3));
    await w.app.acknowledgeUrgent("m-7");
    expect(w.calls).toContain("POST /api/messages/m-7/acknowledge");
    expect(w.app.urgentPages.value).toHaveLength(0);
  });

  it("does not let an older REST list overwrite a newer snapshot", async () => {
    let release: (r: Response) => void = () => undefined;
    const routes: Record<string, Handler> = {
      ...signedInRoutes,
      "GET /api/rooms": () => new Promise<Response>((resolve) => (release = resolve)),
    };
    const w = world(routes);
    const init = w.app.init();
    await flush();
    streamUp(w, [entry({ unread_count: 4 })]);
    release(json({ rooms: [ROOM_OBJ] }));
    await init;
    expect(w.app.findRoom(ROOM)!.unread_count).toBe(4);
  });

  it("stops the stream on sign-out", async () => {
    const w = world({ ...signedInRoutes, "POST /api/auth/logout": () => new Response(null, { status: 204 }) });
    await w.app.init();
    streamUp(w);
    const s = w.userSocket();
    await w.app.signOut();
    expect(s.closedWith?.code).toBe(1000);
    w.clock.advance(60_000);
    expect(w.userSockets()).toHaveLength(1);
    expect(w.connectivity.listenerCount).toBe(0);
  });

  it("signs out when the stream is refused as unauthorized", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    streamUp(w);
    w.userSocket().serverClose(4401);
    expect(w.app.auth.value).toBe("signed_out");
  });
});

describe("AppSession mentions and alerts from the user stream", () => {
  it("alerts a mention in a room that is not open, with a toast", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    streamUp(w);
    w.userSocket().receive(mentionFrame(3));
    expect(w.alerts.mentions.map((m) => m.message_id)).toEqual(["m-3"]);
    expect(w.app.toasts.value).toMatchObject([{ kind: "mention", room_id: ROOM, sequence_number: 3, preview: "@Me look" }]);
  });

  it("alerts a mention once although the room socket and the user stream both carry it", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    streamUp(w);
    w.app.openRoom(ROOM);
    await flush();
    w.roomSocket().open();
    w.roomSocket().receive(connectedFrame(0));
    w.roomSocket().receive(syncComplete(0));
    await flush();
    w.roomSocket().receive(messageFrame(1, { mentions: [ME], content: "@Me look" }));
    w.roomSocket().receive(mentionFrame(1));
    w.userSocket().receive(activity(1, { unread_mentions: 1 }));
    w.userSocket().receive(mentionFrame(1));
    expect(w.alerts.mentions).toHaveLength(1);
    expect(w.alerts.messages).toEqual([]);
    expect(w.alerts.activity).toEqual([]);
    expect(w.app.toasts.value).toHaveLength(1);
  });

  it("alerts someone else's new message in another room when alerts are on for every message", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    streamUp(w);
    w.userSocket().receive(activity(1));
    expect(w.alerts.activity).toEqual(["m-1"]);
    expect(w.app.toasts.value).toMatchObject([{ kind: "message", sender_display_name: "Operator", preview: "message 1" }]);
    // The same preview again (read elsewhere, an edit): no second alert.
    w.userSocket().receive(activity(1, { unread_count: 0 }));
    // My own message: none.
    w.userSocket().receive(
      activity(2, { preview: { message_id: "m-2", sender_id: ME, sender_display_name: "Me", message_type: "text", content: "mine", created_at: "2025-11-17T10:00:02.000Z" } }),
    );
    expect(w.alerts.activity).toEqual(["m-1"]);
  });

  it("only alerts mentions when the user chose mentions only", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    w.app.updateSettings({ alertFor: "mentions" });
    streamUp(w);
    w.userSocket().receive(activity(1));
    expect(w.alerts.activity).toEqual([]);
    expect(w.app.toasts.value).toEqual([]);
    w.userSocket().receive(mentionFrame(2));
    expect(w.alerts.mentions).toHaveLength(1);
  });

  it("leaves the open room's messages to its own socket, and shows it read while it is being read", async () => {
    const w = world(signedInRoutes);
    w.focus.focused = true;
    await w.app.init();
    streamUp(w);
    w.app.openRoom(ROOM);
    await flush();
    w.roomSocket().open();
    w.roomSocket().receive(connectedFrame(0));
    w.roomSocket().receive(syncComplete(0));
    await flush();
    w.userSocket().receive(activity(1)); // may arrive before the room socket's copy
    w.roomSocket().receive(messageFrame(1));
    expect(w.alerts.activity).toEqual([]);
    expect(w.alerts.messages.map((m) => m.message_id)).toEqual(["m-1"]);
    expect(w.app.findRoom(ROOM)!.unread_count).toBe(0);
    w.userSocket().receive(activity(1, { unread_count: 1 })); // a late frame from before the read marker moved
    expect(w.app.findRoom(ROOM)!.unread_count).toBe(0);
  });

  it("disables the open room at once when the stream says the user was removed", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    streamUp(w);
    const room = w.app.openRoom(ROOM)!;
    await flush();
    w.roomSocket().open();
    w.roomSocket().receive(connectedFrame(0));
    w.roomSocket().receive(syncComplete(0));
    await flush();
    w.userSocket().receive({ type: "room_removed", room_id: ROOM });
    expect(room.blockedReason.value).toBe("You were removed from this room");
    expect(w.app.findRoom(ROOM)).toBeNull();
  });
});

describe("AppSession connectivity", () => {
  it("shows both connections offline at once, tries nothing while offline, and reconnects both when back", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    streamUp(w);
    w.app.openRoom(ROOM);
    await flush();
    w.roomSocket().open();
    w.roomSocket().receive(connectedFrame(0));
    w.roomSocket().receive(syncComplete(0));
    await flush();
    const sockets = w.server.sockets.length;

    w.connectivity.fire("offline");
    expect(w.app.userStream.value.state).toBe("offline");
    expect(w.app.room.value!.connection.value.state).toBe("offline");
    w.clock.advance(120_000);
    await flush();
    expect(w.server.sockets).toHaveLength(sockets);

    w.connectivity.fire("online");
    await flush();
    expect(w.server.sockets).toHaveLength(sockets + 2);
    expect(w.app.userStream.value.state).toBe("connecting");
    expect(w.app.room.value!.connection.value.state).toBe("connecting");
  });

  it("retries at once when the page becomes visible", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    streamUp(w);
    w.userSocket().serverClose(1006);
    expect(w.app.userStream.value.state).toBe("waiting");
    w.connectivity.fire("visible");
    expect(w.userSockets()).toHaveLength(2);
  });

  it("when one connection reaches the server again, the other retries at once instead of waiting", async () => {
    const w = world(signedInRoutes);
    await w.app.init();
    streamUp(w);
    const room = w.app.openRoom(ROOM)!;
    await flush();
    w.roomSocket().open();
    w.roomSocket().receive(connectedFrame(0));
    w.roomSocket().receive(syncComplete(0));
    await flush();

    // The server goes away: both wait out their backoff (the room's ends later).
    w.userSocket().serverClose(1012);
    w.clock.advance(100);
    w.roomSocket().serverClose(1012);
    await flush();
    expect(w.app.userStream.value.state).toBe("waiting");
    expect(room.connection.value.state).toBe("waiting");
    const roomSockets = w.server.sockets.filter((s) => s.url.includes("/ws/room-1")).length;

    // The user stream's retry comes first and gets its snapshot: the room retries now.
    w.clock.advance(w.app.userStream.value.retryAt! - w.clock.now());
    await flush();
    expect(room.connection.value.state).toBe("waiting");
    streamUp(w);
    await flush();
    expect(w.server.sockets.filter((s) => s.url.includes("/ws/room-1"))).toHaveLength(roomSockets + 1);
    expect(room.connection.value.state).toBe("connecting");

    // And the other way round: the room's socket reconnecting wakes the waiting user stream.
    w.userSocket().serverClose(1012);
    expect(w.app.userStream.value.state).toBe("waiting");
    const userSockets = w.userSockets().length;
    w.roomSocket().open();
    w.roomSocket().receive(connectedFrame(0));
    await flush();
    expect(w.userSockets()).toHaveLength(userSockets + 1);
    expect(w.app.userStream.value.state).toBe("connecting");
  });

  it("goes offline when the heartbeat gets no answer", async () => {
    const w = world(signedInRoutes);
    w.server.autoPong = false;
    await w.app.init();
    streamUp(w);
    w.clock.advance(8_000);
    expect(w.app.userStream.value.state).toBe("waiting");
    expect(w.userSocket().closedWith?.code).toBe(4000);
  });
});
