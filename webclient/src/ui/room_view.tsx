import { t } from "../i18n";
import { termOf } from "../state/system_text";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Room } from "../net/schemas";
import { typingSummary } from "../state/presence";
import { Composer } from "./composer";
import { ConnectionBadge } from "./connection_badge";
import { AlertsPanel } from "./alerts_panel";
import { useApp } from "./context";
import { LazyIncidentChart } from "./incident_chart_lazy";
import { MembersPanel } from "./members_panel";
import { MessageList } from "./message_list";
import { RoomMenu } from "./room_menu";

const SIDE_LABELS = { members: "room.members", chart: "room.trend", alerts: "room.alerts" } as const;

export function RoomView({ roomId, at }: { roomId: string; at?: number | undefined }) {
  const { session, router } = useApp();
  const [side, setSide] = useState<"none" | "members" | "chart" | "alerts">("none");
  const [fetched, setFetched] = useState<Room | null>(null);
  const lastInfo = useRef<Room | null>(null);
  const room = session.room.value;

  useEffect(() => {
    session.openRoom(roomId, at !== undefined ? { at } : {});
    if (!session.findRoom(roomId)) {
      session.api.room(roomId).then(setFetched, () => undefined);
    }
  }, [roomId, at]);

  if (!room || room.roomId !== roomId) return <p class="muted">{t("room.opening")}</p>;

  // A room the user was just removed from leaves the list; keep showing its title.
  const listed = session.findRoom(roomId);
  if (listed) lastInfo.current = listed;
  const info = listed ?? fetched ?? lastInfo.current;
  const fmt = session.formatter.value;
  const presence = room.presence.value;
  const status = room.connection.value;
  const typing = typingSummary(presence.typing);
  const archived = info?.status === "archived";
  const incidentCount = room.timeline.value.messages.filter((m) => m.message_type === "incident_data").length;

  return (
    <section class="room" aria-labelledby="room-title">
      <header class="room-head">
        <a
          href="/"
          class="back-link"
          aria-label={t("room.back")}
          onClick={(e) => {
            e.preventDefault();
            router.go({ name: "rooms" });
          }}
        >
          ←
        </a>
        <div class="room-head-title">
          <h1 id="room-title">{info?.title ?? t("room.fallbackTitle")}</h1>
          {info ? <span class={`status-pill ${info.status}`}>{termOf("roomStatus", info.status)}</span> : null}
        </div>
        <ConnectionBadge
          status={status}
          onRetry={() => session.retryNow()}
          testId="room-connection-badge"
          label={t("connection.roomLabel")}
        />
        <div class="room-tools">
          <button
            type="button"
            aria-expanded={side === "members"}
            aria-controls="room-side"
            onClick={() => setSide(side === "members" ? "none" : "members")}
          >
            👥 <span class="online-count">{t("members.onlineCount", { count: presence.onlineCount ?? presence.online.length })}</span>
          </button>
          <button
            type="button"
            aria-expanded={side === "chart"}
            aria-controls="room-side"
            onClick={() => setSide(side === "chart" ? "none" : "chart")}
          >
            📈 {t("room.trend")}
          </button>
          <RoomMenu roomId={roomId} onAlerts={() => setSide("alerts")} />
        </div>
      </header>
      {room.notice.value ? (
        <p class="banner warn" role="alert">
          {room.notice.value}{" "}
          <button type="button" class="link-button" onClick={() => (room.notice.value = null)}>
            {t("common.dismiss")}
          </button>
        </p>
      ) : null}
      <div class={`room-body${side !== "none" ? " with-side" : ""}`}>
        <div class="room-main">
          <MessageList room={room} fmt={fmt} />
          <p class="typing" aria-live="off">
            {typing}
          </p>
          {room.blockedReason.value === null && archived ? (
            <p class="composer-readonly muted" role="note">
              {t("composer.archived")}
            </p>
          ) : (
            <Composer room={room} />
          )}
        </div>
        {side !== "none" ? (
          <aside id="room-side" class="room-side" aria-label={t(SIDE_LABELS[side])}>
            {/* Members and Trend close from their header buttons on a wide screen; Alerts opens from the menu. */}
            <button
              type="button"
              class={`link-button side-close${side === "alerts" ? " always" : ""}`}
              onClick={() => setSide("none")}
            >
              {t("common.close")}
            </button>
            {side === "members" ? <MembersPanel room={room} info={info} /> : null}
            {side === "alerts" ? <AlertsPanel room={room} /> : null}
            {side === "chart" ? (
              <LazyIncidentChart
                api={session.api}
                roomId={roomId}
                fmt={fmt}
                refreshKey={incidentCount}
                messages={room.timeline.value.messages}
              />
            ) : null}
          </aside>
        ) : null}
      </div>
    </section>
  );
}
