/**
 * The browser's word on the network and on the page being looked at, as one small
 * injectable source, so sessions can be tested by firing the events by hand.
 */

export type ConnectivityEvent = "online" | "offline" | "visible";

export interface Connectivity {
  /** navigator.onLine: false means certainly offline; true only means "maybe". */
  isOnline(): boolean;
  /** Calls `listener` on `online`, `offline` and the page becoming visible. Returns an unsubscribe. */
  subscribe(listener: (event: ConnectivityEvent) => void): () => void;
}

export function browserConnectivity(win: Window, doc: Document): Connectivity {
  return {
    isOnline: () => win.navigator.onLine !== false,
    subscribe(listener) {
      const online = () => listener("online");
      const offline = () => listener("offline");
      const visibility = () => {
        if (doc.visibilityState === "visible") listener("visible");
      };
      win.addEventListener("online", online);
      win.addEventListener("offline", offline);
      doc.addEventListener("visibilitychange", visibility);
      return () => {
        win.removeEventListener("online", online);
        win.removeEventListener("offline", offline);
        doc.removeEventListener("visibilitychange", visibility);
      };
    },
  };
}
