import { t } from "../i18n";
import { useEffect, useState } from "preact/hooks";
import type { UrgentSettings } from "../net/alert_schemas";
import type { RoomSession } from "../session/room_session";
import {
  escalationChoices,
  formFromSettings,
  scheduleSummary,
  urgentPatch,
  type EscalationChoice,
  type UrgentForm,
} from "../state/alert_settings";
import { useApp } from "./context";
import { ErrorNote, errorText } from "./error_note";
import { WebhooksSection } from "./webhooks_section";

/**
 * The room's Alerts panel: every member's opt-in to urgent messages that mention nobody; for the
 * OWNER (or an admin) also the urgent-page schedule and escalation, and the incoming webhooks.
 */
export function AlertsPanel({ room }: { room: RoomSession }) {
  const { session } = useApp();
  const [settings, setSettings] = useState<UrgentSettings | null>(null);
  const [error, setError] = useState<string | null>(null);
  const isOwner = room.role.value === "OWNER" || room.me.is_admin;

  useEffect(() => {
    let live = true;
    session.api.urgentSettings(room.roomId).then(
      (s) => live && setSettings(s),
      (err: unknown) => live && setError(errorText(err)),
    );
    return () => {
      live = false;
    };
  }, [room.roomId]);

  return (
    <div class="alerts-panel">
      <h2 id="urgent-heading">{t("alerts.title")}</h2>
      <ErrorNote error={error} />
      {settings ? (
        <>
          <p class="muted" data-testid="urgent-summary">
            {scheduleSummary(settings, escalationChoices(room.members.value, settings.escalate_to))}
          </p>
          {/* An admin visiting a room they are not a member of has no opt-in to give. */}
          {room.role.value !== null ? <OptIn roomId={room.roomId} settings={settings} onSaved={setSettings} /> : null}
          {isOwner ? <ScheduleForm room={room} settings={settings} onSaved={setSettings} /> : null}
        </>
      ) : error ? null : (
        <p class="muted">{t("common.loading")}</p>
      )}
      {isOwner ? <WebhooksSection roomId={room.roomId} /> : null}
    </div>
  );
}

/** A member's own choice: be paged by urgent messages of this room that mention nobody. */
function OptIn({ roomId, settings, onSaved }: { roomId: string; settings: UrgentSettings; onSaved: (s: UrgentSettings) => void }) {
  const { session } = useApp();
  // The choice being saved shows at once; a refusal puts the stored one back.
  const [pending, setPending] = useState<boolean | null>(null);
  const [error, setError] = useState<string | null>(null);
  const change = async (alerts: boolean) => {
    setPending(alerts);
    setError(null);
    try {
      onSaved(await session.api.setUrgentAlerts(roomId, alerts));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setPending(null);
    }
  };
  return (
    <div class="opt-in">
      <label class="check">
        <input
          type="checkbox"
          checked={pending ?? settings.alerts}
          disabled={pending !== null}
          onChange={(e) => void change(e.currentTarget.checked)}
        />{" "}
        {t("alerts.optIn")}
      </label>
      <p class="hint muted">{t("alerts.optInHint")}</p>
      <ErrorNote error={error} />
    </div>
  );
}

/** The OWNER's schedule: repeat interval, repeats, and escalation after K repeats. */
function ScheduleForm({ room, settings, onSaved }: { room: RoomSession; settings: UrgentSettings; onSaved: (s: UrgentSettings) => void }) {
  const { session } = useApp();
  const [form, setForm] = useState<UrgentForm>(() => formFromSettings(settings));
  const [status, setStatus] = useState<{ error: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const result = urgentPatch(settings, form);
    if (!result.ok) {
      setStatus({ error: true, text: result.error });
      return;
    }
    setBusy(true);
    setStatus(null);
    try {
      const saved = await session.api.updateUrgentSettings(room.roomId, result.patch);
      onSaved(saved);
      setForm(formFromSettings(saved));
      setStatus({ error: false, text: t("alerts.saved") });
    } catch (err) {
      setStatus({ error: true, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="form-grid urgent-form" aria-label={t("alerts.scheduleForm")} onSubmit={submit}>
      <ScheduleFields form={form} onChange={setForm} choices={escalationChoices(room.members.value, settings.escalate_to)} />
      {status ? (
        <p class={status.error ? "error" : "ok"} role={status.error ? "alert" : "status"}>
          {status.text}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy}>
        {t("alerts.saveSchedule")}
      </button>
    </form>
  );
}

function ScheduleFields({ form, onChange, choices }: { form: UrgentForm; onChange: (f: UrgentForm) => void; choices: EscalationChoice[] }) {
  const set = (field: keyof UrgentForm) => (e: Event) => onChange({ ...form, [field]: (e.currentTarget as HTMLInputElement).value });
  return (
    <>
      <label>
        {t("alerts.repeatEvery")}
        <input inputMode="decimal" value={form.repeatMinutes} onInput={set("repeatMinutes")} required />
      </label>
      <label>
        {t("alerts.maxRepeats")}
        <input inputMode="numeric" value={form.maxRepeats} onInput={set("maxRepeats")} required />
      </label>
      <label>
        {t("alerts.escalateAfter")}
        <input inputMode="numeric" value={form.escalateAfter} onInput={set("escalateAfter")} />
      </label>
      <label>
        {t("alerts.escalateTo")}
        <select value={form.escalateTo} onChange={set("escalateTo")}>
          {choices.map((c) => (
            <option key={c.value} value={c.value}>
              {c.label}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}
