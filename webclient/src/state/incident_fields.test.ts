import { describe, expect, it } from "vitest";
import {
  buildIncidentData,
  formatReading,
  parseNumber,
  PRESET_FIELDS,
  shownFields,
  unitsOf,
  type FieldRow,
} from "./incident_fields";

const NOW = new Date("2026-12-04T10:15:00.000Z");
const row = (name: string, value: string, kind: "number" | "text" = "number", unit = ""): FieldRow => ({ name, kind, value, unit });

describe("buildIncidentData", () => {
  it("turns presets, text and numbers with units into the spec's object plus _units", () => {
    const rows = PRESET_FIELDS.map((r) => ({ ...r }));
    rows[0]!.value = "85";
    rows[1]!.value = "120.5";
    const result = buildIncidentData(
      [...rows, row("Line", "L3", "text"), row("Equipment ID", "PJ-3401", "text"), row("vibration", "4.2", "number", "mm/s")],
      NOW,
    );
    expect(result).toEqual({
      ok: true,
      data: {
        temperature: 85,
        pressure: 120.5,
        line: "L3",
        equipment_id: "PJ-3401",
        vibration: 4.2,
        _units: { temperature: "°C", pressure: "kPa", vibration: "mm/s" },
        timestamp: "2026-12-04T10:15:00.000Z",
      },
    });
  });

  it("skips empty rows (an unused preset is not a reading) and leaves _units out when there are none", () => {
    const result = buildIncidentData([row("temperature", ""), row("severity", "high", "text")], NOW);
    expect(result).toEqual({ ok: true, data: { severity: "high", timestamp: NOW.toISOString() } });
  });

  it("accepts Chinese field names, which the server can chart", () => {
    const result = buildIncidentData([row("溫度", "85", "number", "°C")], NOW);
    expect(result.ok && result.data).toMatchObject({ 溫度: 85, _units: { 溫度: "°C" } });
  });

  it.each([
    [[row("", "85")], "Field 1: give it a name."],
    [[row("1st", "85")], "Field 1: a name starts with a letter"],
    [[row("a;b", "85")], "Field 1: a name starts with a letter"],
    [[row("timestamp", "85")], 'Field 1: "timestamp" is reserved'],
    [[row("_units", "85")], "Field 1: a name starts with a letter"],
    [[row("t", "1"), row("T", "2")], 'Field 2: "t" is used twice'],
    [[row("t", "hot")], "Field 1: the value must be a number"],
    [[row("t", "1", "number", "x".repeat(33))], "the unit is longer than 32"],
    [[row("note", "x".repeat(501), "text")], "the text is longer than 500"],
    [[row("t", "")], "Enter at least one value."],
  ])("refuses %j with a message that says what to fix", (rows, message) => {
    const result = buildIncidentData(rows, NOW);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toContain(message);
  });

  it("limits one report to 40 fields", () => {
    const rows = Array.from({ length: 41 }, (_, i) => row(`f${i}`, "1"));
    expect(buildIncidentData(rows, NOW)).toEqual({ ok: false, error: "At most 40 fields in one report." });
  });
});

describe("parseNumber", () => {
  it.each([
    ["85", 85],
    ["-3.5", -3.5],
    [".5", 0.5],
    ["1e3", 1000],
    ["1,234.5", 1234.5],
    [" 7 ", 7],
  ])("reads %j", (raw, n) => expect(parseNumber(raw)).toBe(n));
  it.each(["", "abc", "12abc", "0x10", "Infinity", "NaN", "1e999", "1..2"])("refuses %j", (raw) =>
    expect(parseNumber(raw)).toBeNull(),
  );
});

describe("shownFields and units", () => {
  it("folds _units into the fields, readings first and the measurement time last", () => {
    const fields = shownFields({
      timestamp: "2026-12-04T10:15:00Z",
      line: "L3",
      pressure: 120,
      temperature: 85,
      _units: { temperature: "°C", pressure: "kPa" },
    });
    expect(fields.map((f) => [f.key, f.label, f.unit])).toEqual([
      ["temperature", "Temperature", "°C"],
      ["pressure", "Pressure", "kPa"],
      ["line", "line", null],
      ["timestamp", "Measured at", null],
    ]);
  });

  it("ignores malformed _units rather than failing", () => {
    expect(unitsOf({ _units: "°C" })).toEqual({});
    expect(unitsOf({ _units: { t: 5, p: "kPa", q: " " } })).toEqual({ p: "kPa" });
    expect(shownFields({ t: 1, _units: [1, 2] }).map((f) => f.key)).toEqual(["t"]);
  });

  it("formats a reading with its unit", () => {
    expect(formatReading(85, "°C")).toBe("85 °C");
    expect(formatReading(4.256, "mm/s")).toBe("4.26 mm/s");
    expect(formatReading("L3", null)).toBe("L3");
    expect(formatReading(null, "°C")).toBe("—");
  });
});

describe("search terms on a data card", () => {
  it("reads the marked words of a hit, unescaped and lower-cased", async () => {
    const { markedTerms, hasTerm } = await import("./incident_fields");
    const terms = markedTerms("<mark>Pressure</mark> 95 station <mark>ST&amp;7</mark> <mark>pressure</mark>");
    expect(terms).toEqual(["pressure", "st&7"]);
    expect(hasTerm("pressure", terms)).toBe(true);
    expect(hasTerm("ST&7", terms)).toBe(true);
    expect(hasTerm("line", terms)).toBe(false);
  });
});
