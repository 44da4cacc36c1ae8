/**
 * The room's Alerts panel without the DOM: the urgent-page schedule as a form (minutes, counts,
 * an escalation target) and back into the `PATCH /api/rooms/{id}/urgent` body, the escalation
 * choices, and a webhook's full address. docs/alerts.md describes the endpoints.
 */
import { t } from "../i18n";
import type { UrgentSettings, UrgentSettingsPatch, WebhookMode } from "../net/alert_schemas";
import { ROLES, type Member } from "../net/schemas";
import { termOf } from "./system_text";

/** The schedule as the form holds it: the inputs' text, so a half-typed value is kept as typed. */
export interface UrgentForm {
  repeatMinutes: string;
  maxRepeats: string;
  /** Empty: no escalation. */
  escalateAfter: string;
  /** A member's user id, `role:ROLE`, or empty for nobody. */
  escalateTo: string;
}

export type PatchResult = { ok: true; patch: UrgentSettingsPatch } | { ok: false; error: string };

/** The longest repeat interval the server accepts (24 h). */
export const MAX_REPEAT_MINUTES = 24 * 60;

export function formFromSettings(s: UrgentSettings): UrgentForm {
  return {
    repeatMinutes: minutesText(s.repeat_seconds),
    maxRepeats: String(s.max_repeats),
    escalateAfter: s.escalate_after === null ? "" : String(s.escalate_after),
    escalateTo: s.escalate_to ?? "",
  };
}

/** Seconds as minutes, to two decimals at most (a test server's 2 s shows as 0.03). */
export function minutesText(seconds: number): string {
  return String(Math.round((seconds / 60) * 100) / 100);
}

/**
 * The fields that differ from `current`, checked; an error names the field in the form's words.
 * The server checks again (its minimum interval and repeat limit are its own settings).
 */
export function urgentPatch(current: UrgentSettings, form: UrgentForm): PatchResult {
  const minutes = parseNumber(form.repeatMinutes);
  if (minutes === null || minutes <= 0 || minutes > MAX_REPEAT_MINUTES) {
    return { ok: false, error: t("alerts.errors.repeatInterval", { max: MAX_REPEAT_MINUTES }) };
  }
  const maxRepeats = parseCount(form.maxRepeats);
  if (maxRepeats === null) return { ok: false, error: t("alerts.errors.repeats") };
  const after = form.escalateAfter.trim() === "" ? null : parseCount(form.escalateAfter);
  if (after === 0 || (after === null && form.escalateAfter.trim() !== "")) {
    return { ok: false, error: t("alerts.errors.escalateAfter") };
  }
  const to = form.escalateTo.trim() === "" ? null : form.escalateTo.trim();
  if ((after === null) !== (to === null)) {
    return { ok: false, error: t("alerts.errors.needsBoth") };
  }
  const wanted: Required<UrgentSettingsPatch> = {
    repeat_seconds: Math.round(minutes * 60),
    max_repeats: maxRepeats,
    escalate_after: after,
    escalate_to: to,
  };
  const patch: UrgentSettingsPatch = {};
  if (wanted.repeat_seconds !== current.repeat_seconds) patch.repeat_seconds = wanted.repeat_seconds;
  if (wanted.max_repeats !== current.max_repeats) patch.max_repeats = wanted.max_repeats;
  if (wanted.escalate_after !== current.escalate_after) patch.escalate_after = wanted.escalate_after;
  if (wanted.escalate_to !== current.escalate_to) patch.escalate_to = wanted.escalate_to;
  if (Object.keys(patch).length === 0) return { ok: false, error: t("alerts.errors.nothing") };
  return { ok: true, patch };
}

/** In words: "every 2 min, 5 more times; then also pages Bob Chen after 3 repeats". */
export function scheduleSummary(s: UrgentSettings, choices: EscalationChoice[]): string {
  const repeats = s.max_repeats === 0 ? t("alerts.summary.noRepeats") : t("alerts.summary.repeats", { count: s.max_repeats });
  const base = t("alerts.summary.base", { minutes: minutesText(s.repeat_seconds), repeats });
  if (s.escalate_after === null || s.escalate_to === null) return t("alerts.summary.noEscalation", { base });
  const whom = choices.find((c) => c.value === s.escalate_to)?.label ?? s.escalate_to;
  return t("alerts.summary.escalation", { base, count: s.escalate_after, whom });
}

export interface EscalationChoice {
  value: string;
  label: string;
}

/**
 * Whom a page may escalate to: nobody, each role, each member (bots left out: they cannot
 * acknowledge). A target that is no longer a member stays listed, so the form shows the truth.
 */
export function escalationChoices(members: Member[], current: string | null): EscalationChoice[] {
  const choices: EscalationChoice[] = [{ value: "", label: t("alerts.nobody") }];
  for (const role of ROLES) choices.push({ value: `role:${role}`, label: t("alerts.everyRole", { role: termOf("roles", role) }) });
  const people = members
    .filter((m) => !m.is_bot)
    .map((m) => ({ value: m.user_id, label: t("alerts.person", { name: m.display_name, id: m.user_id }) }))
    .sort((a, b) => a.label.localeCompare(b.label));
  choices.push(...people);
  if (current && !choices.some((c) => c.value === current)) choices.push({ value: current, label: t("alerts.notMember", { id: current }) });
  return choices;
}

/** A webhook mode in words, in the current language. */
export function modeLabel(mode: WebhookMode): string {
  return t(`webhooks.modes.${mode}`);
}

/** The address to paste into Alertmanager or Grafana: the server's origin and the answer's path. */
export function hookAddress(url: string, origin: string): string {
  if (/^https?:\/\//i.test(url)) return url;
  return origin.replace(/\/+$/, "") + (url.startsWith("/") ? url : `/${url}`);
}

/** The creation form, checked: the server's rules for a name (1–100 characters once trimmed). */
export function checkWebhookName(name: string): string | null {
  const trimmed = name.trim();
  if (!trimmed) return t("webhooks.nameMissing");
  if (trimmed.length > 100) return t("webhooks.nameTooLong", { max: 100 });
  return null;
}

function parseNumber(text: string): number | null {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

function parseCount(text: string): number | null {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : null;
}
