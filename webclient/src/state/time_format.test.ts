import { afterAll, describe, expect, it, vi } from "vitest";
import { ZonedTimeFormatter } from "./time_format";

const originalTz = process.env.TZ;

afterAll(() => {
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

// The browser's own zone must not matter. Each case switches the process zone (Node
// re-reads TZ when it is assigned) before building the formatter, and first checks that
// the switch took effect, so a formatter that used local time would give other answers.
const browserZones = [
  { zone: "UTC", offsetMinutesInNovember: 0 },
  { zone: "America/Los_Angeles", offsetMinutesInNovember: 480 },
];

describe.each(browserZones)("display in Asia/Taipei from a browser in $zone", ({ zone, offsetMinutesInNovember }) => {
  const setZone = () => {
    process.env.TZ = zone;
    expect(new Date("2025-11-17T12:00:00.000Z").getTimezoneOffset()).toBe(offsetMinutesInNovember);
    return new ZonedTimeFormatter("Asia/Taipei");
  };

  it("shows HH:mm for a message at GMT+8 midnight of the current GMT+8 day", () => {
    const fmt = setZone();
    // now: 2025-11-18 00:30 in Taipei (= 11-17 16:30 UTC = 11-17 08:30 in Los Angeles)
    const now = new Date("2025-11-17T16:30:00.000Z");
    expect(fmt.short("2025-11-17T16:00:00.000Z", now)).toBe("00:00");
    expect(fmt.short("2025-11-17T16:29:00.000Z", now)).toBe("00:29");
  });

  it("shows MM/DD HH:mm one minute before GMT+8 midnight, though it is the same day in the browser", () => {
    const fmt = setZone();
    const now = new Date("2025-11-17T16:30:00.000Z");
    expect(fmt.short("2025-11-17T15:59:00.000Z", now)).toBe("11/17 23:59");
    expect(fmt.short("2025-11-17T08:00:00.000Z", now)).toBe("11/17 16:00");
  });

  it("treats the last minute of a GMT+8 day as today, though the browser is already on another date", () => {
    const fmt = setZone();
    // now: 2025-11-17 23:59:59 in Taipei
    const now = new Date("2025-11-17T15:59:59.000Z");
    expect(fmt.short("2025-11-16T16:00:00.000Z", now)).toBe("00:00");
    expect(fmt.short("2025-11-16T15:59:59.000Z", now)).toBe("11/16 23:59");
  });

  it("shows a message from a previous year with month and day", () => {
    const fmt = setZone();
    const now = new Date("2026-01-01T01:00:00.000Z"); // 01-01 09:00 in Taipei
    expect(fmt.short("2025-12-31T15:30:00.000Z", now)).toBe("12/31 23:30");
    expect(fmt.short("2025-12-31T16:05:00.000Z", now)).toBe("00:05");
  });

  it("names the year and the GMT+8 offset in the full timestamp (the tooltip) of another year's message", () => {
    const fmt = setZone();
    expect(fmt.long("2025-12-31T15:30:00.000Z")).toBe("31 Dec 2025, 23:30:00 GMT+8 (Asia/Taipei)");
    // Past midnight in Taipei it is already the next year, though not in the browser's zone.
    expect(fmt.long("2025-12-31T16:05:00.000Z")).toContain("1 Jan 2026, 00:05:00");
  });

  it("uses a 24-hour clock", () => {
    const fmt = setZone();
    const now = new Date("2025-11-17T14:00:00.000Z");
    expect(fmt.short("2025-11-17T13:45:00.000Z", now)).toBe("21:45");
  });
});

describe("ZonedTimeFormatter", () => {
  it("keys days in the display zone", () => {
    const fmt = new ZonedTimeFormatter("Asia/Taipei");
    expect(fmt.dayKey("2025-11-17T15:59:00.000Z")).toBe("2025-11-17");
    expect(fmt.dayKey("2025-11-17T16:00:00.000Z")).toBe("2025-11-18");
  });

  it("returns an empty string for an unparseable timestamp", () => {
    const fmt = new ZonedTimeFormatter("Asia/Taipei");
    expect(fmt.short("not a date", new Date())).toBe("");
  });

  it("follows another configured display zone", () => {
    const fmt = new ZonedTimeFormatter("Europe/Berlin");
    const now = new Date("2025-11-17T23:30:00.000Z"); // 11-18 00:30 in Berlin
    expect(fmt.short("2025-11-17T22:59:00.000Z", now)).toBe("11/17 23:59");
    expect(fmt.short("2025-11-17T23:00:00.000Z", now)).toBe("00:00");
  });

  it("works each instant out once, however often a list re-renders it, and stays right past its memory", () => {
    const fmt = new ZonedTimeFormatter("Asia/Taipei");
    const now = new Date("2025-11-17T14:00:00.000Z");
    const spy = vi.spyOn(Intl.DateTimeFormat.prototype, "formatToParts");
    try {
      for (let render = 0; render < 50; render++) {
        expect(fmt.short("2025-11-17T13:45:00.000Z", now)).toBe("21:45");
        expect(fmt.short("2025-11-16T13:45:00.000Z", now)).toBe("11/16 21:45");
        expect(fmt.long("2025-11-17T13:45:00.000Z")).toContain("(Asia/Taipei)");
      }
      expect(spy).toHaveBeenCalledTimes(3); // two instants and `now`
      // Many more instants than it remembers: every answer is still right.
      const base = Date.parse("2025-11-17T00:00:00.000Z");
      for (let i = 0; i < 12_000; i++) {
        const at = new Date(base + i * 60_000);
        const taipei = new Date(at.getTime() + 8 * 3_600_000);
        const hhmm = `${String(taipei.getUTCHours()).padStart(2, "0")}:${String(taipei.getUTCMinutes()).padStart(2, "0")}`;
        const today = taipei.getUTCDate() === 17;
        const mmdd = `${String(taipei.getUTCMonth() + 1).padStart(2, "0")}/${String(taipei.getUTCDate()).padStart(2, "0")}`;
        expect(fmt.short(at, now)).toBe(today ? hhmm : `${mmdd} ${hhmm}`);
      }
    } finally {
      spy.mockRestore();
    }
  });
});
