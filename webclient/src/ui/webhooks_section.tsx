import { useEffect, useRef, useState } from "preact/hooks";
import { WEBHOOK_MODES, type CreatedWebhook, type Webhook, type WebhookMode } from "../net/alert_schemas";
import { MODE_LABELS, checkWebhookName, hookAddress } from "../state/alert_settings";
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
    if (!confirm(`Revoke the webhook "${hook.name}"? Its URL stops working at once; this cannot be undone.`)) return;
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
      <h2 id="webhooks-heading">Incoming webhooks</h2>
      <p class="hint muted">
        Alertmanager, Grafana or any script posts alerts to a webhook's URL; they appear here as messages from a bot.
      </p>
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
  if (hooks.length === 0) return <p class="muted">No webhooks yet.</p>;
  return (
    <ul class="webhook-list" aria-label="Webhooks">
      {hooks.map((hook) => (
        <li key={hook.webhook_id} data-testid="webhook-item">
          <span class="webhook-name">{hook.name}</span>
          <span class="muted">
            {MODE_LABELS[hook.mode]}
            {hook.resolve_room ? "; resolves the room" : ""}
          </span>
          <button type="button" class="link-button danger" aria-label={`Revoke ${hook.name}`} onClick={() => onRevoke(hook)}>
            Revoke
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
    <form class="form-grid" aria-label="New webhook" onSubmit={submit}>
      <label>
        Name (the bot's display name)
        <input maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <label>
        Mode
        <select value={mode} onChange={(e) => setMode(e.currentTarget.value as WebhookMode)}>
          {WEBHOOK_MODES.map((m) => (
            <option key={m} value={m}>
              {MODE_LABELS[m]}
            </option>
          ))}
        </select>
      </label>
      <label class="check">
        <input type="checkbox" checked={resolveRoom} onChange={(e) => setResolveRoom(e.currentTarget.checked)} /> Set the
        room resolved when the alert resolves
      </label>
      <ErrorNote error={error} />
      <button type="submit" class="primary" disabled={busy}>
        Create webhook
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
      setCopied("Copied.");
    } catch {
      // No clipboard access (an insecure origin, or denied): select it for a manual copy.
      input.current?.select();
      setCopied("Selected: press Ctrl+C (⌘C) to copy.");
    }
  };

  return (
    <div class="card created-hook" role="region" aria-label={`URL of ${hook.name}`}>
      <p class="warn-note">
        <strong>Copy this URL now: it is shown only now.</strong> The server keeps only a hash of its secret and cannot
        show it again. Anyone with it can post into this room; if it is lost or leaked, revoke the webhook and create
        another.
      </p>
      <label>
        Webhook URL
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
          Copy URL
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
      <p class="muted" role="status">
        {copied ?? ""}
      </p>
    </div>
  );
}
