import { t } from "../i18n";
import { useEffect, useMemo, useRef } from "preact/hooks";
import type { MentionItem } from "../net/schemas";
import { previewOf } from "../platform/alerts";
import { MentionsInbox } from "../session/mentions_inbox";
import { useApp } from "./context";

/** Every message that mentions me, newest first; a click opens the room at that message. */
export function MentionsView() {
  const { session, router } = useApp();
  const inbox = useMemo(() => new MentionsInbox(session.api), []);
  const state = inbox.state.value;
  const fmt = session.formatter.value;
  const unread = session.unreadMentions.value;

  const lastUnread = useRef<number | null>(null);
  useEffect(() => {
    // First visit, and each new mention, (re)load the newest page; reading one elsewhere does not reset paging.
    if (lastUnread.current === null || unread > lastUnread.current) void inbox.load();
    lastUnread.current = unread;
  }, [unread]);

  const now = new Date();
  return (
    <section class="page" aria-labelledby="mentions-title">
      <h1 id="mentions-title">{t("mentions.title")}</h1>
      {state.error ? (
        <p class="error" role="alert">
          {state.error}{" "}
          <button type="button" class="link-button" onClick={() => void inbox.load()}>
            {t("common.retry")}
          </button>
        </p>
      ) : null}
      {state.loaded && state.items.length === 0 ? (
        <p class="muted" data-testid="mentions-empty">
          {t("mentions.empty")}
        </p>
      ) : null}
      {!state.loaded && state.loading ? <p class="muted">{t("mentions.loading")}</p> : null}
      <ol class="mentions-list" aria-label={t("mentions.title")} data-testid="mentions-list">
        {state.items.map((m) => (
          <li
            key={m.message_id}
            data-testid="mention-item"
            data-room-id={m.room_id}
            data-sequence-number={m.sequence_number}
            data-unread={m.unread ? "true" : "false"}
          >
            <a
              class={`mention-item${m.unread ? " unread" : ""}`}
              href={`/rooms/${encodeURIComponent(m.room_id)}?at=${m.sequence_number}`}
              onClick={(e) => {
                e.preventDefault();
                router.go({ name: "room", roomId: m.room_id, at: m.sequence_number });
              }}
            >
              <span class="hit-meta">
                {m.unread ? (
                  <span class="unread-dot" data-testid="mention-unread" aria-label={t("mentions.unread")}>
                    ●{" "}
                  </span>
                ) : null}
                <span class="room-title" data-testid="mention-room">
                  {m.room_title || session.findRoom(m.room_id)?.title || m.room_id}
                </span>
                {" · "}
                <span class="sender" data-testid="mention-sender">
                  {m.sender_display_name}
                </span>
                {" · "}
                <time dateTime={m.created_at} title={fmt.long(m.created_at)} data-testid="mention-time">
                  {fmt.short(m.created_at, now)}
                </time>
              </span>
              <span class="hit-text" data-testid="mention-text">
                {mentionText(m)}
              </span>
            </a>
          </li>
        ))}
      </ol>
      {state.hasMore ? (
        <button type="button" data-testid="mentions-load-more" onClick={() => void inbox.loadMore()} disabled={state.loading}>
          {state.loading ? t("common.loading") : t("mentions.loadMore")}
        </button>
      ) : null}
    </section>
  );
}

function mentionText(m: MentionItem): string {
  if (!m.deleted_at && m.message_type === "text" && typeof m.content === "string") return m.content;
  return previewOf(m);
}
