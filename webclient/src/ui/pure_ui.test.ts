import { describe, expect, it } from "vitest";
import { parseRoute, routePath } from "./router";
import { safeFileUrl } from "./safe_url";

describe("routes", () => {
  it("round-trips every route", () => {
    for (const route of [
      { name: "rooms" },
      { name: "room", roomId: "a b/c" },
      { name: "search", q: "溫度 high" },
      { name: "settings" },
    ] as const) {
      const path = routePath(route);
      const [pathname, search = ""] = path.split("?");
      expect(parseRoute(pathname!, search ? `?${search}` : "")).toEqual(route);
    }
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
