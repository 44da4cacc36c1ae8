import { useEffect, useState } from "preact/hooks";
import type { ConnectionStatus } from "../net/socket";

const CLOSED_TEXT = {
  unauthorized: "Signed out",
  forbidden: "No access to this room",
  not_found: "This room does not exist",
  stopped: "Closed",
} as const;

/** The room connection's state, always visible; offers an immediate retry while waiting. */
export function ConnectionBadge({ status, onRetry }: { status: ConnectionStatus; onRetry: () => void }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (status.state !== "waiting") return;
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, [status.state]);

  let text: string;
  switch (status.state) {
    case "live":
      text = "Live";
      break;
    case "syncing":
      text = "Catching up…";
      break;
    case "connecting":
      text = status.attempt > 0 ? `Reconnecting (attempt ${status.attempt + 1})…` : "Connecting…";
      break;
    case "waiting": {
      const seconds = status.retryAt ? Math.max(0, Math.ceil((status.retryAt - now) / 1000)) : 0;
      text = `Offline, retrying in ${seconds}s`;
      break;
    }
    case "closed":
      text = CLOSED_TEXT[status.closeReason ?? "stopped"];
      break;
  }
  return (
    <span class={`conn conn-${status.state}`} role="status" aria-live="polite">
      <span class="conn-dot" aria-hidden="true" />
      {text}
      {status.state === "waiting" ? (
        <button type="button" class="link-button" onClick={onRetry}>
          Retry now
        </button>
      ) : null}
    </span>
  );
}
