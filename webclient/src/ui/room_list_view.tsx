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
        <h1 id="rooms-title">Incident rooms</h1>
        <button type="button" class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
          {creating ? "Cancel" : "New room"}
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
            Retry
          </button>
        </p>
      ) : null}
      {rooms.loaded && rooms.rooms.length === 0 ? <p class="muted">No rooms yet. Create one to start.</p> : null}
      <ul class="room-list" aria-label="Rooms">
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
          {room.status}
        </span>
        <span class="room-badges">
          {room.unread_mentions > 0 ? (
            <span class="badge mention-badge" data-testid="room-mention-badge" aria-label={`${room.unread_mentions} unread mentions`}>
              @{room.unread_mentions > 99 ? "99+" : room.unread_mentions}
            </span>
          ) : null}
          {room.unread_count > 0 ? (
            <span class="badge" data-testid="room-unread-badge" aria-label={`${room.unread_count} unread`}>
              {room.unread_count > 99 ? "99+" : room.unread_count}
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
                    <span class="bot-badge" data-testid="room-bot-badge" title="Sent by an integration (webhook), not a person">
                      BOT
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
              No messages yet
            </span>
          ) : null}
        </span>
        <span class="room-meta">
          {room.description ? <span class="room-desc">{room.description}</span> : null}
          {at ? (
            <span class="room-updated">
              Last updated{" "}
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
    <form class="card form-grid" onSubmit={submit} aria-label="New room">
      <label>
        Title
        <input required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label>
        Description (optional)
        <textarea rows={2} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy || !title.trim()}>
        Create room
      </button>
    </form>
  );
}
