import { IDBFactory } from "fake-indexeddb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Outbox, type OutboxItem } from "./outbox";

const item = (clientId: string, room = "r1", user = "me@x"): OutboxItem => ({
  client_id: clientId,
  room_id: room,
  user_id: user,
  frame: { type: "message", content: `text ${clientId}`, message_type: "text", client_id: clientId },
  queued_at: 1,
});

describe("Outbox", () => {
  let factory: IDBFactory;
  let outbox: Outbox;

  beforeEach(async () => {
    factory = new IDBFactory();
    outbox = await Outbox.open(factory);
  });
  afterEach(() => outbox.close());

  it("lists a room's items in the order they were queued", async () => {
    for (const id of ["c", "a", "b"]) await outbox.put(item(id));
    await outbox.put(item("other-room", "r2"));
    expect((await outbox.list("r1", "me@x")).map((i) => i.client_id)).toEqual(["c", "a", "b"]);
  });

  it("keeps one entry per client_id, in its first place", async () => {
    await outbox.put(item("a"));
    await outbox.put(item("b"));
    await outbox.put({ ...item("a"), queued_at: 99 });
    const list = await outbox.list("r1", "me@x");
    expect(list.map((i) => [i.client_id, i.queued_at])).toEqual([
      ["a", 1],
      ["b", 1],
    ]);
  });

  it("removes by client_id", async () => {
    await outbox.put(item("a"));
    expect(await outbox.remove("a")).toBe(true);
    expect(await outbox.remove("a")).toBe(false);
    expect(await outbox.count()).toBe(0);
  });

  it("keeps items across a reopen (a reload of the page)", async () => {
    await outbox.put(item("a"));
    outbox.close();
    outbox = await Outbox.open(factory);
    expect(await outbox.get("a")).toEqual(item("a"));
  });

  it("does not hand one user's queue to another signed in on the same browser", async () => {
    await outbox.put(item("a", "r1", "ann@x"));
    expect(await outbox.list("r1", "bob@x")).toEqual([]);
  });
});
