import { language, t } from "../i18n";
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

const NAV = ["rooms", "mentions", "search", "settings"] as const;
type NavName = (typeof NAV)[number];

export function App() {
  const { session, router } = useApp();
  const auth = session.auth.value;
  const user = session.user.value;
  const route = router.route.value;
  const unread = session.unreadTotal.value;
  const unreadMentions = session.unreadMentions.value;

  useEffect(() => {
    document.title = unread > 0 ? t("app.unreadTitle", { count: unread }) : "Andon";
  }, [unread, language.value]);

  // Leaving a room's page closes its socket.
  useEffect(() => {
    if (route.name !== "room") session.closeRoom();
  }, [route.name]);

  if (auth === "loading") {
    return (
      <main class="centered" aria-busy="true">
        <p>{t("app.loading")}</p>
      </main>
    );
  }
  if (auth === "signed_out" || !user) return <SignInView />;

  const nav = (name: NavName) => (
    <a
      key={name}
      href={name === "rooms" ? "/" : `/${name}`}
      class="nav-link"
      data-testid={`nav-${name}`}
      aria-current={route.name === name || (name === "rooms" && route.name === "room") ? "page" : undefined}
      onClick={(e) => {
        e.preventDefault();
        router.go(name === "search" ? { name, q: "" } : { name });
      }}
    >
      {t(`nav.${name}`)}
      {name === "rooms" && unread > 0 ? (
        <span class="badge" data-testid="nav-rooms-badge" aria-label={t("nav.unread", { count: unread })}>
          {unread}
        </span>
      ) : null}
      {name === "mentions" && unreadMentions > 0 ? (
        <span class="badge mention-badge" data-testid="nav-mentions-badge" aria-label={t("nav.unreadMentions", { count: unreadMentions })}>
          {unreadMentions > 99 ? t("common.overflow") : unreadMentions}
        </span>
      ) : null}
    </a>
  );

  return (
    <div class="app">
      <a class="skip-link" href="#main">
        {t("app.skipToContent")}
      </a>
      {route.name === "room" ? <ComposerSkipLink roomId={route.roomId} /> : null}
      <header class="topbar">
        <span class="brand" aria-hidden="true">
          <span class="lamp" /> Andon
        </span>
        <nav aria-label={t("app.mainNav")}>
          {NAV.map(nav)}
        </nav>
        <ConnectionBadge status={session.userStream.value} onRetry={() => session.retryNow()} />
        <button
          type="button"
          class="link-button"
          onClick={() => void session.signOut()}
          title={t("app.signedInAs", { name: user.display_name, id: user.user_id })}
        >
          {t("app.signOut")}
        </button>
      </header>
      {session.offline.value ? (
        <p class="banner warn" role="status">
          {t("app.offlineBanner")}
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
