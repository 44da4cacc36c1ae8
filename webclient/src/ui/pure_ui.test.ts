import { describe, expect, it } from "vitest";
import type { ConnectionStatus } from "../net/socket";
import { canRetry, connectionLabel } from "./connection_badge";
import { parseRoute, routePath } from "./router";
import { safeFileUrl } from "./safe_url";

describe("routes", () => {
  it("round-trips every route", () => {
    for (const route of [
      { name: "rooms" },
      { name: "room", roomId: "a b/c" },
      { name: "room", roomId: "r1", at: 120 },
      { name: "mentions" },
      { name: "search", q: "溫度 high" },
      { name: "settings" },
    ] as const) {
      const path = routePath(route);
      const [pathname, search = ""] = path.split("?");
      expect(parseRoute(pathname!, search ? `?${search}` : "")).toEqual(route);
    }
  });

  it("opens a room at a message with ?at=N, ignoring a malformed one", () => {
    expect(routePath({ name: "room", roomId: "r1", at: 7 })).toBe("/rooms/r1?at=7");
    expect(parseRoute("/rooms/r1", "?at=7")).toEqual({ name: "room", roomId: "r1", at: 7 });
    expect(parseRoute("/rooms/r1", "?at=-3")).toEqual({ name: "room", roomId: "r1" });
    expect(parseRoute("/rooms/r1", "?at=x")).toEqual({ name: "room", roomId: "r1" });
  });

  it("falls back to the room list for unknown paths", () => {
    expect(parseRoute("/nope", "")).toEqual({ name: "rooms" });
    expect(parseRoute("/rooms/%E0%A4%A", "")).toEqual({ name: "rooms" });
  });
});

describe("safeFileUrl", () => {
  it("accepts the server's file paths and http(s) URLs", () => {
    expect(safeFileUrl("/api/files/550e8400")).toBe("/api/files/550e8400");
    expect(safeFileUrl("https://minio.example/bucket/x.jpg")).toBe("https://minio.example/bucket/x.jpg");
  });

  it("refuses script, data and protocol-relative URLs", () => {
    expect(safeFileUrl("javascript:alert(1)")).toBeNull();
    expect(safeFileUrl("data:text/html,<script>")).toBeNull();
    expect(safeFileUrl("//evil.example/x")).toBeNull();
    expect(safeFileUrl(null)).toBeNull();
  });

  it("accepts a blob URL only where a local preview is expected", () => {
    const blob = `blob:${globalThis.location?.origin ?? ""}/1234`;
    expect(safeFileUrl(blob)).toBeNull();
    expect(safeFileUrl(blob, { allowBlob: true })).toBe(blob);
    expect(safeFileUrl("blob:https://elsewhere.example/1", { allowBlob: true })).toBeNull();
  });
});

describe("connectionLabel", () => {
  const status = (over: Partial<ConnectionStatus>): ConnectionStatus => ({
    state: "connecting",
    attempt: 0,
    retryAt: null,
    closeReason: null,
    lastCloseCode: null,
    hasBeenLive: false,
    ...over,
  });

  it("says Live only when live, Offline when the browser is offline", () => {
    expect(connectionLabel(status({ state: "live", hasBeenLive: true }))).toBe("Live");
    expect(connectionLabel(status({ state: "offline", hasBeenLive: true }))).toBe("Offline");
  });

  it("says Connecting… the first time and Reconnecting… afterwards", () => {
    expect(connectionLabel(status({}))).toBe("Connecting…");
    expect(connectionLabel(status({ hasBeenLive: true }))).toBe("Reconnecting…");
    expect(connectionLabel(status({ attempt: 2 }))).toBe("Reconnecting…");
    expect(connectionLabel(status({ state: "waiting", attempt: 1 }))).toBe("Reconnecting…");
  });

  it("offers Retry now only while disconnected", () => {
    expect(canRetry(status({ state: "waiting" }))).toBe(true);
    expect(canRetry(status({ state: "offline" }))).toBe(true);
    expect(canRetry(status({ state: "live" }))).toBe(false);
    expect(canRetry(status({ state: "connecting" }))).toBe(false);
    expect(canRetry(status({ state: "closed", closeReason: "forbidden" }))).toBe(false);
  });
});
