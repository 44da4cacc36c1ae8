/** Geometry of the small incident-data line chart, computed without the DOM. */
import type { IncidentPoint } from "../net/schemas";

export interface ChartBox {
  width: number;
  height: number;
  padLeft: number;
  padRight: number;
  padTop: number;
  padBottom: number;
}

export interface ChartGeometry {
  /** The SVG polyline `points` attribute. */
  polyline: string;
  dots: { x: number; y: number; value: number; at: string }[];
  min: number;
  max: number;
  first: string | null;
  last: string | null;
}

export function chartGeometry(points: readonly IncidentPoint[], box: ChartBox): ChartGeometry {
  // A line over time: ordered by timestamp, the sequence number breaking ties.
  const sorted = [...points].sort(
    (a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.sequence_number - b.sequence_number,
  );
  if (sorted.length === 0) return { polyline: "", dots: [], min: 0, max: 0, first: null, last: null };
  const values = sorted.map((p) => p.value);
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) {
    // A flat series is drawn across the middle rather than along an edge.
    min -= 1;
    max += 1;
  }
  const times = sorted.map((p) => Date.parse(p.created_at));
  const t0 = times[0]!;
  const t1 = times[times.length - 1]!;
  const innerW = box.width - box.padLeft - box.padRight;
  const innerH = box.height - box.padTop - box.padBottom;
  const dots = sorted.map((p, i) => {
    // Equal spacing when the timestamps do not spread (one point, or all at one instant).
    const fx = t1 > t0 ? (times[i]! - t0) / (t1 - t0) : sorted.length === 1 ? 0.5 : i / (sorted.length - 1);
    const fy = (p.value - min) / (max - min);
    return {
      x: round(box.padLeft + fx * innerW),
      y: round(box.padTop + (1 - fy) * innerH),
      value: p.value,
      at: p.created_at,
    };
  });
  return {
    polyline: dots.map((d) => `${d.x},${d.y}`).join(" "),
    dots,
    min: Math.min(...values),
    max: Math.max(...values),
    first: sorted[0]!.created_at,
    last: sorted[sorted.length - 1]!.created_at,
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
