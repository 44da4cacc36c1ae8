/**
 * Honest push opt-in: what state this browser's notifications are really in, why a subscription
 * failed, what to tell the person, and the copy kept in localStorage (the spec: "the permission
 * state is stored locally").
 *
 * "on" means one thing only: the browser has a push subscription and the server accepted it.
 * Permission granted with a failed subscription is `failed`, never `on`.
 */
import { lazyTexts, t } from "../i18n";
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

const KIND_KEYS: readonly PushKind[] = ["unsupported", "off", "blocked", "working", "on", "failed"];
const REASON_KEYS: readonly FailReason[] = ["no-push-service", "permission-denied", "private-mode", "no-worker", "server", "offline", "unknown"];

function keyed<K extends string>(names: readonly K[], prefix: string): Record<K, string> {
  return Object.fromEntries(names.map((n) => [n, `${prefix}.${n}`])) as Record<K, string>;
}

/** User-visible strings of push opt-in, in the current language (src/i18n/locales). */
export const PUSH_TEXT = lazyTexts(
  {
    bannerTitle: "push.bannerTitle",
    bannerText: "push.bannerText",
    bannerFailedTitle: "push.bannerFailedTitle",
    bannerBlockedTitle: "push.bannerBlockedTitle",
    turnOn: "push.turnOn",
    tryAgain: "push.tryAgain",
    notNow: "push.notNow",
    dismiss: "common.dismiss",
    settingsLabel: "push.settingsLabel",
  },
  {
    status: lazyTexts(keyed(KIND_KEYS, "push.status")),
    explain: lazyTexts(keyed(KIND_KEYS.filter((k): k is Exclude<PushKind, "failed"> => k !== "failed"), "push.explain")),
    failed: lazyTexts(keyed(REASON_KEYS, "push.failed")),
    technical: (detail: string) => t("push.technical", { detail }),
  },
);

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
const KINDS = KIND_KEYS;
const REASONS = REASON_KEYS;

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
