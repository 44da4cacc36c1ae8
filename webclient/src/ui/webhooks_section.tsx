import { t } from "../i18n";
import { useEffect, useRef, useState } from "preact/hooks";
import { WEBHOOK_MODES, type CreatedWebhook, type Webhook, type WebhookMode } from "../net/alert_schemas";
import { checkWebhookName, hookAddress, modeLabel } from "../state/alert_settings";
import { useApp } from "./context";
import { ErrorNote, errorText } from "./error_note";

/**
 * The room's incoming webhooks (OWNER or admin): create one, see its URL with the secret once,
 * list them (never a secret), revoke one. docs/alerts.md.
 */
export function WebhooksSection({ roomId }: { roomId: string }) {
  const { session } = useApp();
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [created, setCreated] = useState<CreatedWebhook | null>(null);
  const [error, setError] = useState<string | null>(null);

  const reload = async () => {
    try {
      setHooks(await session.api.webhooks(roomId));
    } catch (err) {
      setError(errorText(err));
    }
  };
  useEffect(() => {
    void reload();
  }, [roomId]);

  const revoke = async (hook: Webhook) => {
    if (!confirm(t("webhooks.confirmRevoke", { name: hook.name }))) return;
    setError(null);
    try {
      await session.api.revokeWebhook(roomId, hook.webhook_id);
      if (created?.webhook_id === hook.webhook_id) setCreated(null);
    } catch (err) {
      setError(errorText(err));
    }
    await reload();
  };

  return (
    <section class="webhooks" aria-labelledby="webhooks-heading">
      <h2 id="webhooks-heading">{t("webhooks.title")}</h2>
      <p class="hint muted">{t("webhooks.hint")}</p>
      {created ? <CreatedHook hook={created} onDone={() => setCreated(null)} /> : null}
      <CreateHookForm
        roomId={roomId}
        onCreated={(hook) => {
          setCreated(hook);
          void reload();
        }}
      />
      <ErrorNote error={error} />
      {hooks === null ? null : <WebhookList hooks={hooks} onRevoke={(hook) => void revoke(hook)} />}
    </section>
  );
}

/** The room's webhooks as the server lists them: name and mode, never a secret. */
function WebhookList({ hooks, onRevoke }: { hooks: Webhook[]; onRevoke: (hook: Webhook) => void }) {
  if (hooks.length === 0) return <p class="muted">{t("webhooks.none")}</p>;
  return (
    <ul class="webhook-list" aria-label={t("webhooks.list")}>
      {hooks.map((hook) => (
        <li key={hook.webhook_id} data-testid="webhook-item">
          <span class="webhook-name">{hook.name}</span>
          <span class="muted">
            {modeLabel(hook.mode)}
            {hook.resolve_room ? t("webhooks.resolves") : ""}
          </span>
          <button type="button" class="link-button danger" aria-label={t("webhooks.revokeName", { name: hook.name })} onClick={() => onRevoke(hook)}>
            {t("webhooks.revoke")}
          </button>
        </li>
      ))}
    </ul>
  );
}

function CreateHookForm({ roomId, onCreated }: { roomId: string; onCreated: (hook: CreatedWebhook) => void }) {
  const { session } = useApp();
  const [name, setName] = useState("");
  const [mode, setMode] = useState<WebhookMode>("post");
  const [resolveRoom, setResolveRoom] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const problem = checkWebhookName(name);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onCreated(await session.api.createWebhook(roomId, { name: name.trim(), mode, resolve_room: resolveRoom }));
      setName("");
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="form-grid" aria-label={t("webhooks.newForm")} onSubmit={submit}>
      <label>
        {t("webhooks.name")}
        <input maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <label>
        {t("webhooks.mode")}
        <select value={mode} onChange={(e) => setMode(e.currentTarget.value as WebhookMode)}>
          {WEBHOOK_MODES.map((m) => (
            <option key={m} value={m}>
              {modeLabel(m)}
            </option>
          ))}
        </select>
      </label>
      <label class="check">
        <input type="checkbox" checked={resolveRoom} onChange={(e) => setResolveRoom(e.currentTarget.checked)} />{" "}
        {t("webhooks.resolveRoom")}
      </label>
      <ErrorNote error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {t("webhooks.create")}
      </button>
    </form>
  );
}

/** The one time the URL with its secret can be seen: copy it now. */
function CreatedHook({ hook, onDone }: { hook: CreatedWebhook; onDone: () => void }) {
  const address = hookAddress(hook.url, location.origin);
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string | null>(null);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(address);
      setCopied(t("webhooks.copied"));
    } catch {
      // No clipboard access (an insecure origin, or denied): select it for a manual copy.
      input.current?.select();
      setCopied(t("webhooks.selected"));
    }
  };

  return (
    <div class="card created-hook" role="region" aria-label={t("webhooks.urlOf", { name: hook.name })}>
      <p class="warn-note">
        <strong>{t("webhooks.copyNow")}</strong> {t("webhooks.copyNowDetail")}
      </p>
      <label>
        {t("webhooks.url")}
        <input
          ref={input}
          readOnly
          value={address}
          data-testid="webhook-url"
          onFocus={(e) => e.currentTarget.select()}
        />
      </label>
      <div class="room-menu-actions">
        <button type="button" class="primary" onClick={() => void copy()}>
          {t("webhooks.copy")}
        </button>
        <button type="button" onClick={onDone}>
          {t("webhooks.done")}
        </button>
      </div>
      <p class="muted" role="status">
        {copied ?? ""}
      </p>
    </div>
  );
}
