/** Local preferences, kept in localStorage (injected, so tests use a map). */

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export type NotificationChoice = "unasked" | "granted" | "denied" | "dismissed";

/** What rings on this device: every new message from someone else, or only mentions of me. */
export type AlertFor = "all" | "mentions";

export interface LocalSettings {
  sound: boolean;
  vibrate: boolean;
  /** Which messages alert (sound, vibration, toast) while the app is open. */
  alertFor: AlertFor;
  /** What the user answered to the first-visit notification explanation. */
  notificationChoice: NotificationChoice;
}

export const DEFAULT_SETTINGS: LocalSettings = {
  sound: true,
  vibrate: true,
  alertFor: "all",
  notificationChoice: "unasked",
};

const KEY = "andon.settings.v1";

export function loadSettings(store: KeyValueStore): LocalSettings {
  let raw: string | null = null;
  try {
    raw = store.getItem(KEY);
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
  if (!raw) return { ...DEFAULT_SETTINGS };
  try {
    const v = JSON.parse(raw) as Partial<Record<keyof LocalSettings, unknown>>;
    const choice = v.notificationChoice;
    return {
      sound: typeof v.sound === "boolean" ? v.sound : DEFAULT_SETTINGS.sound,
      vibrate: typeof v.vibrate === "boolean" ? v.vibrate : DEFAULT_SETTINGS.vibrate,
      alertFor: v.alertFor === "all" || v.alertFor === "mentions" ? v.alertFor : DEFAULT_SETTINGS.alertFor,
      notificationChoice:
        choice === "granted" || choice === "denied" || choice === "dismissed" || choice === "unasked"
          ? choice
          : DEFAULT_SETTINGS.notificationChoice,
    };
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
}

export function saveSettings(store: KeyValueStore, settings: LocalSettings): void {
  try {
    store.setItem(KEY, JSON.stringify(settings));
  } catch {
    // Private mode or a full quota: the choice lasts for this page only.
  }
}

export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}
