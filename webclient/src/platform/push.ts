/** Service worker registration, page notifications and the Web Push subscription. */
import type { ApiClient } from "../net/http";
import { ACK_ACTION, base64UrlToBytes, bytesToBase64Url, type NotificationSpec } from "../sw/push_payload";

export function notificationsSupported(): boolean {
  return typeof Notification !== "undefined";
}

export function notificationPermission(): NotificationPermission | "unsupported" {
  return notificationsSupported() ? Notification.permission : "unsupported";
}

/** Registers /sw.js in production builds (the dev server has no built worker). */
export async function registerServiceWorker(): Promise<ServiceWorkerRegistration | null> {
  if (!import.meta.env.PROD || !("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch (err) {
    console.warn("service worker registration failed", err);
    return null;
  }
}

/** Shows a notification from the page, through the worker when there is one (required on Android). */
export async function showPageNotification(spec: NotificationSpec): Promise<void> {
  if (notificationPermission() !== "granted") return;
  const options: NotificationOptions = {
    body: spec.body,
    tag: spec.tag,
    data: { url: spec.url, message_id: spec.urgentMessageId },
    icon: "/icons/icon-192.png",
    requireInteraction: spec.requireInteraction,
    ...({ renotify: spec.renotify } as NotificationOptions),
    ...(spec.urgentMessageId
      ? ({ actions: [{ action: ACK_ACTION, title: spec.ackTitle ?? "" }], vibrate: [400, 150, 400] } as NotificationOptions)
      : {}),
  };
  const registration = "serviceWorker" in navigator ? await navigator.serviceWorker.getRegistration() : undefined;
  if (registration) {
    await registration.showNotification(spec.title, options);
    return;
  }
  const n = new Notification(spec.title, options);
  n.onclick = () => {
    window.focus();
    window.dispatchEvent(new CustomEvent("andon:navigate", { detail: spec.url }));
    n.close();
  };
}

/**
 * Subscribes this browser to Web Push with the server's VAPID key and registers the
 * subscription with the server. Safe to call repeatedly: an existing subscription
 * made with the same key is reused.
 */
export async function ensurePushSubscription(api: ApiClient): Promise<"subscribed" | "unsupported" | "denied"> {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return "unsupported";
  if (notificationPermission() !== "granted") return "denied";
  const registration = await navigator.serviceWorker.ready;
  const key = base64UrlToBytes(await api.vapidPublicKey());
  let sub = await registration.pushManager.getSubscription();
  if (sub && !sameKey(sub.options.applicationServerKey, key)) {
    await sub.unsubscribe();
    sub = null;
  }
  sub ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await api.addPushSubscription({
    endpoint: sub.endpoint,
    keys: { p256dh: bytesToBase64Url(sub.getKey("p256dh")), auth: bytesToBase64Url(sub.getKey("auth")) },
  });
  return "subscribed";
}

/** On sign-out: this browser should stop receiving the user's pushes. */
export async function dropPushSubscription(api: ApiClient): Promise<void> {
  if (!("serviceWorker" in navigator)) return;
  const registration = await navigator.serviceWorker.getRegistration();
  const sub = await registration?.pushManager.getSubscription();
  if (!sub) return;
  try {
    await api.removePushSubscription(sub.endpoint);
  } finally {
    await sub.unsubscribe();
  }
}

function sameKey(a: ArrayBuffer | null, b: Uint8Array): boolean {
  if (!a) return false;
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}
