import { useEffect, useState } from "preact/hooks";
import { PUSH_LEVELS, type NotificationPrefs, type PushLevel } from "../net/schemas";
import { notificationPermission } from "../platform/push";
import { pushOptInFor } from "../platform/push_opt_in";
import { PushStatusLine } from "./push_status";
import type { AlertFor } from "../state/settings";
import { useApp } from "./context";

const LEVEL_TEXT: Record<PushLevel, string> = {
  all: "Every new message",
  mentions: "Only when I am mentioned",
  none: "Nothing",
};

const ALERT_CHOICES: [AlertFor, string][] = [
  ["all", "Any new message"],
  ["mentions", "Only mentions of me"],
];

export function SettingsView() {
  const { session, sound } = useApp();
  const settings = session.settings.value;
  const push = pushOptInFor(session.api);
  const [prefs, setPrefs] = useState<NotificationPrefs | null>(null);
  const [prefsError, setPrefsError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const rooms = session.rooms.value.rooms;

  useEffect(() => {
    session.api.notificationPrefs().then(setPrefs, (err: unknown) =>
      setPrefsError(`Could not load push preferences: ${err instanceof Error ? err.message : String(err)}`),
    );
  }, []);

  const enableNotifications = async () => {
    sound.unlock();
    await push.enable();
    const result = notificationPermission();
    session.updateSettings({ notificationChoice: result === "granted" ? "granted" : result === "denied" ? "denied" : "dismissed" });
  };

  const savePrefs = async (e: Event) => {
    e.preventDefault();
    if (!prefs) return;
    setSaved(false);
    setPrefsError(null);
    try {
      setPrefs(await session.api.saveNotificationPrefs(prefs));
      setSaved(true);
    } catch (err) {
      setPrefsError(`Could not save: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  return (
    <section class="page settings" aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>

      <fieldset class="card">
        <legend>On this device</legend>
        <label class="switch">
          <input
            type="checkbox"
            checked={settings.sound}
            onChange={(e) => {
              sound.unlock();
              session.updateSettings({ sound: e.currentTarget.checked });
            }}
          />
          Play a sound for new messages and mentions
        </label>
        <button
          type="button"
          class="link-button"
          onClick={() => {
            sound.unlock();
            setTimeout(() => sound.play("mention"), 50);
          }}
        >
          Test sound
        </button>
        <label class="switch">
          <input
            type="checkbox"
            checked={settings.vibrate}
            onChange={(e) => {
              session.updateSettings({ vibrate: e.currentTarget.checked });
              if (e.currentTarget.checked && typeof navigator.vibrate === "function") navigator.vibrate(80);
            }}
          />
          Vibrate for new messages and mentions (phones)
        </label>
        <fieldset>
          <legend>Alert me (sound, vibration, a notice on screen) for</legend>
          {ALERT_CHOICES.map(([value, text]) => (
            <label key={value} class="switch">
              <input
                type="radio"
                name="alert-for"
                value={value}
                checked={settings.alertFor === value}
                onChange={() => session.updateSettings({ alertFor: value })}
              />
              {text}
            </label>
          ))}
        </fieldset>
        <PushStatusLine push={push} onEnable={() => void enableNotifications()} />
      </fieldset>

      <form class="card" onSubmit={savePrefs} aria-labelledby="push-title">
        <h2 id="push-title">Push notifications</h2>
        <p class="muted">Sent by the server to this and your other devices when you are not looking at the room.</p>
        {prefsError ? (
          <p class="error" role="alert">
            {prefsError}
          </p>
        ) : null}
        {prefs ? (
          <>
            <fieldset>
              <legend>By default, notify me of</legend>
              {PUSH_LEVELS.map((level) => (
                <label key={level} class="switch">
                  <input
                    type="radio"
                    name="push-default"
                    value={level}
                    checked={prefs.push === level}
                    onChange={() => setPrefs({ ...prefs, push: level })}
                  />
                  {LEVEL_TEXT[level]}
                </label>
              ))}
            </fieldset>
            {rooms.length > 0 ? (
              <fieldset>
                <legend>Per room</legend>
                <ul class="prefs-rooms">
                  {rooms.map((r) => (
                    <li key={r.room_id}>
                      <label>
                        <span>{r.title}</span>
                        <select
                          value={prefs.rooms[r.room_id] ?? ""}
                          onChange={(e) => {
                            const value = e.currentTarget.value;
                            const next = { ...prefs.rooms };
                            if (value === "") delete next[r.room_id];
                            else next[r.room_id] = value as PushLevel;
                            setPrefs({ ...prefs, rooms: next });
                          }}
                        >
                          <option value="">Default</option>
                          {PUSH_LEVELS.map((level) => (
                            <option key={level} value={level}>
                              {LEVEL_TEXT[level]}
                            </option>
                          ))}
                        </select>
                      </label>
                    </li>
                  ))}
                </ul>
              </fieldset>
            ) : null}
            <div class="row">
              <button type="submit" class="primary">
                Save
              </button>
              {saved ? (
                <span role="status" class="muted">
                  Saved.
                </span>
              ) : null}
            </div>
          </>
        ) : prefsError ? null : (
          <p class="muted">Loading…</p>
        )}
      </form>
    </section>
  );
}
