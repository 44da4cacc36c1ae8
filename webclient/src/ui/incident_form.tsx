import { useState } from "preact/hooks";

interface Field {
  key: string;
  label: string;
  unit: string;
}

export const INCIDENT_FIELDS: Field[] = [
  { key: "temperature", label: "Temperature", unit: "°C" },
  { key: "pressure", label: "Pressure", unit: "kPa" },
  { key: "production_rate", label: "Production rate", unit: "units/h" },
];

/** Structured readings for the room: numbers only, sent as an incident_data object. */
export function IncidentForm({
  onSubmit,
  onCancel,
}: {
  onSubmit: (data: Record<string, unknown>) => Promise<void>;
  onCancel: () => void;
}) {
  const [values, setValues] = useState<Record<string, string>>({});
  const [extraName, setExtraName] = useState("");
  const [extraValue, setExtraValue] = useState("");
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    const data: Record<string, unknown> = {};
    for (const f of INCIDENT_FIELDS) {
      const raw = values[f.key]?.trim();
      if (raw) data[f.key] = Number(raw);
    }
    const name = extraName.trim().toLowerCase().replace(/\s+/g, "_");
    if (name && extraValue.trim()) {
      if (!/^[a-z][a-z0-9_]{0,39}$/.test(name)) return setError("A field name uses letters, digits and _.");
      data[name] = Number(extraValue);
    }
    if (Object.values(data).some((v) => typeof v === "number" && !Number.isFinite(v))) {
      return setError("Every value must be a number.");
    }
    if (Object.keys(data).length === 0) return setError("Enter at least one reading.");
    data.timestamp = new Date().toISOString();
    setError(null);
    await onSubmit(data);
  };

  return (
    <form class="incident-form card" onSubmit={submit} aria-label="Incident data">
      <div class="form-grid three">
        {INCIDENT_FIELDS.map((f) => (
          <label key={f.key}>
            {f.label} ({f.unit})
            <input
              type="number"
              inputMode="decimal"
              step="any"
              value={values[f.key] ?? ""}
              onInput={(e) => setValues({ ...values, [f.key]: e.currentTarget.value })}
            />
          </label>
        ))}
        <label>
          Other field
          <input placeholder="e.g. vibration" value={extraName} onInput={(e) => setExtraName(e.currentTarget.value)} />
        </label>
        <label>
          Its value
          <input
            type="number"
            inputMode="decimal"
            step="any"
            value={extraValue}
            onInput={(e) => setExtraValue(e.currentTarget.value)}
          />
        </label>
      </div>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <div class="row">
        <button type="submit" class="primary">
          Post readings
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
