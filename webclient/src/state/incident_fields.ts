/**
 * Flexible incident-data fields: the rows a sender fills in, their validation, the
 * `incident_data` object they become, and how a received object is read back for display.
 *
 * Wire convention (README, extensions): readings stay top-level JSON values, so the server's
 * incident-data series and filters work on them unchanged; units travel beside them under
 * `_units`: `{"temperature": 85, "line": "L3", "_units": {"temperature": "°C"}}`. `timestamp`
 * is the measurement time (ISO 8601), as in the spec's example.
 */

import { lazyTexts, t } from "../i18n";

export const UNITS_KEY = "_units";
export const TIMESTAMP_KEY = "timestamp";
export const MAX_UNIT_CHARS = 32;
export const MAX_TEXT_VALUE_CHARS = 500;
export const MAX_FIELDS = 40;

/** Field names the server can chart: a letter (any script) or `_` first, then letters, digits, `_`. */
const FIELD_NAME = /^[\p{L}][\p{L}\p{N}_]{0,63}$/u;

export type FieldKind = "number" | "text";

/** One row of the form, as typed. */
export interface FieldRow {
  name: string;
  kind: FieldKind;
  value: string;
  unit: string;
}

/** The spec's three readings, offered as ready-made rows. */
export const PRESET_FIELDS: readonly FieldRow[] = [
  { name: "temperature", kind: "number", value: "", unit: "°C" },
  { name: "pressure", kind: "number", value: "", unit: "kPa" },
  { name: "production_rate", kind: "number", value: "", unit: "units/h" },
];

/** Common text fields of an incident report, offered as suggestions. */
export const SUGGESTED_TEXT_FIELDS = ["severity", "line", "station", "equipment_id", "status"] as const;

/** User-visible strings of this module, in the current language (src/i18n/locales). */
export const FIELD_TEXT = lazyTexts(
  { empty: "fields.empty" },
  {
    nameRequired: (row: number) => t("fields.nameRequired", { row }),
    nameInvalid: (row: number) => t("fields.nameInvalid", { row }),
    nameReserved: (row: number, name: string) => t("fields.nameReserved", { row, name }),
    nameDuplicate: (row: number, name: string) => t("fields.nameDuplicate", { row, name }),
    notANumber: (row: number) => t("fields.notANumber", { row }),
    textTooLong: (row: number) => t("fields.textTooLong", { row, max: MAX_TEXT_VALUE_CHARS }),
    unitTooLong: (row: number) => t("fields.unitTooLong", { row, max: MAX_UNIT_CHARS }),
    tooMany: () => t("fields.tooMany", { max: MAX_FIELDS }),
    /** A known field's label (the spec's readings, the suggested text fields), else null. */
    label: (key: string): string | null => {
      const text = t(`fields.labels.${key}`, { defaultValue: "" });
      return text || null;
    },
  },
);

/** Turns what a person typed into a field name: trimmed, lower case, spaces to `_`. */
export function normaliseFieldName(raw: string): string {
  return raw.trim().toLowerCase().replace(/[\s-]+/g, "_");
}

export type BuildResult = { ok: true; data: Record<string, unknown> } | { ok: false; error: string };

/**
 * Validates the rows and builds the `incident_data` object. Rows with no value are skipped
 * (a preset left empty is not a reading); `now` stamps the measurement time.
 */
export function buildIncidentData(rows: readonly FieldRow[], now: Date): BuildResult {
  const data: Record<string, unknown> = {};
  const units: Record<string, string> = {};
  let count = 0;
  for (const [i, row] of rows.entries()) {
    const n = i + 1;
    const value = row.value.trim();
    if (!value) continue;
    const name = normaliseFieldName(row.name);
    if (!name) return { ok: false, error: FIELD_TEXT.nameRequired(n) };
    if (!FIELD_NAME.test(name)) return { ok: false, error: FIELD_TEXT.nameInvalid(n) };
    if (name === TIMESTAMP_KEY || name === UNITS_KEY) return { ok: false, error: FIELD_TEXT.nameReserved(n, name) };
    if (name in data) return { ok: false, error: FIELD_TEXT.nameDuplicate(n, name) };
    if (row.kind === "number") {
      const num = parseNumber(value);
      if (num === null) return { ok: false, error: FIELD_TEXT.notANumber(n) };
      data[name] = num;
    } else {
      if (value.length > MAX_TEXT_VALUE_CHARS) return { ok: false, error: FIELD_TEXT.textTooLong(n) };
      data[name] = value;
    }
    const unit = row.unit.trim();
    if (unit) {
      if (unit.length > MAX_UNIT_CHARS) return { ok: false, error: FIELD_TEXT.unitTooLong(n) };
      units[name] = unit;
    }
    count += 1;
    if (count > MAX_FIELDS) return { ok: false, error: FIELD_TEXT.tooMany() };
  }
  if (count === 0) return { ok: false, error: FIELD_TEXT.empty };
  if (Object.keys(units).length > 0) data[UNITS_KEY] = units;
  data[TIMESTAMP_KEY] = now.toISOString();
  return { ok: true, data };
}

/** A decimal number as people type it: `85`, `-3.5`, `1e3`, `1,234.5`; nothing else. */
export function parseNumber(raw: string): number | null {
  const s = raw.trim().replace(/,(?=\d{3}(\D|$))/g, "");
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

/** One field of a received object, ready to show. */
export interface ShownField {
  key: string;
  label: string;
  value: unknown;
  unit: string | null;
}

const ORDER = ["temperature", "pressure", "production_rate"];

/**
 * The fields of a received `incident_data` object in display order (the spec's readings
 * first, the measurement time last, others by name), `_units` folded into each field.
 */
export function shownFields(content: Record<string, unknown>): ShownField[] {
  const units = unitsOf(content);
  const rank = (key: string) => (key === TIMESTAMP_KEY ? 1000 : ORDER.includes(key) ? ORDER.indexOf(key) : 100);
  return Object.entries(content)
    .filter(([key]) => key !== UNITS_KEY)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([key, value]) => ({ key, label: fieldLabel(key), value, unit: units[key] ?? null }));
}

/** The `_units` map of an object, keeping only string units. */
export function unitsOf(content: Record<string, unknown>): Record<string, string> {
  const raw = content[UNITS_KEY];
  const out: Record<string, string> = {};
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return out;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v === "string" && v.trim()) out[k] = v;
  }
  return out;
}

export function fieldLabel(key: string): string {
  return FIELD_TEXT.label(key) ?? key.replace(/_/g, " ");
}

/** A reading as text: numbers trimmed to 2 decimals, with the unit when there is one. */
export function formatReading(value: unknown, unit: string | null): string {
  const text = formatValue(value);
  return unit && (typeof value === "number" || typeof value === "string") ? `${text} ${unit}` : text;
}

export function formatValue(value: unknown): string {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/\.?0+$/, "");
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (value === null || value === undefined) return "—";
  return JSON.stringify(value);
}

const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };

/** The words a search hit marked (`<mark>…</mark>` in `highlighted_content`), as plain lower-case text. */
export function markedTerms(highlightedHtml: string): string[] {
  const out = new Set<string>();
  for (const m of highlightedHtml.matchAll(/<mark>([\s\S]*?)<\/mark>/g)) {
    const text = m[1]!.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (e) => ENTITIES[e] ?? e).trim().toLowerCase();
    if (text) out.add(text);
  }
  return [...out];
}

/** Whether a marked search term occurs in this text (case-insensitive). */
export function hasTerm(text: string, terms: readonly string[]): boolean {
  const lower = text.toLowerCase();
  return terms.some((t) => lower.includes(t));
}
