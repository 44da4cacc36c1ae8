import { useEffect, useState } from "preact/hooks";
import type { ConnectionStatus } from "../net/managed_socket";

const CLOSED_TEXT = {
  unauthorized: "Signed out",
  forbidden: "No access to this room",
  not_found: "This room does not exist",
  stopped: "Closed",
} as const;

/**
 * The words for a connection's state. "Live" only while frames flow; "Offline" as soon as the
 * browser says so; "Connecting…" the first time, "Reconnecting…" after it was up or failed.
 */
export function connectionLabel(status: ConnectionStatus): string {
  switch (status.state) {
    case "live":
      return "Live";
    case "syncing":
      return "Catching up…";
    case "connecting":
      return status.attempt > 0 || status.hasBeenLive ? "Reconnecting…" : "Connecting…";
    case "waiting":
      return "Reconnecting…";
    case "offline":
      return "Offline";
    case "closed":
      return CLOSED_TEXT[status.closeReason ?? "stopped"];
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
  label = "Connection",
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
      aria-label={`${label}: ${text}`}
      data-testid={testId}
      data-state={status.state}
    >
      <span class="conn-dot" aria-hidden="true" />
      <span class="conn-text" data-testid={`${testId}-text`}>
        {text}
      </span>
      {seconds !== null && seconds > 0 ? <span class="conn-detail muted">{` next try in ${seconds}s`}</span> : null}
      {canRetry(status) ? (
        <button type="button" class="link-button" data-testid={`${testId}-retry`} onClick={onRetry}>
          Retry now
        </button>
      ) : null}
    </span>
  );
}
