/**
 * Incident-data series for the room chart, computed without the DOM: merging what the REST
 * endpoint returned with readings that arrived live, aligning several fields on one time axis
 * (uPlot's column format), and the zoom/pan window arithmetic.
 */
import type { ChatMessage, IncidentPoint } from "../net/schemas";
import { UNITS_KEY, unitsOf } from "./incident_fields";

/** A field of the room that can be charted. */
export interface FieldInfo {
  field: string;
  unit: string | null;
  count: number;
}

export interface Series {
  field: string;
  unit: string | null;
  points: readonly IncidentPoint[];
}

/** uPlot's aligned data: x in seconds, then one column per series (null where it has no reading). */
export type Aligned = [number[], ...(number | null)[][]];

function byTime(a: IncidentPoint, b: IncidentPoint): number {
  return Date.parse(a.created_at) - Date.parse(b.created_at) || a.sequence_number - b.sequence_number;
}

/** Both lists as one, oldest first; a message in both keeps the later copy (`b`: live, possibly edited). */
export function mergePoints(a: readonly IncidentPoint[], b: readonly IncidentPoint[]): IncidentPoint[] {
  const byId = new Map<string, IncidentPoint>();
  for (const p of a) byId.set(p.message_id, p);
  for (const p of b) byId.set(p.message_id, p);
  return [...byId.values()].sort(byTime);
}

function isStored(m: ChatMessage): boolean {
  return m.message_type === "incident_data" && !m.deleted_at && m.sequence_number > 0 && m.content !== null;
}

function dataOf(m: ChatMessage): Record<string, unknown> | null {
  return typeof m.content === "object" && m.content !== null && !Array.isArray(m.content)
    ? (m.content as Record<string, unknown>)
    : null;
}

/** Readings of `field` in the loaded messages (live ones included): numbers only, like the server. */
export function pointsFromMessages(messages: readonly ChatMessage[], field: string): IncidentPoint[] {
  const out: IncidentPoint[] = [];
  for (const m of messages) {
    if (!isStored(m)) continue;
    const value = dataOf(m)?.[field];
    if (typeof value === "number" && Number.isFinite(value)) {
      out.push({ message_id: m.message_id, sequence_number: m.sequence_number, created_at: m.created_at, value });
    }
  }
  return out.sort(byTime);
}

/** Message ids of the loaded incident data that was deleted: their points leave the chart at once. */
export function deletedIds(messages: readonly ChatMessage[]): Set<string> {
  return new Set(messages.filter((m) => m.message_type === "incident_data" && m.deleted_at).map((m) => m.message_id));
}

/**
 * The fields that can be charted: the server's list, plus numeric fields seen in the loaded
 * messages (a reading that just arrived), with the latest unit seen; by name.
 */
export function chartableFields(server: readonly FieldInfo[], messages: readonly ChatMessage[]): FieldInfo[] {
  const out = new Map<string, FieldInfo>(server.map((f) => [f.field, { ...f }]));
  const sorted = messages.filter(isStored).sort((a, b) => a.sequence_number - b.sequence_number);
  for (const m of sorted) {
    const data = dataOf(m);
    if (!data) continue;
    const units = unitsOf(data);
    for (const [key, value] of Object.entries(data)) {
      if (key === UNITS_KEY || typeof value !== "number" || !Number.isFinite(value)) continue;
      const known = out.get(key);
      if (known) {
        if (units[key]) known.unit = units[key]!;
      } else out.set(key, { field: key, unit: units[key] ?? null, count: 1 });
    }
  }
  return [...out.values()].sort((a, b) => a.field.localeCompare(b.field));
}

/** Several series on one time axis (seconds), each with null where it has no reading at that time. */
export function alignSeries(series: readonly Series[]): Aligned {
  const times = new Set<number>();
  for (const s of series) for (const p of s.points) times.add(Date.parse(p.created_at) / 1000);
  const xs = [...times].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = series.map((s) => {
    const col: (number | null)[] = new Array<number | null>(xs.length).fill(null);
    for (const p of s.points) col[index.get(Date.parse(p.created_at) / 1000)!] = p.value;
    return col;
  });
  return [xs, ...columns];
}

/**
 * The y scales: one per distinct unit (fields without a unit each get their own), so °C and kPa
 * are never read off the same axis. Returns the scale key of each series.
 */
export function scaleKeys(series: readonly Series[]): string[] {
  return series.map((s) => (s.unit ? `unit:${s.unit}` : `field:${s.field}`));
}

export interface Window {
  min: number;
  max: number;
}

/** Zooms the x window by `factor` (< 1 zooms in) around `center`, kept inside `bounds`. */
export function zoomWindow(w: Window, factor: number, center: number, bounds: Window): Window {
  const full = bounds.max - bounds.min;
  let span = (w.max - w.min) * factor;
  if (full <= 0) return { ...bounds };
  span = Math.min(Math.max(span, Math.min(full, 1)), full);
  const frac = w.max > w.min ? (center - w.min) / (w.max - w.min) : 0.5;
  let min = center - span * frac;
  let max = min + span;
  if (min < bounds.min) [min, max] = [bounds.min, bounds.min + span];
  if (max > bounds.max) [min, max] = [bounds.max - span, bounds.max];
  return { min, max };
}

/** Moves the x window by `fraction` of its width (negative: back in time), kept inside `bounds`. */
export function panWindow(w: Window, fraction: number, bounds: Window): Window {
  const span = w.max - w.min;
  let min = w.min + span * fraction;
  min = Math.max(bounds.min, Math.min(min, bounds.max - span));
  return { min, max: min + span };
}

/** uPlot's names for its time axis (its DateNames). */
export interface DateNames {
  MMMM: string[];
  MMM: string[];
  WWWW: string[];
  WWW: string[];
}

/** Month and weekday names of a locale, for uPlot's axis labels. */
export function dateNames(locale: string): DateNames {
  const month = (style: "long" | "short") => {
    const f = new Intl.DateTimeFormat(locale, { month: style, timeZone: "UTC" });
    return Array.from({ length: 12 }, (_, i) => f.format(Date.UTC(2024, i, 1)));
  };
  // 2024-09-01 was a Sunday: uPlot's weekday lists start on Sunday.
  const weekday = (style: "long" | "short") => {
    const f = new Intl.DateTimeFormat(locale, { weekday: style, timeZone: "UTC" });
    return Array.from({ length: 7 }, (_, i) => f.format(Date.UTC(2024, 8, 1 + i)));
  };
  return { MMMM: month("long"), MMM: month("short"), WWWW: weekday("long"), WWW: weekday("short") };
}
