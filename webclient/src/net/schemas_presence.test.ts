import { describe, expect, it } from "vitest";
import { parseServerFrame } from "./schemas";

const ann = { user_id: "ann@x", display_name: "Ann" };

describe("presence frames of large rooms (docs/big-rooms.md)", () => {
  it("reads online_count when the list is a truncated sample", () => {
    const r = parseServerFrame(JSON.stringify({ type: "presence", online: [ann], online_count: 1500, truncated: true }));
    expect(r).toEqual({ ok: true, frame: { type: "presence", online: [ann], online_count: 1500 } });
  });

  it("has no count for a small room's whole list (or a count without the truncated flag)", () => {
    for (const extra of [{}, { online_count: 3 }]) {
      const r = parseServerFrame(JSON.stringify({ type: "presence", online: [ann], ...extra }));
      expect(r).toEqual({ ok: true, frame: { type: "presence", online: [ann], online_count: null } });
    }
  });

  it("reads the count on connected too", () => {
    const r = parseServerFrame(
      JSON.stringify({
        type: "connected",
        room_id: "r",
        user_id: "ann@x",
        role: "EDITOR",
        last_sequence_number: 0,
        server_time: "2026-01-01T00:00:00Z",
        online: [ann],
        online_count: 250,
        truncated: true,
      }),
    );
    expect(r.ok && r.frame.type === "connected" ? r.frame.online_count : "no").toBe(250);
  });
});
