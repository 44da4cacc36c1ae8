import { useEffect, useState } from "preact/hooks";
import type { ApiClient } from "../net/http";
import type { IncidentPoint } from "../net/schemas";
import { chartGeometry } from "../state/chart";
import type { ZonedTimeFormatter } from "../state/time_format";
import { INCIDENT_FIELDS } from "./incident_form";

const BOX = { width: 320, height: 140, padLeft: 44, padRight: 10, padTop: 10, padBottom: 24 };

/** A line of one incident-data field over time, from the incident-data endpoint. */
export function IncidentChart({
  api,
  roomId,
  fmt,
  refreshKey,
}: {
  api: ApiClient;
  roomId: string;
  fmt: ZonedTimeFormatter;
  /** Changes when new incident data arrives, to refetch. */
  refreshKey: number;
}) {
  const [field, setField] = useState("temperature");
  const [points, setPoints] = useState<IncidentPoint[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    setError(null);
    api.incidentData(roomId, field).then(
      (p) => !cancelled && setPoints(p),
      (err: unknown) => !cancelled && setError(err instanceof Error ? err.message : String(err)),
    );
    return () => {
      cancelled = true;
    };
  }, [roomId, field, refreshKey]);

  const now = new Date();
  const g = points ? chartGeometry(points, BOX) : null;
  const label = INCIDENT_FIELDS.find((f) => f.key === field)?.label ?? field;
  return (
    <section class="chart card" aria-labelledby="chart-title">
      <div class="row">
        <h2 id="chart-title">Trend</h2>
        <label>
          <span class="visually-hidden">Field</span>
          <select value={field} onChange={(e) => setField(e.currentTarget.value)}>
            {INCIDENT_FIELDS.map((f) => (
              <option key={f.key} value={f.key}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error ? (
        <p class="error" role="alert">
          Could not load the data: {error}
        </p>
      ) : null}
      {g && g.dots.length === 0 ? <p class="muted">No {label.toLowerCase()} readings yet.</p> : null}
      {g && g.dots.length > 0 ? (
        <svg
          viewBox={`0 0 ${BOX.width} ${BOX.height}`}
          role="img"
          aria-label={`${label}: ${g.dots.length} readings from ${g.min} to ${g.max}, latest ${g.dots[g.dots.length - 1]!.value}`}
          class="chart-svg"
        >
          <line x1={BOX.padLeft} y1={BOX.padTop} x2={BOX.padLeft} y2={BOX.height - BOX.padBottom} class="axis" />
          <line
            x1={BOX.padLeft}
            y1={BOX.height - BOX.padBottom}
            x2={BOX.width - BOX.padRight}
            y2={BOX.height - BOX.padBottom}
            class="axis"
          />
          <text x={BOX.padLeft - 4} y={BOX.padTop + 8} text-anchor="end" class="tick">
            {g.max}
          </text>
          <text x={BOX.padLeft - 4} y={BOX.height - BOX.padBottom} text-anchor="end" class="tick">
            {g.min}
          </text>
          {g.first ? (
            <text x={BOX.padLeft} y={BOX.height - 8} class="tick">
              {fmt.short(g.first, now)}
            </text>
          ) : null}
          {g.last ? (
            <text x={BOX.width - BOX.padRight} y={BOX.height - 8} text-anchor="end" class="tick">
              {fmt.short(g.last, now)}
            </text>
          ) : null}
          <polyline points={g.polyline} class="series" fill="none" />
          {g.dots.map((d, i) => (
            <circle key={i} cx={d.x} cy={d.y} r={3} class="dot">
              <title>
                {d.value} at {fmt.short(d.at, now)}
              </title>
            </circle>
          ))}
        </svg>
      ) : null}
    </section>
  );
}
