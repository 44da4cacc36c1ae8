import { IDBFactory } from "fake-indexeddb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Outbox } from "../net/outbox";
import type { ChatMessage } from "../net/schemas";
import { MemoryStore } from "../state/settings";
import { FakeClock } from "../testing/fake_clock";
import { FakeSocketServer, type FakeSocket } from "../testing/fake_socket";
import { connectedFrame, flush, ME, messageFrame, msg, OTHER, ROOM, syncComplete } from "../testing/fixtures";
import { FakeApi } from "../testing/fake_api";
import { BLOCKED_TEXT, RoomSession, type RoomSessionDeps } from "./room_session";

interface World {
  clock: FakeClock;
  server: FakeSocketServer;
  api: FakeApi;
  idb: IDBFactory;
  outbox: Outbox;
  focused: boolean;
  incoming: ChatMessage[];
  ids: number;
}

let world: World;
const sessions: RoomSession[] = [];

beforeEach(async () => {
  const idb = new IDBFactory();
  world = {
    clock: new FakeClock(),
    server: new FakeSocketServer(),
    api: new FakeApi(),
    idb,
    outbox: await Outbox.open(idb),
    focused: true,
    incoming: [],
    ids: 0,
  };
});

afterEach(() => {
  for (const s of sessions.splice(0)) s.stop();
  world.outbox.close();
});

function newSession(over: Partial<RoomSessionDeps> = {}): RoomSession {
  const s = new RoomSession({
    roomId: ROOM,
    me: { user_id: ME, display_name: "Me", is_admin: false },
    config: { display_timezone: "Asia/Taipei", edit_window_seconds: 900, typing_timeout: 3 },
    api: world.api,
    outbox: world.outbox,
    socketFactory: world.server.factory,
    socketUrl: (room, since) => `ws://test/ws/${room}?since=${since}`,
    clock: world.clock,
    random: () => 0.5,
    newClientId: () => `c-${++world.ids}`,
    storage: new MemoryStore(),
    isFocused: () => world.focused,
    events: { onIncoming: (m) => world.incoming.push(m) },
    ...over,
  });
  sessions.push(s);
  return s;
}

async function goLive(socket: FakeSocket, last: number, replay: number[] = []) {
  socket.open();
  socket.receive(connectedFrame(last));
  for (const n of replay) socket.receive(messageFrame(n));
  socket.receive(syncComplete(last));
  await flush();
}

async function reconnect(socket: FakeSocket, code = 1006) {
  socket.serverClose(code);
  world.clock.advance(world.clock.pendingDelays()[0]!);
  await flush();
}

const shown = (s: RoomSession) => s.timeline.value.messages.map((m) => m.sequence_number);
const sentMessages = (socket: FakeSocket) => socket.sentOfType("message");

describe("RoomSession opening a room", () => {
  it("shows history, connects from its last number and appends live messages in order", async () => {
    world.api.history = [msg(1), msg(2), msg(3)];
    const s = newSession();
    await s.start();
    await flush();
    expect(shown(s)).toEqual([1, 2, 3]);
    expect(world.server.last.url).toContain("since=3");
    await goLive(world.server.last, 5, [4, 5]);
    expect(shown(s)).toEqual([1, 2, 3, 4, 5]);
    expect(s.connection.value.state).toBe("live");
    expect(world.server.last.sentOfType("focus")).toEqual([{ type: "focus", focused: true }]);
  });

  it("pages older history in and keeps sequence order", async () => {
    world.api.history = Array.from({ length: 120 }, (_, i) => msg(i + 1));
    const s = newSession();
    await s.start();
    await flush();
    expect(shown(s)[0]).toBe(71);
    await s.loadOlder();
    await s.loadOlder();
    expect(shown(s)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(s.timeline.value.hasMoreOlder).toBe(false);
  });

  it("marks the room read up to the newest message while focused", async () => {
    world.api.history = [msg(1)];
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 1);
    world.server.last.receive(messageFrame(2));
    expect(world.api.reads.at(-1)).toBe(2);
    world.focused = false;
    world.server.last.receive(messageFrame(3));
    expect(world.api.reads.at(-1)).toBe(2);
    world.focused = true;
    s.focusChanged(true);
    expect(world.api.reads.at(-1)).toBe(3);
    expect(world.server.last.sentOfType("focus").at(-1)).toEqual({ type: "focus", focused: true });
  });
});

