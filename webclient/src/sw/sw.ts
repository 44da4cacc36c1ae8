/// <reference lib="WebWorker" />
/**
 * The service worker, served at /sw.js (root scope). It keeps the app shell for
 * offline use, shows Web Push notifications and brings the app forward on click.
 * API calls and the WebSocket are never cached or intercepted.
 */
import { ACK_ACTION, base64UrlToBytes, bytesToBase64Url, notificationFor, parsePushPayload } from "./push_payload";
import { rememberLanguage, workerTranslator } from "./sw_language";

declare const self: ServiceWorkerGlobalScope;

const CACHE = `andon-shell-${__ANDON_CACHE_VERSION__}`;
const SHELL = "/";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(__ANDON_PRECACHE__);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith("andon-shell-") && key !== CACHE) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/ws/") || url.pathname === "/sw.js") return;

  if (request.mode === "navigate") {
    // Network first so a new deployment shows at once; the cached shell when offline.
    event.respondWith(
      (async () => {
        try {
          const response = await fetch(request);
          if (response.ok) {
            const cache = await caches.open(CACHE);
            await cache.put(SHELL, response.clone());
          }
          return response;
        } catch {
          const cached = await caches.match(SHELL);
          return cached ?? new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain" } });
        }
      })(),
    );
    return;
  }

  // Hashed assets never change under one name; the rest of the shell is refreshed in the background.
  event.respondWith(
    (async () => {
      const cached = await caches.match(request);
      if (cached) {
        if (!url.pathname.startsWith("/assets/")) event.waitUntil(refresh(request));
        return cached;
      }
      const response = await fetch(request);
      if (response.ok && url.pathname.startsWith("/assets/")) {
        const cache = await caches.open(CACHE);
        await cache.put(request, response.clone());
      }
      return response;
    })(),
  );
});

async function refresh(request: Request): Promise<void> {
  try {
    const response = await fetch(request);
    if (response.ok) await (await caches.open(CACHE)).put(request, response);
  } catch {
    // Offline: the cached copy stays.
  }
}

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
