/** Client-side routes on the History API; the server answers index.html for any of them. */
import { signal, type Signal } from "@preact/signals";

export type Route =
  | { name: "rooms" }
  /** `at`: open at this sequence number (`/rooms/{id}?at=N`), scrolled to and highlighted. */
  | { name: "room"; roomId: string; at?: number }
  | { name: "mentions" }
  | { name: "search"; q: string }
  | { name: "settings" };

export function parseRoute(pathname: string, search: string): Route {
  const room = /^\/rooms\/([^/]+)\/?$/.exec(pathname);
  if (room) {
    let roomId: string;
    try {
      roomId = decodeURIComponent(room[1]!);
    } catch {
      return { name: "rooms" };
    }
    const at = new URLSearchParams(search).get("at");
    return at !== null && /^\d{1,15}$/.test(at) ? { name: "room", roomId, at: Number(at) } : { name: "room", roomId };
  }
  if (pathname === "/mentions" || pathname === "/mentions/") return { name: "mentions" };
  if (pathname === "/search" || pathname === "/search/") {
    return { name: "search", q: new URLSearchParams(search).get("q") ?? "" };
  }
  if (pathname === "/settings" || pathname === "/settings/") return { name: "settings" };
  return { name: "rooms" };
}

export function routePath(route: Route): string {
  switch (route.name) {
    case "rooms":
      return "/";
    case "room": {
      const path = `/rooms/${encodeURIComponent(route.roomId)}`;
      return route.at !== undefined ? `${path}?at=${route.at}` : path;
    }
    case "mentions":
      return "/mentions";
    case "search":
      return route.q ? `/search?${new URLSearchParams({ q: route.q })}` : "/search";
    case "settings":
      return "/settings";
  }
}

export class Router {
  readonly route: Signal<Route>;

  constructor(private readonly win: Window) {
    this.route = signal(parseRoute(win.location.pathname, win.location.search));
    win.addEventListener("popstate", () => {
      this.route.value = parseRoute(win.location.pathname, win.location.search);
    });
  }

  go(route: Route, opts: { replace?: boolean } = {}): void {
    const path = routePath(route);
    if (opts.replace) this.win.history.replaceState(null, "", path);
    else if (this.win.location.pathname + this.win.location.search !== path) this.win.history.pushState(null, "", path);
    this.route.value = route;
  }

  /** Follows a same-origin URL (from a notification) without reloading. */
  goUrl(url: string): boolean {
    try {
      const u = new URL(url, this.win.location.origin);
      if (u.origin !== this.win.location.origin) return false;
      this.go(parseRoute(u.pathname, u.search));
      return true;
    } catch {
      return false;
    }
  }
}
