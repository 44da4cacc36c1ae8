/** Wires the browser to the DOM-free core and renders the app. */
import { render } from "preact";
import { applyDocumentLanguage, browserLanguagesChanged, initLanguage, type Language } from "./i18n";
import { systemClock, systemRandom } from "./net/clock";
import { ApiClient } from "./net/http";
import { MemoryOutbox, type OutboxStore } from "./net/memory_outbox";
import { Outbox } from "./net/outbox";
import type { SocketLike } from "./net/managed_socket";
import { roomSocketUrl } from "./net/socket";
import { userSocketUrl } from "./net/user_socket";
import { Alerts } from "./platform/alerts";
import { browserConnectivity } from "./platform/connectivity";
import { isPageFocused, watchPageFocus } from "./platform/page_focus";
import { dropPushSubscription, registerServiceWorker } from "./platform/push";
import { SoundPlayer } from "./platform/sound";
import { AppSession } from "./session/app_session";
import { App } from "./ui/app";
import { plainPreview } from "./ui/formatted_text";
import { AppContext } from "./ui/context";
import { Router } from "./ui/router";
import "./styles.css";

/** `<html lang>` and the service worker (its notification texts) follow the page's language. */
function languageChanged(language: Language): void {
  applyDocumentLanguage(document, language);
  if (!("serviceWorker" in navigator)) return;
  const tell = (worker: ServiceWorker | null | undefined) => worker?.postMessage({ type: "andon:language", language });
  tell(navigator.serviceWorker.controller);
  void navigator.serviceWorker.ready.then((registration) => tell(registration.active)).catch(() => undefined);
}

function start(): void {
  initLanguage({ store: window.localStorage, onChange: languageChanged });
  window.addEventListener("languagechange", () => browserLanguagesChanged(navigator.languages));
  const api = new ApiClient();
  const sound = new SoundPlayer();
  sound.unlockOn(window);
  const storage = window.localStorage;

  const session = new AppSession({
    api,
    storage,
    openOutbox: async (): Promise<OutboxStore> => {
      try {
        return await Outbox.open(indexedDB);
      } catch (err) {
        console.warn("IndexedDB unavailable; queued messages will not survive a reload", err);
        return new MemoryOutbox();
      }
    },
    socketFactory: (url) => new WebSocket(url) as unknown as SocketLike,
    socketUrl: (roomId, since) => roomSocketUrl(window.location, roomId, since),
    userSocketUrl: () => userSocketUrl(window.location),
    // online/offline and the page becoming visible reach the sockets through the session.
    connectivity: browserConnectivity(window, document),
    clock: systemClock,
    random: systemRandom,
    newClientId: () => crypto.randomUUID(),
    isFocused: isPageFocused,
    alerts: new Alerts(sound, plainPreview),
    beforeSignOut: () => dropPushSubscription(api),
  });
  const router = new Router(window);

  watchPageFocus((focused) => session.focusChanged(focused));
  // A notification clicked while this tab was open: route without reloading.
  window.addEventListener("andon:navigate", (e) => router.goUrl(String((e as CustomEvent).detail)));
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (e: MessageEvent) => {
      const data = e.data as { type?: unknown; url?: unknown } | null;
      if (data?.type === "andon:navigate" && typeof data.url === "string") router.goUrl(data.url);
      if (data?.type === "andon:ping") e.ports[0]?.postMessage({ type: "andon:pong" });
    });
    navigator.serviceWorker.startMessages();
  }
  void registerServiceWorker();
  void session.init();

  const root = document.getElementById("app");
  if (!root) throw new Error("#app is missing from index.html");
  render(
    <AppContext.Provider value={{ session, router, sound }}>
      <App />
    </AppContext.Provider>,
    root,
  );
}

start();
