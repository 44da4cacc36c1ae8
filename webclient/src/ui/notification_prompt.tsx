import { useEffect } from "preact/hooks";
import { notificationPermission, notificationsSupported } from "../platform/push";
import { pushOptInFor } from "../platform/push_opt_in";
import { describePush, PUSH_TEXT } from "../platform/push_state";
import { useApp } from "./context";

/**
 * First visit: explain why, then ask for permission. When turning notifications on fails or is
 * refused, the banner stays and says why and what to do until the person dismisses it.
 */
export function NotificationPrompt() {
  const { session, sound } = useApp();
  const machine = pushOptInFor(session.api);
  const state = machine.state.value;
  const dismissed = machine.dismissed.value;
  const fromAction = machine.fromAction.value;
  const choice = session.settings.value.notificationChoice;

  useEffect(() => {
    // Keeps the server's copy of this browser's subscription current, and finds out whether it works.
    void machine.refresh();
    const permission = notificationPermission();
    if (permission === "granted" && choice !== "granted") session.updateSettings({ notificationChoice: "granted" });
    else if (permission === "denied" && choice !== "denied") session.updateSettings({ notificationChoice: "denied" });
  }, []);

  const allow = async () => {
    sound.unlock();
    await machine.enable();
    const permission = notificationPermission();
    session.updateSettings({
      notificationChoice: permission === "granted" ? "granted" : permission === "denied" ? "denied" : "dismissed",
    });
  };

  // Without the Push API (iOS outside the Home Screen) page notifications still work: ask anyway.
  const askable = state.kind === "off" || (state.kind === "unsupported" && notificationPermission() === "default");
  const firstVisit = askable && choice === "unasked" && notificationsSupported();
  const showOutcome =
    !dismissed &&
    (state.kind === "failed" ||
      (fromAction && (state.kind === "blocked" || state.kind === "unsupported" || state.kind === "working")));
  if (!firstVisit && !showOutcome) return null;

  if (firstVisit) {
    return (
      <section class="banner info" aria-labelledby="notify-title">
        <h2 id="notify-title">{PUSH_TEXT.bannerTitle}</h2>
        <p>{PUSH_TEXT.bannerText}</p>
        <div class="row">
          <button type="button" class="primary" onClick={() => void allow()}>
            {PUSH_TEXT.turnOn}
          </button>
          <button type="button" onClick={() => session.updateSettings({ notificationChoice: "dismissed" })}>
            {PUSH_TEXT.notNow}
          </button>
        </div>
      </section>
    );
  }

  const { explain, technical } = describePush(state);
  const title =
    state.kind === "working"
      ? PUSH_TEXT.bannerTitle
      : state.kind === "blocked"
        ? PUSH_TEXT.bannerBlockedTitle
        : PUSH_TEXT.bannerFailedTitle;
  return (
    <section
      class={state.kind === "working" ? "banner info" : "banner warn"}
      aria-labelledby="notify-title"
      data-push-state={state.kind}
    >
      <h2 id="notify-title">{title}</h2>
      <p role={state.kind === "working" ? "status" : "alert"}>{explain}</p>
      {technical ? <p class="muted small">{technical}</p> : null}
      {state.kind !== "working" ? (
        <div class="row">
          {state.kind !== "unsupported" ? (
            <button type="button" class="primary" onClick={() => void allow()}>
              {PUSH_TEXT.tryAgain}
            </button>
          ) : null}
          <button type="button" onClick={() => machine.dismiss()}>
            {PUSH_TEXT.dismiss}
          </button>
        </div>
      ) : null}
    </section>
  );
}
