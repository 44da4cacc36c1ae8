import { t } from "../i18n";
import { termOf } from "../state/system_text";
import { useEffect, useState } from "preact/hooks";
import type { Room } from "../net/schemas";
import { roomLine } from "../state/rooms";
import type { ZonedTimeFormatter } from "../state/time_format";
import { useApp } from "./context";

export function RoomListView() {
  const { session, router } = useApp();
  const rooms = session.rooms.value;
  const fmt = session.formatter.value;
  const [creating, setCreating] = useState(false);

  useEffect(() => {
    void session.refreshRooms();
  }, []);

  const now = new Date();
  return (
    <section class="page" aria-labelledby="rooms-title">
      <div class="page-head">
        <h1 id="rooms-title">{t("rooms.title")}</h1>
        <button type="button" class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
          {creating ? t("common.cancel") : t("rooms.new")}
        </button>
      </div>
      {creating ? (
        <CreateRoomForm
          onCreated={(room) => {
            setCreating(false);
            router.go({ name: "room", roomId: room.room_id });
          }}
        />
      ) : null}
      {session.roomsError.value ? (
        <p class="error" role="alert">
          {session.roomsError.value}{" "}
          <button type="button" class="link-button" onClick={() => void session.loadRooms()}>
            {t("common.retry")}
          </button>
        </p>
      ) : null}
      {rooms.loaded && rooms.rooms.length === 0 ? <p class="muted">{t("rooms.empty")}</p> : null}
      <ul class="room-list" aria-label={t("rooms.label")}>
        {rooms.rooms.map((room) => (
          <RoomRow
            key={room.room_id}
            room={room}
            fmt={fmt}
            now={now}
            onOpen={() => router.go({ name: "room", roomId: room.room_id })}
          />
        ))}
      </ul>
    </section>
  );
}

/** One room: title, status, unread and mention badges, the newest message and when it came. */
export function RoomRow({ room, fmt, now, onOpen }: { room: Room; fmt: ZonedTimeFormatter; now: Date; onOpen: () => void }) {
  const line = roomLine(room);
  const at = line.kind === "empty" ? null : line.at;
  return (
    <li data-testid="room-item" data-room-id={room.room_id} data-unread={room.unread_count}>
      <a
        class={`room-row status-${room.status}${room.unread_count > 0 ? " has-unread" : ""}`}
        href={`/rooms/${encodeURIComponent(room.room_id)}`}
        onClick={(e) => {
          e.preventDefault();
          onOpen();
        }}
      >
        <span class="room-title" data-testid="room-title">
          {room.title}
        </span>
        <span class={`status-pill ${room.status}`} data-testid="room-status">
          {termOf("roomStatus", room.status)}
        </span>
        <span class="room-badges">
          {room.unread_mentions > 0 ? (
            <span class="badge mention-badge" data-testid="room-mention-badge" aria-label={t("nav.unreadMentions", { count: room.unread_mentions })}>
              @{room.unread_mentions > 99 ? t("common.overflow") : room.unread_mentions}
            </span>
          ) : null}
          {room.unread_count > 0 ? (
            <span class="badge" data-testid="room-unread-badge" aria-label={t("nav.unread", { count: room.unread_count })}>
              {room.unread_count > 99 ? t("common.overflow") : room.unread_count}
            </span>
          ) : null}
        </span>
        <span class="room-preview" data-testid="room-preview">
          {line.kind === "preview" ? (
            <>
              {line.sender ? (
                <span class="room-preview-sender" data-testid="room-preview-sender">
                  {line.sender}
                  {line.bot ? (
                    <span class="bot-badge" data-testid="room-bot-badge" title={t("message.botTitle")}>
                      {t("message.bot")}
                    </span>
                  ) : null}
                  :{" "}
                </span>
              ) : null}
              <span class="room-preview-text" data-testid="room-preview-text">
                {line.text}
              </span>
            </>
          ) : line.kind === "empty" ? (
            <span class="muted" data-testid="room-empty">
              {t("rooms.noMessages")}
            </span>
          ) : null}
        </span>
        <span class="room-meta">
          {room.description ? <span class="room-desc">{room.description}</span> : null}
          {at ? (
            <span class="room-updated">
              {t("rooms.lastUpdated")}{" "}
              <time dateTime={at} title={fmt.long(at)} data-testid="room-time">
                {fmt.short(at, now)}
              </time>
            </span>
          ) : null}
        </span>
      </a>
    </li>
  );
}

function CreateRoomForm({ onCreated }: { onCreated: (room: Room) => void }) {
  const { session } = useApp();
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!title.trim()) return;
    setBusy(true);
    setError(null);
    try {
      onCreated(await session.createRoom(title, description));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card form-grid" onSubmit={submit} aria-label={t("rooms.formTitle")}>
      <label>
        {t("rooms.fieldTitle")}
        <input required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label>
        {t("rooms.description")}
        <textarea rows={2} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy || !title.trim()}>
        {t("rooms.create")}
      </button>
    </form>
  );
}
