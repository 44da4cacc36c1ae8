/**
 * Timestamps in the display time zone (Asia/Taipei by default), whatever zone the
 * browser is in: "HH:mm" for today, "MM/DD HH:mm" before. "Today" is the calendar
 * day in the display zone, not the browser's.
 */

interface ZonedParts {
  year: string;
  month: string;
  day: string;
  hour: string;
  minute: string;
}

/** How many instants each formatter remembers (their parts, their long form) before starting over. */
const CACHE_LIMIT = 5_000;

/**
 * Formats instants in one zone; build one per zone and reuse it (Intl formatters are costly).
 *
 * Results are remembered per instant: a message list re-renders every item for each new
 * message, and `formatToParts` for every timestamp of a 500-message room on each of them
 * kept the page busy for seconds while a room caught up.
 */
export class ZonedTimeFormatter {
  private readonly parts: Intl.DateTimeFormat;
  private readonly full: Intl.DateTimeFormat;
  private readonly partsCache = new Map<number, ZonedParts>();
  private readonly longCache = new Map<number, string>();

  /** `locale` words the long form (tooltips); the short form is the spec's digits in every language. */
  constructor(
    readonly timeZone: string,
    readonly locale = "en-GB",
  ) {
    this.parts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    // Always with the year (a message from another year says which) and the zone's offset.
    this.full = new Intl.DateTimeFormat(locale, {
      timeZone,
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      timeZoneName: "shortOffset",
    });
  }

  /** "HH:mm" when `at` falls on the same display-zone day as `now`, else "MM/DD HH:mm". */
  short(at: Date | string, now: Date): string {
    const when = toDate(at);
    if (when === null) return "";
    const p = this.zoned(when);
    const today = this.zoned(now);
    const time = `${p.hour}:${p.minute}`;
    if (p.year === today.year && p.month === today.month && p.day === today.day) return time;
    return `${p.month}/${p.day} ${time}`;
  }

  /** A long form for tooltips and screen readers: "17 Nov 2025, 21:45:00 GMT+8 (Asia/Taipei)". */
  long(at: Date | string): string {
    const when = toDate(at);
    if (when === null) return "";
    const key = when.getTime();
    let text = this.longCache.get(key);
    if (text === undefined) {
      text = `${this.full.format(when)} (${this.timeZone})`;
      remember(this.longCache, key, text);
    }
    return text;
  }

  /** The display-zone calendar day, "YYYY-MM-DD" (for day separators). */
  dayKey(at: Date | string): string {
    const when = toDate(at);
    if (when === null) return "";
    const p = this.zoned(when);
    return `${p.year}-${p.month}-${p.day}`;
  }

  private zoned(date: Date): ZonedParts {
    const key = date.getTime();
    const known = this.partsCache.get(key);
    if (known) return known;
    const out: ZonedParts = { year: "", month: "", day: "", hour: "", minute: "" };
    for (const part of this.parts.formatToParts(date)) {
      if (part.type in out) out[part.type as keyof ZonedParts] = part.value;
    }
    // Some ICU versions still print midnight as "24" despite h23.
    if (out.hour === "24") out.hour = "00";
    remember(this.partsCache, key, out);
    return out;
  }
}

function remember<V>(cache: Map<number, V>, key: number, value: V): void {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
}

/** Whether the runtime knows the zone; an unknown zone falls back to the default. */
export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function toDate(at: Date | string): Date | null {
  const d = typeof at === "string" ? new Date(at) : at;
  return Number.isNaN(d.getTime()) ? null : d;
}
