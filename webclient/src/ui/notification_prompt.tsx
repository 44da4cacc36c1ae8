import { useEffect, useState } from "preact/hooks";
import { ensurePushSubscription, notificationPermission, notificationsSupported } from "../platform/push";
import { useApp } from "./context";

/** First visit: explain why, then ask for permission; the answer is remembered locally. */
export function NotificationPrompt() {
  const { session, sound } = useApp();
  const choice = session.settings.value.notificationChoice;
  const [error, setError] = useState<string | null>(null);
  const permission = notificationPermission();

  useEffect(() => {
    if (permission === "granted") {
      if (choice !== "granted") session.updateSettings({ notificationChoice: "granted" });
      // Keeps the server's copy of this browser's subscription current.
      ensurePushSubscription(session.api).catch((err: unknown) => console.warn("push subscription failed", err));
    } else if (permission === "denied" && choice !== "denied") {
      session.updateSettings({ notificationChoice: "denied" });
    }
  }, [permission]);

  if (!notificationsSupported() || permission !== "default" || choice !== "unasked") return null;

  const allow = async () => {
    sound.unlock();
    try {
      const result = await Notification.requestPermission();
      session.updateSettings({ notificationChoice: result === "granted" ? "granted" : result === "denied" ? "denied" : "dismissed" });
      if (result === "granted") await ensurePushSubscription(session.api);
    } catch (err) {
      setError(`Notifications could not be set up: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  return (
    <section class="banner info" aria-labelledby="notify-title">
      <h2 id="notify-title">Get alerted when an incident needs you</h2>
      <p>
        Andon can show a notification when someone mentions you or posts in your incident rooms while this page is in the
        background or closed. You can change what you receive in Settings at any time.
      </p>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <div class="row">
        <button type="button" class="primary" onClick={() => void allow()}>
          Turn on notifications
        </button>
        <button type="button" onClick={() => session.updateSettings({ notificationChoice: "dismissed" })}>
          Not now
        </button>
      </div>
    </section>
  );
}
