/// <reference lib="WebWorker" />
/**
 * The service worker, served at /sw.js (root scope). It keeps the app shell for
 * offline use, shows Web Push notifications and brings the app forward on click.
 * API calls and the WebSocket are never cached or intercepted.
 *
 * The shell is Workbox's precache: vite-plugin-pwa (injectManifest) lists every file of the
 * build with its revision in `self.__WB_MANIFEST`; a new deployment is a new list, so the
 * worker updates, fetches only what changed and drops what is gone (docs/architecture.md).
 */
import { clientsClaim } from "workbox-core";
import { cleanupOutdatedCaches, matchPrecache, precacheAndRoute, type PrecacheEntry } from "workbox-precaching";
import { NavigationRoute, registerRoute } from "workbox-routing";
import { ACK_ACTION, base64UrlToBytes, bytesToBase64Url, notificationFor, parsePushPayload } from "./push_payload";
import { rememberLanguage, workerTranslator } from "./sw_language";

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<PrecacheEntry | string> };

void self.skipWaiting();
clientsClaim();
cleanupOutdatedCaches();
// Hashed assets, icons and the manifest: from the precache, cache first.
precacheAndRoute(self.__WB_MANIFEST);

// Page loads: network first so a new deployment shows at once; the precached shell offline.
registerRoute(
  new NavigationRoute(
    async ({ request }) => {
      try {
        return await fetch(request);
      } catch {
        const shell = await matchPrecache("/index.html");
        return shell ?? new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain" } });
      }
    },
    { denylist: [/^\/api\//, /^\/ws\//] },
  ),
);

self.addEventListener("push", (event) => {
  const payload = event.data ? parsePushPayload(event.data.text()) : null;
  event.waitUntil(
    (async () => {
      const tr = await workerTranslator(self.navigator.languages ?? []);
      if (!payload) {
        // A push must always show something (userVisibleOnly); say as much as we know.
        await self.registration.showNotification("Andon", { body: tr("notification.fallbackBody"), tag: "andon" });
        return;
      }
      const spec = notificationFor(payload, self.location.origin, tr);
      await self.registration.showNotification(spec.title, {
        body: spec.body,
        tag: spec.tag,
        data: { url: spec.url, room_id: payload.room_id, message_id: spec.urgentMessageId },
        icon: "/icons/icon-192.png",
        badge: "/icons/badge-96.png",
        requireInteraction: spec.requireInteraction,
        // `renotify` is not in every lib.dom version; browsers that know it honour it.
        ...({ renotify: spec.renotify } as NotificationOptions),
        // An urgent page: acknowledge right from the notification (docs/alerts.md).
        ...(spec.urgentMessageId
          ? ({ actions: [{ action: ACK_ACTION, title: spec.ackTitle ?? "" }], vibrate: [400, 150, 400, 150, 400] } as NotificationOptions)
          : {}),
      });
    })(),
  );
});

// The page says which language it shows; notifications use the same (sw_language.ts).
self.addEventListener("message", (event) => {
  const data = event.data as { type?: unknown; language?: unknown } | null;
  if (data?.type === "andon:language") event.waitUntil(rememberLanguage(data.language).catch(() => undefined));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data as { url?: unknown; message_id?: unknown } | null;
  if (event.action === ACK_ACTION && typeof data?.message_id === "string") {
    // Acknowledge without opening the app: the session cookie signs the request in.
    event.waitUntil(acknowledge(data.message_id));
    return;
  }
  const target = typeof data?.url === "string" ? data.url : `${self.location.origin}/`;
  event.waitUntil(openApp(target));
});

/** POST /api/messages/{id}/acknowledge; a failure opens the app on the message instead. */
async function acknowledge(messageId: string): Promise<void> {
  try {
    const res = await fetch(`/api/messages/${encodeURIComponent(messageId)}/acknowledge`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    if (res.ok) return;
  } catch {
    // Offline: fall through and open the app.
  }
  await openApp(`${self.location.origin}/`);
}

/** Focuses an open tab of the app (moving it to `url`), or opens one. */
async function openApp(url: string): Promise<void> {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const sameOrigin = windows.filter((c) => new URL(c.url).origin === self.location.origin);
  const exact = sameOrigin.find((c) => c.url === url);
  const client = exact ?? sameOrigin.find((c) => c.focused) ?? sameOrigin[0];
  if (client) {
    const focused = await client.focus();
    if (focused.url !== url) {
      // The page routes without a reload when it can; navigate() is the fallback for a tab
      // that is not listening (it works only for tabs this worker controls).
      focused.postMessage({ type: "andon:navigate", url });
      if ("navigate" in focused && !(await pageAcknowledges(focused))) {
        await focused.navigate(url).catch(() => undefined);
      }
    }
    return;
  }
  await self.clients.openWindow(url);
}

/** Pages answer "andon:navigate" through a MessageChannel; a silent page is navigated instead. */
function pageAcknowledges(client: WindowClient): Promise<boolean> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(false), 500);
    channel.port1.onmessage = () => {
      clearTimeout(timer);
      resolve(true);
    };
    client.postMessage({ type: "andon:ping" }, [channel.port2]);
  });
}

self.addEventListener("pushsubscriptionchange", (event) => {
  // The push service rotated the subscription: subscribe again and tell the server.
  const ev = event as ExtendableEvent & { oldSubscription?: PushSubscription | null };
  ev.waitUntil(
    (async () => {
      const keyResponse = await fetch("/api/push/vapid-public-key", { credentials: "same-origin" });
      if (!keyResponse.ok) return;
      const { public_key } = (await keyResponse.json()) as { public_key?: unknown };
      if (typeof public_key !== "string") return;
      const sub = await self.registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64UrlToBytes(public_key),
      });
      await fetch("/api/push/subscriptions", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          endpoint: sub.endpoint,
          keys: { p256dh: bytesToBase64Url(sub.getKey("p256dh")), auth: bytesToBase64Url(sub.getKey("auth")) },
        }),
      });
      if (ev.oldSubscription) {
        await fetch("/api/push/subscriptions", {
          method: "DELETE",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ endpoint: ev.oldSubscription.endpoint }),
        }).catch(() => undefined);
      }
    })(),
  );
});

export {};
