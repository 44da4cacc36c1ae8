import { lazyTexts, t } from "../i18n";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { ApiClient } from "../net/http";
import type { ChatMessage, IncidentPoint } from "../net/schemas";
import {
  alignSeries,
  chartableFields,
  dateNames,
  deletedIds,
  mergePoints,
  panWindow,
  pointsFromMessages,
  scaleKeys,
  zoomWindow,
  type FieldInfo,
  type Series,
  type Window,
} from "../state/chart";
import { fieldLabel, formatReading } from "../state/incident_fields";
import type { ZonedTimeFormatter } from "../state/time_format";

/** User-visible strings of the chart, in the current language (src/i18n/locales). */
export const CHART_TEXT = lazyTexts(
  {
    title: "chart.title",
    fields: "chart.fields",
    none: "chart.none",
    pick: "chart.pick",
    zoomIn: "chart.zoomIn",
    zoomOut: "chart.zoomOut",
    panBack: "chart.panBack",
    panForward: "chart.panForward",
    reset: "chart.reset",
    time: "chart.time",
    hint: "chart.hint",
  },
  {
    loadFailed: (why: string) => t("chart.loadFailed", { detail: why }),
    summary: (parts: string[]) => parts.join(t("chart.summarySeparator")),
    seriesSummary: (label: string, n: number, min: string, max: string, latest: string) =>
      t("chart.seriesSummary", { label, count: n, min, max, latest }),
  },
);

const COLORS = ["#c2410c", "#1d4ed8", "#15803d", "#7e22ce", "#0e7490", "#b91c1c", "#4d7c0f", "#a16207"];
const HEIGHT = 220;

/** Numeric incident-data fields of the room over time: several at once, zoom/pan, live. */
export function IncidentChart({
  api,
  roomId,
  fmt,
  refreshKey,
  messages = [],
}: {
  api: ApiClient;
  roomId: string;
  fmt: ZonedTimeFormatter;
  /** Changes when incident data arrives, is edited or deleted, to refetch. */
  refreshKey: number;
  /** The room's loaded messages: readings that just arrived show before the refetch answers. */
  messages?: readonly ChatMessage[];
}) {
  const [serverFields, setServerFields] = useState<FieldInfo[]>([]);
  const [fetched, setFetched] = useState<Record<string, IncidentPoint[]>>({});
  const [selected, setSelected] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const fields = useMemo(() => chartableFields(serverFields, messages), [serverFields, messages]);
  const chosen = (selected ?? defaultSelection(fields)).filter((f) => fields.some((x) => x.field === f));

  useEffect(() => {
    let cancelled = false;
    api.incidentFields(roomId).then(
      (list) => !cancelled && setServerFields(list),
      (err: unknown) => !cancelled && setError(CHART_TEXT.loadFailed(err instanceof Error ? err.message : String(err))),
    );
    return () => {
      cancelled = true;
    };
  }, [roomId, refreshKey]);

  const chosenKey = chosen.join("\n");
  useEffect(() => {
    let cancelled = false;
    setError(null);
    Promise.all(chosen.map(async (f) => [f, await api.incidentData(roomId, f)] as const)).then(
      (pairs) => !cancelled && setFetched((old) => ({ ...old, ...Object.fromEntries(pairs) })),
      (err: unknown) => !cancelled && setError(CHART_TEXT.loadFailed(err instanceof Error ? err.message : String(err))),
    );
    return () => {
      cancelled = true;
    };
  }, [roomId, chosenKey, refreshKey]);

  const gone = deletedIds(messages);
  const series: Series[] = chosen.map((f) => ({
    field: f,
    unit: fields.find((x) => x.field === f)?.unit ?? null,
    points: mergePoints(fetched[f] ?? [], pointsFromMessages(messages, f)).filter((p) => !gone.has(p.message_id)),
  }));

  const toggle = (field: string, on: boolean) =>
    setSelected(on ? [...chosen.filter((f) => f !== field), field] : chosen.filter((f) => f !== field));

  return (
    <section class="chart card" aria-labelledby="chart-title">
      <h2 id="chart-title">{CHART_TEXT.title}</h2>
      {fields.length > 0 ? (
        <fieldset class="chart-fields">
          <legend class="visually-hidden">{CHART_TEXT.fields}</legend>
          {fields.map((f) => (
            <label key={f.field} class="chart-field">
              <input
                type="checkbox"
                checked={chosen.includes(f.field)}
                onChange={(e) => toggle(f.field, e.currentTarget.checked)}
              />
              {fieldLabel(f.field)}
              {f.unit ? ` (${f.unit})` : ""}
            </label>
          ))}
        </fieldset>
      ) : null}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {fields.length === 0 ? <p class="muted">{CHART_TEXT.none}</p> : null}
      {fields.length > 0 && chosen.length === 0 ? <p class="muted">{CHART_TEXT.pick}</p> : null}
      {series.length > 0 && series.some((s) => s.points.length > 0) ? <Plot series={series} fmt={fmt} /> : null}
    </section>
  );
}

/** The spec's temperature when the room has it, else the first field. */
function defaultSelection(fields: readonly FieldInfo[]): string[] {
  if (fields.length === 0) return [];
  return [fields.find((f) => f.field === "temperature")?.field ?? fields[0]!.field];
}