describe("RoomSession sending", () => {
  it("echoes at once, sends with a client_id and mentions, and replaces the echo by the server's copy", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    await s.sendText("@Operator check Line 3");
    expect(s.timeline.value.echoes.map((e) => e.status)).toEqual(["pending"]);
    expect(sentMessages(world.server.last)).toEqual([
      { type: "message", content: "@Operator check Line 3", message_type: "text", client_id: "c-1", mentions: [OTHER] },
    ]);
    world.server.last.receive({ type: "ack", client_id: "c-1", message_id: "m-1", sequence_number: 1, created_at: "2025-11-17T10:00:01.000Z" });
    expect(s.timeline.value.echoes[0]).toMatchObject({ status: "acked", sequence_number: 1 });
    world.server.last.receive(messageFrame(1, { sender_id: ME, client_id: "c-1", content: "@Operator check Line 3" }));
    await flush();
    expect(s.timeline.value.echoes).toEqual([]);
    expect(shown(s)).toEqual([1]);
    expect(await world.outbox.count()).toBe(0);
    expect(world.incoming).toEqual([]); // my own message raises no alert
  });

  it("queues while offline and sends once after reconnecting, keeping the client_id on resend", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    world.server.last.serverClose(1006);
    await s.sendText("first");
    await s.sendText("second");
    expect(s.timeline.value.echoes.map((e) => e.frame.content)).toEqual(["first", "second"]);

    world.clock.advance(world.clock.pendingDelays()[0]!);
    await flush();
    const second = world.server.last;
    await goLive(second, 0);
    expect(sentMessages(second).map((f) => [f.client_id, f.content])).toEqual([
      ["c-1", "first"],
      ["c-2", "second"],
    ]);
    // The connection drops before any ack: the next one resends the same ids, once each.
    await reconnect(second);
    const third = world.server.last;
    await goLive(third, 0);
    await flush();
    expect(sentMessages(third).map((f) => f.client_id)).toEqual(["c-1", "c-2"]);
    // The server had stored both the first time: it replies with the original acks.
    third.receive({ type: "ack", client_id: "c-1", message_id: "m-1", sequence_number: 1, created_at: "t" });
    third.receive({ type: "ack", client_id: "c-2", message_id: "m-2", sequence_number: 2, created_at: "t" });
    third.receive(messageFrame(1, { sender_id: ME, client_id: "c-1", content: "first" }));
    third.receive(messageFrame(2, { sender_id: ME, client_id: "c-2", content: "second" }));
    await flush();
    expect(shown(s)).toEqual([1, 2]);
    expect(s.timeline.value.echoes).toEqual([]);
    expect(await world.outbox.count()).toBe(0);
  });

  it("shows the echo only once the message is saved on this device, so a reload cannot lose what is shown", async () => {
    let release: () => void = () => {};
    const saved = new Promise<void>((resolve) => {
      release = resolve;
    });
    const outbox = {
      put: async (item: Parameters<Outbox["put"]>[0]) => {
        await saved;
        await world.outbox.put(item);
      },
      list: (room: string, user: string) => world.outbox.list(room, user),
      remove: (clientId: string) => world.outbox.remove(clientId),
    };
    const s = newSession({ outbox });
    await s.start();
    await flush();
    const sending = s.sendText("Line stopped");
    await flush();
    expect(s.timeline.value.echoes).toEqual([]);
    release();
    await sending;
    expect(s.timeline.value.echoes.map((e) => e.frame.content)).toEqual(["Line stopped"]);
    expect(await world.outbox.count()).toBe(1);
  });

  it("sends what a closed tab left in the outbox when the room is opened again", async () => {
    world.api.failHistory = true;
    const first = newSession();
    await first.start();
    await flush();
    await first.sendText("written offline");
    first.stop();
    expect(world.server.sockets).toHaveLength(0);

    world.api.failHistory = false;
    const second = newSession();
    await second.start();
    await flush();
    expect(second.timeline.value.echoes.map((e) => e.frame.content)).toEqual(["written offline"]);
    await goLive(world.server.last, 0);
    expect(sentMessages(world.server.last).map((f) => f.client_id)).toEqual(["c-1"]);
  });

  it("drops from the queue a message the history shows was already stored", async () => {
    await world.outbox.put({
      client_id: "c-old",
      room_id: ROOM,
      user_id: ME,
      frame: { type: "message", content: "sent before reload", message_type: "text", client_id: "c-old" },
      queued_at: 0,
    });
    world.api.history = [msg(1, { sender_id: ME, client_id: "c-old", content: "sent before reload" })];
    const s = newSession();
    await s.start();
    await flush();
    expect(s.timeline.value.echoes).toEqual([]);
    await goLive(world.server.last, 1);
    expect(sentMessages(world.server.last)).toEqual([]);
  });

  it("resends a rate-limited message later with the same client_id", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    await s.sendText("burst");
    world.server.last.receive({ type: "error", code: "rate_limited", message: "slow down", client_id: "c-1" });
    world.clock.advance(1000);
    await flush();
    expect(sentMessages(world.server.last).map((f) => f.client_id)).toEqual(["c-1", "c-1"]);
    expect(s.timeline.value.echoes[0]!.status).toBe("pending");
  });

  it("marks a refused message failed and stops resending it", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    await s.sendText("not allowed");
    world.server.last.receive({ type: "error", code: "forbidden", message: "room is archived", client_id: "c-1" });
    await flush();
    expect(s.timeline.value.echoes[0]).toMatchObject({ status: "failed", error: "room is archived" });
    expect(await world.outbox.count()).toBe(0);
    await reconnect(world.server.last);
    await goLive(world.server.last, 0);
    expect(sentMessages(world.server.last)).toEqual([]);
  });

  it("uploads an image before sending an image_ref with its file_id", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    await s.sendFile(new Blob(["png"]), "defect.png", "Defect found on product", "blob:preview");
    expect(sentMessages(world.server.last)).toEqual([
      { type: "message", content: "Defect found on product", message_type: "image_ref", file_id: "f-1", client_id: "c-1" },
    ]);
    expect(s.timeline.value.echoes[0]!.preview_url).toBe("blob:preview");
    // The echo already shows what was uploaded: name, sniffed type, size.
    expect(s.timeline.value.echoes[0]!.file).toEqual({ filename: "defect.png", content_type: "image/png", size: 10 });
  });

  it("sends incident data as an object", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    await s.sendIncidentData({ temperature: 85, pressure: 120 });
    expect(sentMessages(world.server.last)[0]).toMatchObject({
      message_type: "incident_data",
      content: { temperature: 85, pressure: 120 },
    });
  });
});

