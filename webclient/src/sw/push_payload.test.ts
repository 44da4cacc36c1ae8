import { describe, expect, it } from "vitest";
import { translator } from "../i18n/locales";
import { ACK_ACTION, base64UrlToBytes, bytesToBase64Url, notificationFor, parsePushPayload, safeAppUrl } from "./push_payload";

const ORIGIN = "https://andon.example";
const en = translator("en");
const zh = translator("zh-TW");

describe("push payloads", () => {
  const payload = {
    kind: "mention",
    room_id: "r1",
    room_title: "Line 3 overheating",
    message_id: "m1",
    sequence_number: 7,
    sender_display_name: "Ann",
    preview: "@Bob please check",
    url: "/rooms/r1",
  };

  it("builds a mention notification that opens the room", () => {
    const p = parsePushPayload(JSON.stringify(payload))!;
    expect(notificationFor(p, ORIGIN, en)).toEqual({
      title: "Ann mentioned you in Line 3 overheating",
      body: "@Bob please check",
      tag: "andon-room-r1",
      url: "https://andon.example/rooms/r1",
      renotify: true,
      requireInteraction: true,
      urgentMessageId: null,
      ackTitle: null,
    });
  });

  it("builds an urgent notification per message that can be acknowledged", () => {
    const p = parsePushPayload(JSON.stringify({ ...payload, kind: "urgent", round: 2, url: "/rooms/r1?seq=7" }))!;
    expect(notificationFor(p, ORIGIN, en)).toEqual({
      title: "URGENT: Ann in Line 3 overheating",
      body: "@Bob please check",
      tag: "andon-urgent-m1",
      url: "https://andon.example/rooms/r1?seq=7",
      renotify: true,
      requireInteraction: true,
      urgentMessageId: "m1",
      ackTitle: "Acknowledge",
    });
  });

  it("builds a message notification with the sender in the body", () => {
    const p = parsePushPayload(JSON.stringify({ ...payload, kind: "message" }))!;
    expect(notificationFor(p, ORIGIN, en)).toMatchObject({ title: "Line 3 overheating", body: "Ann: @Bob please check" });
  });

  it("speaks the reader's language (Traditional Chinese)", () => {
    const p = parsePushPayload(JSON.stringify(payload))!;
    expect(notificationFor(p, ORIGIN, zh).title).toBe("Ann 在「Line 3 overheating」提及了你");
    const urgent = parsePushPayload(JSON.stringify({ ...payload, kind: "urgent" }))!;
    expect(notificationFor(urgent, ORIGIN, zh)).toMatchObject({ title: "緊急：Ann 在「Line 3 overheating」", ackTitle: "確認" });
    const plain = parsePushPayload(JSON.stringify({ ...payload, kind: "message", sender_display_name: "" }))!;
    expect(notificationFor(plain, ORIGIN, zh).body).toBe("某人：@Bob please check");
  });

  it("names the acknowledge action the service worker handles", () => {
    expect(ACK_ACTION).toBe("acknowledge");
  });

  it("rejects payloads that are not JSON or lack a room", () => {
    expect(parsePushPayload("hello")).toBeNull();
    expect(parsePushPayload(JSON.stringify({ kind: "message" }))).toBeNull();
  });

  it("never sends the user to another origin or scheme", () => {
    expect(safeAppUrl("https://evil.example/x", ORIGIN, "r 1")).toBe("https://andon.example/rooms/r%201");
    expect(safeAppUrl("javascript:alert(1)", ORIGIN, "r1")).toBe("https://andon.example/rooms/r1");
    expect(safeAppUrl("https://andon.example/rooms/r2?x=1", ORIGIN, "r1")).toBe("https://andon.example/rooms/r2?x=1");
  });

  it("round-trips base64url keys", () => {
    const bytes = base64UrlToBytes("BPz-_w");
    expect([...bytes]).toEqual([4, 252, 254, 255]);
    expect(bytesToBase64Url(bytes.buffer)).toBe("BPz-_w");
  });
});
