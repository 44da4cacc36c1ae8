import { useEffect, useState } from "preact/hooks";
import type { Room } from "../net/schemas";
import { useApp } from "./context";

export function RoomListView() {
  const { session, router } = useApp();
  const rooms = session.rooms.value;
  const fmt = session.formatter.value;
  const [creating, setCreating] = useState(false);

  useEffect(() => {
    void session.loadRooms();
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
      <ul class="room-list">
        {rooms.rooms.map((room) => (
          <li key={room.room_id}>
            <a
              class={`room-row status-${room.status}`}
              href={`/rooms/${encodeURIComponent(room.room_id)}`}
              onClick={(e) => {
                e.preventDefault();
                router.go({ name: "room", roomId: room.room_id });
              }}
            >
              <span class="room-title">{room.title}</span>
              <span class={`status-pill ${room.status}`}>{room.status}</span>
              {room.unread_count > 0 ? (
                <span class="badge" aria-label={`${room.unread_count} unread`}>
                  {room.unread_count > 99 ? "99+" : room.unread_count}
                </span>
              ) : null}
              <span class="room-meta">
                {room.description ? <span class="room-desc">{room.description}</span> : null}
                <span class="room-updated">
                  {room.last_message_at ? (
                    <time dateTime={room.last_message_at} title={fmt.long(room.last_message_at)}>
                      Last updated {fmt.short(room.last_message_at, now)}
                    </time>
                  ) : (
                    "No messages yet"
                  )}
                </span>
              </span>
            </a>
          </li>
        ))}
      </ul>
    </section>
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
