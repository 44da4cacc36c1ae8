import { t } from "../i18n";
import { termOf } from "../state/system_text";
import { useState } from "preact/hooks";
import { ROLES, ROOM_STATUSES, type Role, type Room, type RoomStatus } from "../net/schemas";
import type { RoomSession } from "../session/room_session";
import { isOnline } from "../state/presence";
import { useApp } from "./context";

/** Members with online indicators; OWNERs (and admins) add, re-role and remove members and set the status. */
export function MembersPanel({ room, info }: { room: RoomSession; info: Room | null }) {
  const { session } = useApp();
  const [error, setError] = useState<string | null>(null);
  const [newId, setNewId] = useState("");
  const [newRole, setNewRole] = useState<Role>("EDITOR");
  const presence = room.presence.value;
  const members = room.members.value;
  const me = room.me;
  const isOwner = room.role.value === "OWNER" || me.is_admin;

  // A large room's presence is a sample (docs/big-rooms.md): members outside it are not known
  // to be offline, so they are not said to be.
  const large = presence.onlineCount !== null;
  // Online people who are not in the member list (an admin visiting) still show.
  const extra = presence.online.filter((u) => !members.some((m) => m.user_id === u.user_id));

  const act = async (what: () => Promise<void>) => {
    setError(null);
    try {
      await what();
      await room.refreshMembers();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <div class="members">
      {isOwner && info ? (
        <label class="status-select">
          {t("members.roomStatus")}
          <select
            value={info.status}
            onChange={(e) => {
              const status = e.currentTarget.value as RoomStatus;
              void act(() => session.updateRoom(room.roomId, { status }));
            }}
          >
            {ROOM_STATUSES.map((s) => (
              <option key={s} value={s}>
                {termOf("roomStatus", s)}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <h2>{t("members.title")}</h2>
      {presence.onlineCount !== null ? (
        <>
          <p class="members-online" role="status">
            {t("members.onlineCount", { count: presence.onlineCount })}
          </p>
          <p class="muted members-note">
            {t("members.largeRoomNote")}
          </p>
        </>
      ) : null}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <ul class="member-list">
        {members.map((m) => {
          const online = isOnline(presence, m.user_id);
          return (
            <li key={m.user_id}>
              <span class={`presence-dot${online ? " online" : ""}`} aria-hidden="true" />
              <span class="member-name">
                {m.display_name}
                {m.user_id === me.user_id ? t("members.you") : ""}
                <span class="visually-hidden">{online ? t("members.online") : large ? "" : t("members.offline")}</span>
              </span>
              {isOwner && m.user_id !== me.user_id ? (
                <>
                  <label>
                    <span class="visually-hidden">{t("members.roleOf", { name: m.display_name })}</span>
                    <select
                      value={m.role}
                      onChange={(e) => {
                        const role = e.currentTarget.value as Role;
                        void act(() => session.api.changeMemberRole(room.roomId, m.user_id, role));
                      }}
                    >
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {termOf("roles", r)}
                        </option>
                      ))}
                    </select>
                  </label>
                  <button
                    type="button"
                    class="link-button danger"
                    aria-label={t("members.removeName", { name: m.display_name })}
                    onClick={() => {
                      if (confirm(t("members.confirmRemove", { name: m.display_name }))) {
                        void act(() => session.api.removeMember(room.roomId, m.user_id));
                      }
                    }}
                  >
                    {t("members.remove")}
                  </button>
                </>
              ) : (
                <span class="role">{termOf("roles", m.role)}</span>
              )}
            </li>
          );
        })}
        {extra.map((u) => (
          <li key={u.user_id}>
            <span class="presence-dot online" aria-hidden="true" />
            <span class="member-name">
              {u.display_name}
              <span class="visually-hidden">{t("members.online")}</span>
            </span>
          </li>
        ))}
      </ul>
      {isOwner ? (
        <form
          class="form-grid"
          aria-label={t("members.addForm")}
          onSubmit={(e) => {
            e.preventDefault();
            const id = newId.trim().toLowerCase();
            if (!id) return;
            void act(async () => {
              await session.api.addMember(room.roomId, id, newRole);
              setNewId("");
            });
          }}
        >
          <label>
            {t("members.addEmail")}
            <input type="email" required value={newId} onInput={(e) => setNewId(e.currentTarget.value)} />
          </label>
          <label>
            {t("members.role")}
            <select value={newRole} onChange={(e) => setNewRole(e.currentTarget.value as Role)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {termOf("roles", r)}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" class="primary">
            {t("members.add")}
          </button>
        </form>
      ) : null}
    </div>
  );
}
