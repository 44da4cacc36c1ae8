/**
 * Honest push opt-in: what state this browser's notifications are really in, why a subscription
 * failed, what to tell the person, and the copy kept in localStorage (the spec: "the permission
 * state is stored locally").
 *
 * "on" means one thing only: the browser has a push subscription and the server accepted it.
 * Permission granted with a failed subscription is `failed`, never `on`.
 */
import type { KeyValueStore } from "../state/settings";

export type FailReason = "no-push-service" | "permission-denied" | "private-mode" | "no-worker" | "server" | "offline" | "unknown";

export type PushState =
  /** The browser has no Notification or Push API here (private windows, iOS outside the Home Screen). */
  | { kind: "unsupported" }
  /** Never asked, or asked and dismissed: can be turned on. */
  | { kind: "off" }
  /** The person (or a policy) blocked notifications for this site. */
  | { kind: "blocked" }
  /** Asking for permission or subscribing right now. */
  | { kind: "working" }
  /** Subscribed, and the server has the subscription. */
  | { kind: "on" }
  /** Permission may be granted, but there is no working subscription. */
  | { kind: "failed"; reason: FailReason; detail: string };

export type PushKind = PushState["kind"];

/** User-visible strings of push opt-in (routed through the i18n library at merge). */
export const PUSH_TEXT = {
  status: {
    unsupported: "Not available in this browser",
    off: "Off",
    blocked: "Blocked",
    working: "Turning on…",
    on: "On",
    failed: "Not working",
  } satisfies Record<PushKind, string>,
  explain: {
    unsupported:
      "This browser cannot receive push notifications here. Private or incognito windows do not allow them, and on iPhone and iPad they work only after adding Andon to the Home Screen. Open Andon in a normal window (or from the Home Screen) to get alerts.",
    off: "Turn notifications on to be alerted when someone mentions you or posts in your rooms while Andon is in the background or closed.",
    blocked:
      "Notifications are blocked for this site. To get alerts, allow notifications in the browser's site settings (the icon left of the address bar), then press Try again.",
    working: "Waiting for the browser…",
    on: "This browser will show a notification for new messages as set below, even when Andon is closed.",
  } satisfies Record<Exclude<PushKind, "failed">, string>,
  failed: {
    "no-push-service":
      "Notifications could not be turned on: this browser could not register with its push service. Private or incognito windows, some browser builds (such as Chromium on Linux) and some company networks block it. Alerts still sound while Andon is open. Open Andon in a normal window of Chrome, Edge or Firefox, or press Try again later.",
    "permission-denied":
      "Notifications could not be turned on: the browser refused permission. Allow notifications for this site in the browser's site settings (the icon left of the address bar), then press Try again.",
    "private-mode":
      "Notifications could not be turned on: this looks like a private or incognito window, where browsers do not allow them. Open Andon in a normal window to get alerts.",
    "no-worker":
      "Notifications could not be turned on: Andon's background worker did not start in this browser. Reload the page, then press Try again.",
    server:
      "Notifications could not be turned on: the Andon server did not accept this browser. Try again in a minute; if it keeps failing, tell your administrator.",
    offline: "Notifications could not be turned on because you are offline. Press Try again when you are back online.",
    unknown:
      "Notifications could not be turned on. Press Try again; if it keeps failing, use another browser (Chrome, Edge or Firefox) in a normal window.",
  } satisfies Record<FailReason, string>,
  technical: (detail: string) => `Browser said: ${detail}`,
  bannerTitle: "Get alerted when an incident needs you",
  bannerFailedTitle: "Notifications are not on",
  bannerBlockedTitle: "Notifications are blocked",
  turnOn: "Turn on notifications",
  tryAgain: "Try again",
  notNow: "Not now",
  dismiss: "Dismiss",
  settingsLabel: "Browser notifications",
};

/** What to tell the person about a state: a short status and a sentence with what to do. */
export function describePush(state: PushState): { status: string; explain: string; technical: string | null } {
  if (state.kind === "failed") {
    return {
      status: PUSH_TEXT.status.failed,
      explain: PUSH_TEXT.failed[state.reason],
      technical: state.detail ? PUSH_TEXT.technical(state.detail) : null,
    };
  }
  return { status: PUSH_TEXT.status[state.kind], explain: PUSH_TEXT.explain[state.kind], technical: null };
}

/** Why subscribing failed, from what the browser or the API threw. */
export function classifyPushError(err: unknown): { reason: FailReason; detail: string } {
  const name = typeof err === "object" && err !== null && "name" in err ? String((err as { name: unknown }).name) : "";
  const message = err instanceof Error ? err.message : typeof err === "string" ? err : "";
  const detail = (message || name || String(err)).slice(0, 200);
  const lower = message.toLowerCase();
  if (name === "NetworkError" && !(err instanceof DOMException)) return { reason: "offline", detail };
  if (name === "ApiError") return { reason: "server", detail };
  if (name === "PushWorkerTimeout") return { reason: "no-worker", detail };
  if (name === "NotAllowedError") {
    return lower.includes("incognito") || lower.includes("private")
      ? { reason: "private-mode", detail }
      : { reason: "permission-denied", detail };
  }
  if (name === "SecurityError" || name === "InvalidStateError") return { reason: "private-mode", detail };
  if (name === "AbortError" || name === "NotSupportedError" || lower.includes("push service")) {
    return { reason: "no-push-service", detail };
  }
  return { reason: "unknown", detail };
}

/** The permission as the Notification API reports it, or "unsupported". */
export type Permission = NotificationPermission | "unsupported";

/** The state before trying to subscribe, from what the browser offers and the permission alone. */
export function stateFromPermission(pushSupported: boolean, permission: Permission): PushState {
  if (permission === "unsupported" || !pushSupported) return { kind: "unsupported" };
  if (permission === "denied") return { kind: "blocked" };
  if (permission === "default") return { kind: "off" };
  return { kind: "working" };
}

// ----------------------------------------------------------------------------- stored copy

export interface StoredPush {
  permission: Permission;
  state: PushState;
  /** The person closed the banner about this failure: it stays in Settings, not on every page. */
  dismissed: boolean;
  at: string;
}

const KEY = "andon.push.v1";
const KINDS: readonly PushKind[] = ["unsupported", "off", "blocked", "working", "on", "failed"];
const REASONS: readonly FailReason[] = ["no-push-service", "permission-denied", "private-mode", "no-worker", "server", "offline", "unknown"];

export function loadPush(store: KeyValueStore): StoredPush | null {
  let raw: string | null;
  try {
    raw = store.getItem(KEY);
  } catch {
    return null;
  }
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    const s = v.state as Record<string, unknown> | undefined;
    const permission = v.permission;
    if (!s || !KINDS.includes(s.kind as PushKind)) return null;
    if (permission !== "default" && permission !== "granted" && permission !== "denied" && permission !== "unsupported") return null;
    let state: PushState;
    if (s.kind === "failed") {
      if (!REASONS.includes(s.reason as FailReason)) return null;
      state = { kind: "failed", reason: s.reason as FailReason, detail: typeof s.detail === "string" ? s.detail : "" };
    } else {
      state = { kind: s.kind as Exclude<PushKind, "failed"> };
    }
    return { permission, state, dismissed: v.dismissed === true, at: typeof v.at === "string" ? v.at : "" };
  } catch {
    return null;
  }
}

export function savePush(store: KeyValueStore, value: StoredPush): void {
  try {
    store.setItem(KEY, JSON.stringify(value));
  } catch {
    // Private mode or a full quota: the state lasts for this page only.
  }
}