describe("RoomSession live state", () => {
  it("shows typists and clears them after the timeout without a frame", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    world.server.last.receive({ type: "typing", user_id: OTHER, display_name: "Operator", is_typing: true });
    expect(s.presence.value.typing.map((t) => t.user_id)).toEqual([OTHER]);
    world.clock.advance(4000);
    expect(s.presence.value.typing).toEqual([]);
  });

  it("tracks who is online from connected and presence frames", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    expect(s.presence.value.online.map((u) => u.user_id)).toEqual([ME]);
    world.server.last.receive({ type: "presence", online: [{ user_id: ME, display_name: "Me" }, { user_id: OTHER, display_name: "Operator" }] });
    expect(s.presence.value.online.map((u) => u.user_id)).toEqual([ME, OTHER]);
    world.server.last.serverClose(1006);
    expect(s.presence.value.online).toEqual([]);
  });

  it("toggles my reaction: add, then remove", async () => {
    world.api.history = [msg(1)];
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 1);
    s.toggleReaction("m-1", "👍");
    world.server.last.receive({ type: "reaction_added", message_id: "m-1", emoji: "👍", user_id: ME, reactions: { "👍": 1 } });
    s.toggleReaction("m-1", "👍");
    expect(world.server.last.sent.filter((f) => (f as { type: string }).type.endsWith("_reaction"))).toEqual([
      { type: "add_reaction", message_id: "m-1", emoji: "👍" },
      { type: "remove_reaction", message_id: "m-1", emoji: "👍" },
    ]);
    expect(s.message("m-1")!.reactions).toEqual({ "👍": 1 });
  });

  it("knows my reactions from history, so a click on one added elsewhere removes it", async () => {
    world.api.history = [msg(1, { reactions: { "👍": 2 }, my_reactions: ["👍"] })];
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 1);
    s.toggleReaction("m-1", "👍");
    expect(world.server.last.sent.filter((f) => (f as { type: string }).type.endsWith("_reaction"))).toEqual([
      { type: "remove_reaction", message_id: "m-1", emoji: "👍" },
    ]);
  });

  it("sends typing while the draft changes, throttled", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    s.draftChanged("h");
    s.draftChanged("he");
    world.clock.advance(2000);
    s.draftChanged("hel");
    s.draftChanged("");
    // At once, once more after the keystrokes (not again while idle), then off when emptied.
    expect(world.server.last.sentOfType("typing").map((f) => f.is_typing)).toEqual([true, true, false]);
  });

  it("lets me edit my message only within the window", async () => {
    const created = new Date(world?.clock?.now() ?? Date.parse("2025-11-17T10:00:00.000Z")).toISOString();
    world.api.history = [msg(1, { sender_id: ME, created_at: created })];
    const s = newSession();
    await s.start();
    await flush();
    const m = s.message("m-1")!;
    expect(s.canEdit(m)).toBe(true);
    world.clock.advance(901_000);
    expect(s.canEdit(m)).toBe(false);
  });

  it("alerts on other people's live messages, flagging mentions of me", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    world.server.last.receive(messageFrame(1, { mentions: [ME] }));
    expect(world.incoming.map((m) => m.sequence_number)).toEqual([1]);
  });
});

