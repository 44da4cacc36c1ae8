import { t } from "../i18n";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { RoomSession } from "../session/room_session";
import type { ZonedTimeFormatter } from "../state/time_format";
import { timelineItems } from "../state/timeline";
import { EchoItem, NoticeItem, StoredMessageItem } from "./message_item";

const NEAR_TOP_PX = 200;
const NEAR_BOTTOM_PX = 80;

/**
 * The scrolling message list. Older pages load when the top comes near (and by a
 * button, for keyboards); the view stays put while they are prepended, and follows
 * new messages only when the reader is already at the bottom. A room opened at a
 * message scrolls that message into view and highlights it instead of following.
 */
export function MessageList({ room, fmt }: { room: RoomSession; fmt: ZonedTimeFormatter }) {
  const timeline = room.timeline.value;
  const items = timelineItems(timeline);
  const scroller = useRef<HTMLDivElement>(null);
  const highlight = room.highlight.value;
  const atBottom = useRef(highlight === null);
  const scrolledTo = useRef<number | null>(null);
  const highlightLoaded = highlight !== null && timeline.messages.some((m) => m.sequence_number === highlight);
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const [unseen, setUnseen] = useState(0);
  const lastKey = items[items.length - 1]?.key;
  const firstKey = items[0]?.key;
  const now = new Date();

  const loadOlder = () => {
    const el = scroller.current;
    if (!el || room.loadingOlder.value || !timeline.hasMoreOlder) return;
    anchor.current = { height: el.scrollHeight, top: el.scrollTop };
    void room.loadOlder();
  };

  // Keep the reader's place when older messages are inserted above.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && anchor.current) {
      el.scrollTop = anchor.current.top + (el.scrollHeight - anchor.current.height);
      anchor.current = null;
    }
  }, [firstKey]);

  // Follow new messages when at the bottom; otherwise count them.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
      setUnseen(0);
    } else {
      setUnseen((n) => n + 1);
    }
  }, [lastKey]);

  // Bring the highlighted message into view once it is rendered (again if another one is asked for).
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || highlight === null || !highlightLoaded || scrolledTo.current === highlight) return;
    const target = el.querySelector<HTMLElement>(`[data-sequence-number="${highlight}"]`);
    if (!target) return;
    scrolledTo.current = highlight;
    atBottom.current = false;
    if (typeof target.scrollIntoView === "function") target.scrollIntoView({ block: "center" });
  }, [highlight, highlightLoaded]);

  // The first page may not fill the screen: keep loading until it scrolls or history ends.
  useEffect(() => {
    const el = scroller.current;
    if (el && timeline.historyLoaded && timeline.hasMoreOlder && el.scrollHeight <= el.clientHeight) loadOlder();
  }, [timeline.historyLoaded, timeline.hasMoreOlder, items.length]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    if (atBottom.current) {
      setUnseen(0);
      room.markRead();
    }
    if (el.scrollTop < NEAR_TOP_PX) loadOlder();
  };

  return (
    <div class="message-scroller" ref={scroller} onScroll={onScroll} tabIndex={0} aria-label={t("list.label")}>
      <div class="history-top">
        {timeline.hasMoreOlder ? (
          <button type="button" class="link-button" onClick={loadOlder} disabled={room.loadingOlder.value}>
            {room.loadingOlder.value ? t("list.loadingOlder") : t("list.loadOlder")}
          </button>
        ) : timeline.historyLoaded ? (
          <span class="muted">{t("list.beginning")}</span>
        ) : (
          <span class="muted">{t("list.loading")}</span>
        )}
        {room.historyError.value ? (
          <p class="error" role="alert">
            {room.historyError.value}
          </p>
        ) : null}
      </div>
      <ol class="messages">
        {items.map((item) =>
          item.kind === "message" ? (
            <StoredMessageItem
              key={item.key}
              message={item.message}
              room={room}
              fmt={fmt}
              now={now}
              highlighted={item.message.sequence_number === highlight}
            />
          ) : item.kind === "echo" ? (
            <EchoItem key={item.key} echo={item.echo} room={room} fmt={fmt} now={now} />
          ) : (
            <NoticeItem key={item.key} notice={item.notice} room={room} fmt={fmt} now={now} />
          ),
        )}
      </ol>
      {unseen > 0 ? (
        <button
          type="button"
          class="jump-latest"
          onClick={() => {
            const el = scroller.current;
            if (el) el.scrollTop = el.scrollHeight;
            atBottom.current = true;
            setUnseen(0);
            room.markRead();
          }}
        >
          {t("list.newMessages")}
        </button>
      ) : null}
    </div>
  );
}