function summary(series: readonly Series[]): string {
  return CHART_TEXT.summary(
    series
      .filter((s) => s.points.length > 0)
      .map((s) => {
        const values = s.points.map((p) => p.value);
        return CHART_TEXT.seriesSummary(
          fieldLabel(s.field),
          values.length,
          formatReading(Math.min(...values), s.unit),
          formatReading(Math.max(...values), s.unit),
          formatReading(values[values.length - 1], s.unit),
        );
      }),
  );
}

function Plot({ series, fmt }: { series: Series[]; fmt: ZonedTimeFormatter }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  /** The x window the user zoomed to, or null for everything. */
  const zoom = useRef<Window | null>(null);
  const [zoomed, setZoomed] = useState(false);
  const data = alignSeries(series);
  const shape = series.map((s) => `${s.field}|${s.unit ?? ""}`).join("\n");
  const dataRef = useRef(data);
  dataRef.current = data;
  const bounds = (): Window => {
    const xs = dataRef.current[0];
    return { min: xs[0] ?? 0, max: xs[xs.length - 1] ?? 0 };
  };

  const applyZoom = (w: Window | null) => {
    const u = plot.current;
    zoom.current = w;
    setZoomed(w !== null);
    if (!u) return;
    const b = bounds();
    const target = w ?? paddedBounds(b);
    u.setScale("x", target);
  };

  // A new uPlot when the set of series (or their units) changes; new data otherwise.
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const keys = scaleKeys(series);
    const axisScales = [...new Set(keys)].slice(0, 2);
    const now = new Date();
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth || 320),
      height: HEIGHT,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), fmt.timeZone),
      // The time axis names months and weekdays in the page's language.
      fmtDate: (tpl) => uPlot.fmtDate(tpl, dateNames(fmt.locale)),
      scales: {
        x: { time: true, range: (_u, min, max) => (min === max ? [min - 60, max + 60] : [min, max]) },
        ...Object.fromEntries(keys.map((k) => [k, { auto: true }])),
      },
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { live: true },
      axes: [
        { stroke: "#555", grid: { stroke: "#eee" } },
        ...axisScales.map((k, i) => ({
          scale: k,
          side: i === 0 ? 3 : 1,
          stroke: "#555",
          grid: { show: i === 0, stroke: "#eee" },
          label: series.find((_, j) => keys[j] === k)?.unit ?? undefined,
          size: 50,
        })),
      ],
      series: [
        {
          label: CHART_TEXT.time,
          value: (_u, v) => (v == null ? "—" : fmt.short(new Date(v * 1000).toISOString(), now)),
        },
        ...series.map((s, i) => ({
          label: fieldLabel(s.field),
          scale: keys[i]!,
          stroke: COLORS[i % COLORS.length]!,
          width: 2,
          spanGaps: true,
          points: { show: true, size: 6 },
          value: (_u: uPlot, v: number | null) => (v == null ? "—" : formatReading(v, s.unit)),
        })),
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            applyZoom({ min, max });
          },
        ],
      },
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    if (zoom.current) u.setScale("x", zoom.current);
    const onWheel = (e: WheelEvent) => {
      const b = bounds();
      if (b.max <= b.min) return;
      e.preventDefault();
      const current = zoom.current ?? b;
      if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
        applyZoom(panWindow(current, Math.sign(e.deltaX || e.deltaY) * 0.2, b));
      } else {
        const center = u.posToVal(e.offsetX, "x");
        applyZoom(zoomWindow(current, e.deltaY < 0 ? 0.75 : 1 / 0.75, center, b));
      }
    };
    u.over.addEventListener("wheel", onWheel, { passive: false });
    const resize = new ResizeObserver(() => {
      if (el.clientWidth > 0) u.setSize({ width: el.clientWidth, height: HEIGHT });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.over.removeEventListener("wheel", onWheel);
      u.destroy();
      plot.current = null;
    };
  }, [shape, fmt.timeZone, fmt.locale]);

  // Live data: redraw, keeping the user's zoom window.
  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(data, zoom.current === null);
    if (zoom.current) u.setScale("x", zoom.current);
  });

  const step = (fn: (w: Window, b: Window) => Window) => {
    const b = bounds();
    if (b.max <= b.min) return;
    applyZoom(fn(zoom.current ?? b, b));
  };

  return (
    <div class="incident-plot">
      <div class="row chart-tools">
        <button type="button" onClick={() => step((w, b) => zoomWindow(w, 0.5, (w.min + w.max) / 2, b))}>
          {CHART_TEXT.zoomIn}
        </button>
        <button type="button" onClick={() => step((w, b) => zoomWindow(w, 2, (w.min + w.max) / 2, b))}>
          {CHART_TEXT.zoomOut}
        </button>
        <button type="button" disabled={!zoomed} onClick={() => step((w, b) => panWindow(w, -0.5, b))}>
          {CHART_TEXT.panBack}
        </button>
        <button type="button" disabled={!zoomed} onClick={() => step((w, b) => panWindow(w, 0.5, b))}>
          {CHART_TEXT.panForward}
        </button>
        <button type="button" disabled={!zoomed} onClick={() => applyZoom(null)}>
          {CHART_TEXT.reset}
        </button>
      </div>
      <div ref={host} class="plot-host" role="group" aria-label={summary(series)} data-testid="incident-plot" />
      <p class="muted small">{CHART_TEXT.hint}</p>
    </div>
  );
}

function paddedBounds(b: Window): Window {
  return b.min === b.max ? { min: b.min - 60, max: b.max + 60 } : b;
}
