/**
 * The Trend panel loads the chart (and uPlot, ~20 KB gzip) only when it is first opened, so
 * the room page does not pay for it. The chunk is in the service worker's precache like the
 * rest of the shell, so it opens offline too.
 */
import { lazyTexts } from "../i18n";
import type { ComponentProps, FunctionComponent } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { IncidentChart as Chart } from "./incident_chart";

type Props = ComponentProps<typeof Chart>;

export const LAZY_CHART_TEXT = lazyTexts({ loading: "chart.loadingChart", failed: "chart.chartFailed" });

let loaded: FunctionComponent<Props> | null = null;

export function LazyIncidentChart(props: Props) {
  const [Component, setComponent] = useState<FunctionComponent<Props> | null>(() => loaded);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    if (Component) return;
    let cancelled = false;
    import("./incident_chart").then(
      (m) => {
        loaded = m.IncidentChart;
        if (!cancelled) setComponent(() => m.IncidentChart);
      },
      () => !cancelled && setFailed(true),
    );
    return () => {
      cancelled = true;
    };
  }, []);
  if (Component) return <Component {...props} />;
  return failed ? (
    <p class="error" role="alert">
      {LAZY_CHART_TEXT.failed}
    </p>
  ) : (
    <p class="muted">{LAZY_CHART_TEXT.loading}</p>
  );
}
