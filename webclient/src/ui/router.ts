/** Client-side routes on the History API; the server answers index.html for any of them. */
import { signal, type Signal } from "@preact/signals";

export type Route =
  | { name: "rooms" }
  | { name: "room"; roomId: string }
  | { name: "search"; q: string }
  | { name: "settings" };

export function parseRoute(pathname: string, search: string): Route {
  const room = /^\/rooms\/([^/]+)\/?$/.exec(pathname);
  if (room) {
    try {
      return { name: "room", roomId: decodeURIComponent(room[1]!) };
    } catch {
      return { name: "rooms" };
    }
  }
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
    case "room":
      return `/rooms/${encodeURIComponent(route.roomId)}`;
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
