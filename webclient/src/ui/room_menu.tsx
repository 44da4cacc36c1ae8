import { t } from "../i18n";
import { useEffect, useRef, useState } from "preact/hooks";

/** The report formats `GET /api/rooms/{id}/report` offers, in menu order. */
export const REPORT_FORMATS = [
  { format: "pdf", open: true },
  { format: "html", open: true },
  { format: "md", open: false },
  { format: "csv", open: false },
  { format: "json", open: false },
] as const;

/** A format's name in the menu ("CSV (incident data)"), in the current language. */
export function formatLabel(format: ReportFormat): string {
  return t(`roomMenu.formats.${format}`);
}

export type ReportFormat = (typeof REPORT_FORMATS)[number]["format"];

/**
 * The report's address. The session cookie signs the request in (same origin), and the server
 * names the file after the room's title and the date (Content-Disposition).
 */
export function reportUrl(roomId: string, format: ReportFormat, download = true): string {
  const query = new URLSearchParams({ format });
  if (!download) query.set("download", "0");
  return `/api/rooms/${encodeURIComponent(roomId)}/report?${query.toString()}`;
}

/**
 * The room menu: "Alerts" (opens the room's Alerts panel, when given) and "Export report" with
 * the format choice (download, or open PDF/HTML in a tab).
 */
export function RoomMenu({ roomId, onAlerts }: { roomId: string; onAlerts?: () => void }) {
  const [open, setOpen] = useState(false);
  const [format, setFormat] = useState<ReportFormat>("pdf");
  const root = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    const close = (e: Event) => {
      if (e instanceof KeyboardEvent ? e.key === "Escape" : !root.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("pointerdown", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("pointerdown", close);
      document.removeEventListener("keydown", close);
    };
  }, [open]);

  const chosen = REPORT_FORMATS.find((f) => f.format === format) ?? REPORT_FORMATS[0];
  return (
    <div class="room-menu" ref={root}>
      <button
        type="button"
        aria-haspopup="true"
        aria-expanded={open}
        aria-controls="room-menu-panel"
        aria-label={t("roomMenu.label")}
        onClick={() => setOpen(!open)}
      >
        ⋯
      </button>
      {open ? (
        <div id="room-menu-panel" class="room-menu-panel" role="group" aria-label={t("roomMenu.label")}>
          {onAlerts ? (
            <button
              type="button"
              class="room-menu-item"
              onClick={() => {
                setOpen(false);
                onAlerts();
              }}
            >
              🚨 {t("room.alerts")}
            </button>
          ) : null}
          <fieldset>
            <legend>{t("roomMenu.export")}</legend>
            {REPORT_FORMATS.map((f) => (
              <label key={f.format} class="report-format">
                <input
                  type="radio"
                  name="report-format"
                  value={f.format}
                  checked={format === f.format}
                  onChange={() => setFormat(f.format)}
                />{" "}
                {formatLabel(f.format)}
              </label>
            ))}
          </fieldset>
          <div class="room-menu-actions">
            <a class="button" href={reportUrl(roomId, chosen.format)} download onClick={() => setOpen(false)}>
              {t("roomMenu.downloadAs", { format: formatLabel(chosen.format) })}
            </a>
            {chosen.open ? (
              <a
                class="button secondary"
                href={reportUrl(roomId, chosen.format, false)}
                target="_blank"
                rel="noopener"
                onClick={() => setOpen(false)}
              >
                {t("roomMenu.open")}
              </a>
            ) : null}
          </div>
        </div>
      ) : null}
    </div>
  );
}
