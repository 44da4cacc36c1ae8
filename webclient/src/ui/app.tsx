import { useEffect } from "preact/hooks";
import { ConnectionBadge } from "./connection_badge";
import { useApp } from "./context";
import { ComposerSkipLink } from "./keyboard";
import { MentionToasts } from "./mention_toasts";
import { UrgentBanner } from "./urgent_banner";
import { MentionsView } from "./mentions_view";
import { NotificationPrompt } from "./notification_prompt";
import { RoomListView } from "./room_list_view";
import { RoomView } from "./room_view";
import { SearchView } from "./search_view";
import { SettingsView } from "./settings_view";
import { SignInView } from "./sign_in_view";

export function App() {
  const { session, router } = useApp();
  const auth = session.auth.value;
  const user = session.user.value;
  const route = router.route.value;
  const unread = session.unreadTotal.value;
  const unreadMentions = session.unreadMentions.value;

  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) Andon` : "Andon";
  }, [unread]);

  // Leaving a room's page closes its socket.
  useEffect(() => {
    if (route.name !== "room") session.closeRoom();
  }, [route.name]);

  if (auth === "loading") {
    return (
      <main class="centered" aria-busy="true">
        <p>Loading Andon…</p>
      </main>
    );
  }
  if (auth === "signed_out" || !user) return <SignInView />;

  const nav = (name: "rooms" | "mentions" | "search" | "settings", label: string) => (
    <a
      href={name === "rooms" ? "/" : `/${name}`}
      class="nav-link"
      data-testid={`nav-${name}`}
      aria-current={route.name === name || (name === "rooms" && route.name === "room") ? "page" : undefined}
      onClick={(e) => {
        e.preventDefault();
        router.go(name === "search" ? { name, q: "" } : { name });
      }}
    >
      {label}
      {name === "rooms" && unread > 0 ? (
        <span class="badge" data-testid="nav-rooms-badge" aria-label={`${unread} unread`}>
          {unread}
        </span>
      ) : null}
      {name === "mentions" && unreadMentions > 0 ? (
        <span class="badge mention-badge" data-testid="nav-mentions-badge" aria-label={`${unreadMentions} unread mentions`}>
          {unreadMentions > 99 ? "99+" : unreadMentions}
        </span>
      ) : null}
    </a>
  );

  return (
    <div class="app">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      {route.name === "room" ? <ComposerSkipLink roomId={route.roomId} /> : null}
      <header class="topbar">
        <span class="brand" aria-hidden="true">
          <span class="lamp" /> Andon
        </span>
        <nav aria-label="Main">
          {nav("rooms", "Rooms")}
          {nav("mentions", "Mentions")}
          {nav("search", "Search")}
          {nav("settings", "Settings")}
        </nav>
        <ConnectionBadge status={session.userStream.value} onRetry={() => session.retryNow()} />
        <button
          type="button"
          class="link-button"
          onClick={() => void session.signOut()}
          title={`Signed in as ${user.display_name} (${user.user_id})`}
        >
          Sign out
        </button>
      </header>
      {session.offline.value ? (
        <p class="banner warn" role="status">
          Offline: showing what was loaded before. Messages you send are queued and go out when the connection is back.
        </p>
      ) : null}
      <NotificationPrompt />
      <UrgentBanner />
      <MentionToasts />
      <main id="main" class="content" tabIndex={-1}>
        {route.name === "rooms" ? <RoomListView /> : null}
        {route.name === "room" ? <RoomView key={route.roomId} roomId={route.roomId} at={route.at} /> : null}
        {route.name === "mentions" ? <MentionsView /> : null}
        {route.name === "search" ? <SearchView initialQuery={route.q} /> : null}
        {route.name === "settings" ? <SettingsView /> : null}
      </main>
      <div class="visually-hidden" aria-live="polite" aria-atomic="true" role="log">
        {session.announcement.value}
      </div>
    </div>
  );
}