describe("RoomSession catching up", () => {
  it("marks the room read once when the replay is complete, not once per replayed message", async () => {
    world.api.history = [msg(1)];
    const s = newSession();
    await s.start();
    await flush();
    const replay = Array.from({ length: 40 }, (_, i) => 2 + i);
    await goLive(world.server.last, 41, replay);
    expect(shown(s).at(-1)).toBe(41);
    expect(world.api.reads).toEqual([41]);
    // Live messages afterwards are marked read as they come.
    world.server.last.receive(messageFrame(42));
    expect(world.api.reads).toEqual([41, 42]);
  });
});

describe("RoomSession opened at a message", () => {
  it("loads history around the message, highlights it, and still ends up live from the window's end", async () => {
    world.api.history = Array.from({ length: 200 }, (_, i) => msg(i + 1));
    const s = newSession({ openAt: 120 });
    await s.start();
    await flush();
    expect(world.api.aroundCalls).toEqual([120]);
    expect(shown(s)).toEqual(Array.from({ length: 51 }, (_, i) => 95 + i)); // 95..145
    expect(s.highlight.value).toBe(120);
    expect(s.timeline.value.hasMoreOlder).toBe(true);
    // The window's newest number is the stream's starting point: the socket replays the rest.
    expect(world.server.last.url).toContain("since=145");
    const replay = Array.from({ length: 55 }, (_, i) => 146 + i);
    await goLive(world.server.last, 200, replay);
    expect(shown(s).at(-1)).toBe(200);
    expect(s.connection.value.state).toBe("live");
    world.server.last.receive(messageFrame(201));
    expect(shown(s).at(-1)).toBe(201);
    // Older pages still load before the window.
    await s.loadOlder();
    expect(shown(s)[0]).toBe(45);
    expect(shown(s)).toEqual(Array.from({ length: 157 }, (_, i) => 45 + i));
  });

  it("highlights a message already loaded without reloading", async () => {
    world.api.history = [msg(1), msg(2), msg(3)];
    const s = newSession();
    await s.start();
    await flush();
    expect(s.hasSequence(2)).toBe(true);
    expect(s.hasSequence(9)).toBe(false);
    s.highlightAt(2);
    expect(s.highlight.value).toBe(2);
  });

  it("falls back to the newest page when there is nothing around the number", async () => {
    world.api.history = [];
    const s = newSession({ openAt: 7 });
    await s.start();
    await flush();
    expect(world.server.last.url).toContain("since=0");
  });
});

