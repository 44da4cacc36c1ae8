import { lazyTexts, t } from "../i18n";
import { useState } from "preact/hooks";
import "./incident.css";
import {
  buildIncidentData,
  fieldLabel,
  PRESET_FIELDS,
  SUGGESTED_TEXT_FIELDS,
  type FieldKind,
  type FieldRow,
} from "../state/incident_fields";

/** User-visible strings of the form, in the current language (src/i18n/locales). */
export const FORM_TEXT = lazyTexts(
  {
    title: "incidentForm.title",
    name: "incidentForm.name",
    kind: "incidentForm.kind",
    number: "incidentForm.number",
    text: "incidentForm.text",
    value: "incidentForm.value",
    unit: "incidentForm.unit",
    unitPlaceholder: "incidentForm.unitPlaceholder",
    namePlaceholder: "incidentForm.namePlaceholder",
    addField: "incidentForm.addField",
    submit: "incidentForm.submit",
    cancel: "common.cancel",
  },
  {
    remove: (name: string) => t("incidentForm.remove", { name: name || t("incidentForm.unnamed") }),
    fieldGroup: (n: number) => t("incidentForm.fieldGroup", { n }),
    /** "Field name 2": a row's input named with its number. */
    numbered: (label: string, n: number) => t("incidentForm.numbered", { label, n }),
    /** The value input's accessible name: "Temperature (°C)", or "Value 4" for a row not named yet. */
    valueLabel: (n: number, label: string, unit: string) =>
      label ? (unit ? t("incidentForm.valueWithUnit", { label, unit }) : label) : t("incidentForm.valueN", { n }),
  },
);

/** Structured readings for the room: any fields (number or text, with units), sent as incident_data. */
export function IncidentForm({
  onSubmit,
  onCancel,
}: {
  onSubmit: (data: Record<string, unknown>) => Promise<void>;
  onCancel: () => void;
}) {
  const [rows, setRows] = useState<FieldRow[]>(() => PRESET_FIELDS.map((r) => ({ ...r })));
  const [error, setError] = useState<string | null>(null);

  const update = (i: number, patch: Partial<FieldRow>) =>
    setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));

  const submit = async (e: Event) => {
    e.preventDefault();
    const result = buildIncidentData(rows, new Date());
    if (!result.ok) return setError(result.error);
    setError(null);
    await onSubmit(result.data);
  };

  return (
    <form class="incident-form card" onSubmit={submit} aria-label={FORM_TEXT.title}>
      <datalist id="incident-field-names">
        {SUGGESTED_TEXT_FIELDS.map((name) => (
          <option key={name} value={name} />
        ))}
      </datalist>
      <ol class="incident-rows">
        {rows.map((row, i) => (
          <li key={i} class="incident-row" role="group" aria-label={FORM_TEXT.fieldGroup(i + 1)}>
            <label>
              <span class="visually-hidden">{FORM_TEXT.name}</span>
              <input
                class="field-name"
                list="incident-field-names"
                placeholder={FORM_TEXT.namePlaceholder}
                value={row.name}
                aria-label={FORM_TEXT.numbered(FORM_TEXT.name, i + 1)}
                onInput={(e) => update(i, { name: e.currentTarget.value })}
              />
            </label>
            <label>
              <span class="visually-hidden">{FORM_TEXT.kind}</span>
              <select
                value={row.kind}
                aria-label={FORM_TEXT.numbered(FORM_TEXT.kind, i + 1)}
                onChange={(e) => update(i, { kind: e.currentTarget.value as FieldKind })}
              >
                <option value="number">{FORM_TEXT.number}</option>
                <option value="text">{FORM_TEXT.text}</option>
              </select>
            </label>
            <label>
              <span class="visually-hidden">{FORM_TEXT.value}</span>
              <input
                class="field-value"
                inputMode={row.kind === "number" ? "decimal" : "text"}
                placeholder={row.name ? fieldLabel(row.name) : FORM_TEXT.value}
                value={row.value}
                aria-label={FORM_TEXT.valueLabel(i + 1, row.name ? fieldLabel(row.name) : "", row.unit.trim())}
                onInput={(e) => update(i, { value: e.currentTarget.value })}
              />
            </label>
            <label>
              <span class="visually-hidden">{FORM_TEXT.unit}</span>
              <input
                class="field-unit"
                placeholder={FORM_TEXT.unitPlaceholder}
                value={row.unit}
                aria-label={FORM_TEXT.numbered(FORM_TEXT.unit, i + 1)}
                onInput={(e) => update(i, { unit: e.currentTarget.value })}
              />
            </label>
            <button
              type="button"
              class="link-button"
              aria-label={FORM_TEXT.remove(row.name)}
              onClick={() => setRows(rows.filter((_, j) => j !== i))}
            >
              ✕
            </button>
          </li>
        ))}
      </ol>
      <button type="button" onClick={() => setRows([...rows, { name: "", kind: "text", value: "", unit: "" }])}>
        {FORM_TEXT.addField}
      </button>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <div class="row">
        <button type="submit" class="primary">
          {FORM_TEXT.submit}
        </button>
        <button type="button" onClick={onCancel}>
          {FORM_TEXT.cancel}
        </button>
      </div>
    </form>
  );
}
