import { t } from "../i18n";
import { LanguageSwitch } from "./language_switch";
import { useEffect, useState } from "preact/hooks";
import { PUSH_LEVELS, type NotificationPrefs, type PushLevel } from "../net/schemas";
import { notificationPermission } from "../platform/push";
import { pushOptInFor } from "../platform/push_opt_in";
import { PushStatusLine } from "./push_status";
import type { AlertFor } from "../state/settings";
import { useApp } from "./context";

const levelText = (level: PushLevel) => t(`settings.levels.${level}`);

const ALERT_CHOICES: [AlertFor, string][] = [
  ["all", "settings.alertAll"],
  ["mentions", "settings.alertMentions"],
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
      setPrefsError(t("settings.prefsLoadFailed", { detail: err instanceof Error ? err.message : String(err) })),
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
      setPrefsError(t("settings.saveFailed", { detail: err instanceof Error ? err.message : String(err) }));
    }
  };

  return (
    <section class="page settings" aria-labelledby="settings-title">
      <h1 id="settings-title">{t("settings.title")}</h1>

      <fieldset class="card">
        <legend>{t("settings.device")}</legend>
        <LanguageSwitch />
        <label class="switch">
          <input
            type="checkbox"
            checked={settings.sound}
            onChange={(e) => {
              sound.unlock();
              session.updateSettings({ sound: e.currentTarget.checked });
            }}
          />
          {t("settings.sound")}
        </label>
        <button
          type="button"
          class="link-button"
          onClick={() => {
            sound.unlock();
            setTimeout(() => sound.play("mention"), 50);
          }}
        >
          {t("settings.testSound")}
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
          {t("settings.vibrate")}
        </label>
        <fieldset>
          <legend>{t("settings.alertFor")}</legend>
          {ALERT_CHOICES.map(([value, key]) => (
            <label key={value} class="switch">
              <input
                type="radio"
                name="alert-for"
                value={value}
                checked={settings.alertFor === value}
                onChange={() => session.updateSettings({ alertFor: value })}
              />
              {t(key)}
            </label>
          ))}
        </fieldset>
        <PushStatusLine push={push} onEnable={() => void enableNotifications()} />
      </fieldset>

      <form class="card" onSubmit={savePrefs} aria-labelledby="push-title">
        <h2 id="push-title">{t("settings.pushTitle")}</h2>
        <p class="muted">{t("settings.pushHelp")}</p>
        {prefsError ? (
          <p class="error" role="alert">
            {prefsError}
          </p>
        ) : null}
        {prefs ? (
          <>
            <fieldset>
              <legend>{t("settings.pushDefault")}</legend>
              {PUSH_LEVELS.map((level) => (
                <label key={level} class="switch">
                  <input
                    type="radio"
                    name="push-default"
                    value={level}
                    checked={prefs.push === level}
                    onChange={() => setPrefs({ ...prefs, push: level })}
                  />
                  {levelText(level)}
                </label>
              ))}
            </fieldset>
            {rooms.length > 0 ? (
              <fieldset>
                <legend>{t("settings.perRoom")}</legend>
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
                          <option value="">{t("settings.default")}</option>
                          {PUSH_LEVELS.map((level) => (
                            <option key={level} value={level}>
                              {levelText(level)}
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
                {t("common.save")}
              </button>
              {saved ? (
                <span role="status" class="muted">
                  {t("settings.saved")}
                </span>
              ) : null}
            </div>
          </>
        ) : prefsError ? null : (
          <p class="muted">{t("common.loading")}</p>
        )}
      </form>
    </section>
  );
}
