/**
 * The push opt-in state machine, shared by the first-visit banner and Settings: one instance per
 * API client, its state a signal, every transition saved to localStorage (push_state.ts).
 *
 *   unsupported                        (no Notification / Push API: stays so)
 *   off ──enable──▶ working ──▶ on     (permission granted, subscribed, the server has it)
 *                      │   └──▶ failed(reason)   (no push service, refused, private mode, server, offline)
 *                      └──────▶ blocked           (the person said no)
 *   failed ──enable (Try again)──▶ working …
 *
 * A failure or a refusal that follows the person's own action stays visible in the banner until
 * they dismiss it; Settings shows the state whatever happens.
 */
import { signal, type Signal } from "@preact/signals";
import type { ApiClient } from "../net/http";
import { MemoryStore, type KeyValueStore } from "../state/settings";
import { ensurePushSubscription, notificationPermission } from "./push";
import {
  classifyPushError,
  loadPush,
  savePush,
  stateFromPermission,
  type Permission,
  type PushState,
} from "./push_state";

/** What the machine needs from the browser (a fake in tests). */
export interface PushEnv {
  permission(): Permission;
  /** Service workers and the Push API exist here. */
  pushSupported(): boolean;
  requestPermission(): Promise<NotificationPermission>;
  /** Subscribes (or reuses the subscription) and registers it with the server; throws on failure. */
  subscribe(): Promise<void>;
}

export class PushOptIn {
  readonly state: Signal<PushState>;
  /** The banner about the current failure or block was closed by the person. */
  readonly dismissed: Signal<boolean>;
  /** The current state follows an action of the person in this page (not a page load). */
  readonly fromAction = signal(false);
  private run = 0;
  /** The last state other than "working", to tell a new outcome from the same one again. */
  private settled: PushState;

  constructor(
    private readonly env: PushEnv,
    private readonly store: KeyValueStore,
    private readonly now: () => Date = () => new Date(),
  ) {
    const stored = loadPush(store);
    const initial = stateFromPermission(env.pushSupported(), env.permission());
    // A stored failure is shown until a new attempt says otherwise; a stored "on" is not trusted
    // until `refresh` has checked the subscription again ("working" meanwhile).
    const keepStored = stored !== null && initial.kind === "working" && stored.state.kind === "failed";
    this.state = signal(keepStored ? stored.state : initial);
    this.dismissed = signal(keepStored ? stored.dismissed : false);
    this.settled = this.state.value;
  }

  /** On page load: with permission granted, make sure the subscription exists and the server has it. */
  async refresh(): Promise<void> {
    const initial = stateFromPermission(this.env.pushSupported(), this.env.permission());
    if (initial.kind !== "working") {
      this.set(initial, false);
      return;
    }
    await this.subscribe(false);
  }

  /** The person pressed "Turn on" or "Try again". */
  async enable(): Promise<void> {
    if (this.env.permission() === "unsupported") {
      this.set({ kind: "unsupported" }, true);
      return;
    }
    const token = ++this.run;
    this.set({ kind: "working" }, true);
    let permission: NotificationPermission;
    try {
      permission = this.env.permission() === "granted" ? "granted" : await this.env.requestPermission();
    } catch (err) {
      if (token === this.run) this.set({ kind: "failed", ...classifyPushError(err) }, true);
      return;
    }
    if (token !== this.run) return;
    if (permission === "denied") return this.set({ kind: "blocked" }, true);
    if (permission === "default") return this.set({ kind: "off" }, true);
    // Page notifications work with the permission alone; push needs the Push API too.
    if (!this.env.pushSupported()) return this.set({ kind: "unsupported" }, true);
    await this.subscribe(true, token);
  }

  /** Closes the banner about the current failure; Settings still shows it. */
  dismiss(): void {
    this.dismissed.value = true;
    this.save();
  }

  private async subscribe(fromAction: boolean, token = ++this.run): Promise<void> {
    if (this.state.value.kind !== "working") this.set({ kind: "working" }, fromAction);
    try {
      await this.env.subscribe();
      if (token === this.run) this.set({ kind: "on" }, fromAction);
    } catch (err) {
      if (token === this.run) this.set({ kind: "failed", ...classifyPushError(err) }, fromAction);
    }
  }

  private set(state: PushState, fromAction: boolean): void {
    this.state.value = state;
    this.fromAction.value = fromAction;
    if (state.kind !== "working") {
      // A new outcome (another failure, a new refusal) is shown again even if an earlier one was
      // dismissed; the same failure found again on a page load stays dismissed.
      if (fromAction || JSON.stringify(state) !== JSON.stringify(this.settled)) this.dismissed.value = false;
      this.settled = state;
    }
    this.save();
  }

  private save(): void {
    const state = this.state.value;
    if (state.kind === "working") return;
    savePush(this.store, {
      permission: this.env.permission(),
      state,
      dismissed: this.dismissed.value,
      at: this.now().toISOString(),
    });
  }
}

/** Subscribing waits for the service worker; one that never starts must not leave "Turning on…" forever. */
export const WORKER_TIMEOUT_MS = 15_000;

export function browserPushEnv(api: ApiClient): PushEnv {
  return {
    permission: notificationPermission,
    pushSupported: () =>
      typeof navigator !== "undefined" && "serviceWorker" in navigator && typeof window !== "undefined" && "PushManager" in window,
    requestPermission: () => Notification.requestPermission(),
    subscribe: async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new Error("the service worker did not become ready");
          err.name = "PushWorkerTimeout";
          reject(err);
        }, WORKER_TIMEOUT_MS);
      });
      try {
        const result = await Promise.race([ensurePushSubscription(api), timeout]);
        if (result === "unsupported") throw Object.assign(new Error("Push is not supported here"), { name: "NotSupportedError" });
        if (result === "denied") throw Object.assign(new Error("permission denied"), { name: "NotAllowedError" });
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function localStore(): KeyValueStore {
  try {
    const s = window.localStorage;
    if (s) return s;
  } catch {
    // Storage disabled (some private modes): keep the state for this page.
  }
  return new MemoryStore();
}

const instances = new WeakMap<ApiClient, PushOptIn>();

/** The page's one opt-in machine for this API client. */
export function pushOptInFor(api: ApiClient): PushOptIn {
  let machine = instances.get(api);
  if (!machine) {
    machine = new PushOptIn(browserPushEnv(api), localStore());
    instances.set(api, machine);
  }
  return machine;
}
