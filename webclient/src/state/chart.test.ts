import { describe, expect, it } from "vitest";
import type { ChatMessage } from "../net/schemas";
import { alignSeries, chartableFields, dateNames, deletedIds, mergePoints, panWindow, pointsFromMessages, scaleKeys, zoomWindow } from "./chart";

const p = (id: string, seq: number, value: number, at: string) => ({ message_id: id, sequence_number: seq, created_at: at, value });
const T = (min: number) => `2026-12-04T10:${String(min).padStart(2, "0")}:00.000Z`;
const secs = (min: number) => Date.parse(T(min)) / 1000;

function msg(seq: number, content: Record<string, unknown> | string | null, extra: Partial<ChatMessage> = {}): ChatMessage {
  return {
    message_id: `m${seq}`,
    room_id: "r",
    sender_id: "a@x",
    sender_display_name: "A",
    content,
    message_type: "incident_data",
    mentions: [],
    file_id: null,
    file_url: null,
    client_id: null,
    created_at: T(seq),
    edited_at: null,
    deleted_at: null,
    sequence_number: seq,
    reactions: {},
    ...extra,
  };
}

describe("series building", () => {
  it("merges fetched and live points without duplicates, oldest first, the live copy winning", () => {
    const merged = mergePoints([p("m1", 1, 80, T(1)), p("m3", 3, 90, T(3))], [p("m3", 3, 91, T(3)), p("m2", 2, 85, T(2))]);
    expect(merged.map((x) => [x.message_id, x.value])).toEqual([
      ["m1", 80],
      ["m2", 85],
      ["m3", 91],
    ]);
  });

  it("takes numeric readings of a field from loaded messages, like the server (no strings, no deleted)", () => {
    const messages = [
      msg(1, { temperature: 80 }),
      msg(2, { temperature: "hot" }),
      msg(3, { temperature: 90 }, { deleted_at: T(4) }),
      msg(4, "temperature 99", { message_type: "text" }),
      msg(5, { pressure: 1 }),
      msg(6, { temperature: 95 }),
    ];
    expect(pointsFromMessages(messages, "temperature").map((x) => x.value)).toEqual([80, 95]);
    expect([...deletedIds(messages)]).toEqual(["m3"]);
  });

  it("aligns several fields on one time axis with gaps as null", () => {
    const data = alignSeries([
      { field: "temperature", unit: "°C", points: [p("m1", 1, 80, T(1)), p("m3", 3, 90, T(3))] },
      { field: "pressure", unit: "kPa", points: [p("m2", 2, 120, T(2)), p("m3", 3, 125, T(3))] },
    ]);
    expect(data).toEqual([
      [secs(1), secs(2), secs(3)],
      [80, null, 90],
      [null, 120, 125],
    ]);
    expect(alignSeries([])).toEqual([[]]);
  });

  it("gives fields of one unit one scale, and fields without a unit their own", () => {
    expect(
      scaleKeys([
        { field: "t1", unit: "°C", points: [] },
        { field: "t2", unit: "°C", points: [] },
        { field: "rate", unit: null, points: [] },
      ]),
    ).toEqual(["unit:°C", "unit:°C", "field:rate"]);
  });

  it("lists the server's fields plus numeric fields that just arrived, with the latest unit", () => {
    const fields = chartableFields(
      [{ field: "temperature", unit: "°C", count: 3 }],
      [msg(7, { temperature: 90, vibration: 4.1, line: "L3", _units: { temperature: "K", vibration: "mm/s" } })],
    );
    expect(fields).toEqual([
      { field: "temperature", unit: "K", count: 3 },
      { field: "vibration", unit: "mm/s", count: 1 },
    ]);
  });
});

describe("zoom and pan windows", () => {
  const bounds = { min: 0, max: 1000 };
  it("zooms in around a point and out again, never past the data", () => {
    expect(zoomWindow(bounds, 0.5, 500, bounds)).toEqual({ min: 250, max: 750 });
    expect(zoomWindow(bounds, 0.5, 0, bounds)).toEqual({ min: 0, max: 500 });
    expect(zoomWindow({ min: 250, max: 750 }, 4, 500, bounds)).toEqual(bounds);
    expect(zoomWindow({ min: 900, max: 1000 }, 2, 1000, bounds)).toEqual({ min: 800, max: 1000 });
  });
  it("pans by a share of the window, stopping at either end", () => {
    expect(panWindow({ min: 250, max: 750 }, 0.5, bounds)).toEqual({ min: 500, max: 1000 });
    expect(panWindow({ min: 500, max: 1000 }, 0.5, bounds)).toEqual({ min: 500, max: 1000 });
    expect(panWindow({ min: 100, max: 300 }, -1, bounds)).toEqual({ min: 0, max: 200 });
  });
});

describe("time axis names", () => {
  it("names months and weekdays in the page's language (uPlot's lists start on Sunday)", () => {
    const zh = dateNames("zh-TW");
    expect(zh.MMMM[0]).toBe("1月");
    expect(zh.MMM[11]).toBe("12月");
    expect(zh.WWWW[0]).toBe("星期日");
    const en = dateNames("en-GB");
    expect(en.MMM[10]).toBe("Nov");
    expect(en.WWW[1]).toBe("Mon");
  });
});
