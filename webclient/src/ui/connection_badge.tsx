import { t } from "../i18n";
import { useEffect, useState } from "preact/hooks";
import type { ConnectionStatus } from "../net/managed_socket";


/**
 * The words for a connection's state. "Live" only while frames flow; "Offline" as soon as the
 * browser says so; "Connecting…" the first time, "Reconnecting…" after it was up or failed.
 */
export function connectionLabel(status: ConnectionStatus): string {
  switch (status.state) {
    case "live":
      return t("connection.live");
    case "syncing":
      return t("connection.syncing");
    case "connecting":
      return status.attempt > 0 || status.hasBeenLive ? t("connection.reconnecting") : t("connection.connecting");
    case "waiting":
      return t("connection.reconnecting");
    case "offline":
      return t("connection.offline");
    case "closed":
      return t(`connection.closed.${status.closeReason ?? "stopped"}`);
  }
}

/** Whether "Retry now" makes sense: nothing is in flight and we are not connected. */
export function canRetry(status: ConnectionStatus): boolean {
  return status.state === "waiting" || status.state === "offline";
}

/** A connection's state, always visible; offers an immediate retry while disconnected. */
export function ConnectionBadge({
  status,
  onRetry,
  testId = "connection-badge",
  label = t("connection.label"),
}: {
  status: ConnectionStatus;
  onRetry: () => void;
  testId?: string;
  label?: string;
}) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (status.state !== "waiting") return;
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, [status.state]);

  const text = connectionLabel(status);
  const seconds = status.state === "waiting" && status.retryAt ? Math.max(0, Math.ceil((status.retryAt - now) / 1000)) : null;
  return (
    <span
      class={`conn conn-${status.state}`}
      role="status"
      aria-live="polite"
      aria-label={t("connection.aria", { label, state: text })}
      data-testid={testId}
      data-state={status.state}
    >
      <span class="conn-dot" aria-hidden="true" />
      <span class="conn-text" data-testid={`${testId}-text`}>
        {text}
      </span>
      {seconds !== null && seconds > 0 ? <span class="conn-detail muted">{` ${t("connection.nextTry", { count: seconds })}`}</span> : null}
      {canRetry(status) ? (
        <button type="button" class="link-button" data-testid={`${testId}-retry`} onClick={onRetry}>
          {t("connection.retryNow")}
        </button>
      ) : null}
    </span>
  );
}
