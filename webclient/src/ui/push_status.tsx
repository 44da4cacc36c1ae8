import type { PushOptIn } from "../platform/push_opt_in";
import { t } from "../i18n";
import { describePush, PUSH_TEXT } from "../platform/push_state";

/** Settings' line about browser notifications: the real state, why, and the button that fits. */
export function PushStatusLine({ push, onEnable }: { push: PushOptIn; onEnable: () => void }) {
  const state = push.state.value;
  const { status, explain, technical } = describePush(state);
  const action = state.kind === "off" ? PUSH_TEXT.turnOn : state.kind === "failed" || state.kind === "blocked" ? PUSH_TEXT.tryAgain : null;
  return (
    <div class="push-status" data-push-state={state.kind} aria-live="polite">
      <p>
        {t("common.labelled", { label: PUSH_TEXT.settingsLabel })}
        <strong>{status}</strong>
        {action ? (
          <>
            {" "}
            <button type="button" onClick={onEnable}>
              {action}
            </button>
          </>
        ) : null}
      </p>
      <p class={state.kind === "failed" || state.kind === "blocked" ? "error" : "muted"}>{explain}</p>
      {technical ? <p class="muted small">{technical}</p> : null}
    </div>
  );
}