describe("RoomSession without a network", () => {
  it("keeps what is written while offline as waiting, and sends it exactly once when back", async () => {
    const net = { online: true };
    const s = newSession({ isOnline: () => net.online });
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    net.online = false;
    s.networkChanged(false);
    expect(s.connection.value.state).toBe("offline");
    await s.sendText("written offline");
    expect(s.timeline.value.echoes.map((e) => e.status)).toEqual(["waiting"]);
    expect(await world.outbox.count()).toBe(1);
    world.clock.advance(60_000);
    expect(world.server.sockets).toHaveLength(1); // nothing attempted while offline

    net.online = true;
    s.networkChanged(true);
    await flush();
    const back = world.server.last;
    expect(world.server.sockets).toHaveLength(2);
    await goLive(back, 0);
    expect(sentMessages(back).map((f) => f.content)).toEqual(["written offline"]);
    expect(s.timeline.value.echoes.map((e) => e.status)).toEqual(["pending"]);
    back.receive({ type: "ack", client_id: "c-1", message_id: "m-1", sequence_number: 1, created_at: "t" });
    back.receive(messageFrame(1, { sender_id: ME, client_id: "c-1", content: "written offline" }));
    await flush();
    // Another drop and return: nothing is sent again.
    await reconnect(back);
    await goLive(world.server.last, 1);
    expect(sentMessages(world.server.last)).toEqual([]);
    expect(shown(s)).toEqual([1]);
    expect(s.timeline.value.echoes).toEqual([]);
  });
});

describe("RoomSession when the user is removed", () => {
  it("on 4403 disables posting with the reason and shows waiting messages as not sent, never retried", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    world.server.last.serverClose(1006);
    await s.sendText("still here?");
    expect(s.timeline.value.echoes.map((e) => e.status)).toEqual(["waiting"]);
    world.clock.advance(world.clock.pendingDelays()[0]!);
    await flush();
    world.server.last.serverClose(4403);
    await flush();
    expect(s.blockedReason.value).toBe(BLOCKED_TEXT.removed);
    expect(s.canWrite).toBe(false);
    expect(s.timeline.value.echoes).toMatchObject([{ status: "failed", error: BLOCKED_TEXT.removed }]);
    expect(await world.outbox.count()).toBe(0);
    expect(s.connection.value).toMatchObject({ state: "closed", closeReason: "forbidden" });
    const sockets = world.server.sockets.length;
    world.clock.advance(60_000);
    expect(world.server.sockets).toHaveLength(sockets);
    s.retryEcho("c-1"); // nothing to retry into
    await s.sendText("and again");
    expect(s.timeline.value.echoes).toHaveLength(1);
  });

  it("is disabled at once when the user stream says so, closing the room socket", async () => {
    const s = newSession();
    await s.start();
    await flush();
    await goLive(world.server.last, 0);
    const socket = world.server.last;
    s.markRemoved();
    expect(s.blockedReason.value).toBe(BLOCKED_TEXT.removed);
    expect(socket.closedWith).not.toBeNull();
    expect(s.connection.value.state).toBe("closed");
  });

  it("says 'not a member' when the room refuses us from the start", async () => {
    const s = newSession();
    await s.start();
    await flush();
    world.server.last.serverClose(4403);
    expect(s.blockedReason.value).toBe(BLOCKED_TEXT.notMember);
  });
});
