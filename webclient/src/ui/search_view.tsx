import { t } from "../i18n";
import { useEffect, useState } from "preact/hooks";
import type { SearchHit } from "../net/schemas";
import { useApp } from "./context";
import { HighlightedText } from "./highlighted_text";
import { IncidentCard } from "./message_body";
import { markedTerms } from "../state/incident_fields";
import { searchErrorMessage } from "../state/search_errors";

const PAGE = 20;

export function SearchView({ initialQuery }: { initialQuery: string }) {
  const { session, router } = useApp();
  const [q, setQ] = useState(initialQuery);
  const [roomId, setRoomId] = useState("");
  const [hits, setHits] = useState<SearchHit[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fmt = session.formatter.value;
  const rooms = session.rooms.value.rooms;

  const run = async (offset: number) => {
    const query = q.trim();
    if (!query) return;
    setBusy(true);
    setError(null);
    try {
      const params = roomId ? { q: query, room_id: roomId, limit: PAGE, offset } : { q: query, limit: PAGE, offset };
      const res = await session.api.search(params);
      setHits(offset === 0 ? res.hits : [...hits, ...res.hits]);
      setTotal(res.total);
    } catch (err) {
      setError(searchErrorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    if (initialQuery) void run(0);
  }, []);

  const now = new Date();
  return (
    <section class="page" aria-labelledby="search-title">
      <h1 id="search-title">{t("search.title")}</h1>
      <form
        class="search-form"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          router.go({ name: "search", q: q.trim() }, { replace: true });
          void run(0);
        }}
      >
        <label class="grow">
          <span class="visually-hidden">{t("search.words")}</span>
          <input
            type="search"
            placeholder={t("search.placeholder")}
            value={q}
            onInput={(e) => setQ(e.currentTarget.value)}
          />
        </label>
        <label>
          <span class="visually-hidden">{t("search.room")}</span>
          <select value={roomId} onChange={(e) => setRoomId(e.currentTarget.value)}>
            <option value="">{t("search.allRooms")}</option>
            {rooms.map((r) => (
              <option key={r.room_id} value={r.room_id}>
                {r.title}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="primary" disabled={busy || !q.trim()}>
          {t("search.submit")}
        </button>
      </form>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {total !== null ? (
        <p class="muted" role="status">
          {t("search.results", { count: total })}
        </p>
      ) : null}
      <ol class="search-results">
        {hits.map((hit) => (
          <li key={hit.message.message_id}>
            <a
              href={`/rooms/${encodeURIComponent(hit.message.room_id)}?at=${hit.message.sequence_number}`}
              class="search-hit"
              data-testid="search-hit"
              onClick={(e) => {
                e.preventDefault();
                router.go({ name: "room", roomId: hit.message.room_id, at: hit.message.sequence_number });
              }}
            >
              <span class="hit-meta">
                <span class="room-title">{session.findRoom(hit.message.room_id)?.title ?? hit.message.room_id}</span>
                {" · "}
                <span class="sender">{hit.message.sender_display_name}</span>
                {" · "}
                <time dateTime={hit.message.created_at} title={fmt.long(hit.message.created_at)}>
                  {fmt.short(hit.message.created_at, now)}
                </time>
              </span>
              {hit.message.message_type === "incident_data" ? (
                <IncidentCard
                  content={hit.message.content}
                  formatTime={(iso) => fmt.short(iso, now)}
                  terms={markedTerms(hit.highlighted_content)}
                  compact
                />
              ) : (
                <span class="hit-text">
                  <HighlightedText html={hit.highlighted_content} />
                </span>
              )}
            </a>
          </li>
        ))}
      </ol>
      {total !== null && hits.length < total ? (
        <button type="button" onClick={() => void run(hits.length)} disabled={busy}>
          {t("search.more")}
        </button>
      ) : null}
    </section>
  );
}
