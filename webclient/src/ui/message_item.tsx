import { t } from "../i18n";
import { Component } from "preact";
import { useState } from "preact/hooks";
import type { ChatMessage } from "../net/schemas";
import type { RoomSession } from "../session/room_session";
import { describeSystemEvent, eventNameOf } from "../state/system_text";
import type { ZonedTimeFormatter } from "../state/time_format";
import type { Echo, Notice } from "../state/timeline";
import { EditedMark } from "./edit_history";
import { MessageBody } from "./message_body";
import { ReactionBar } from "./reactions_who";

export const REACTION_CHOICES = ["👍", "✅", "👀", "🔥", "⚠️", "🙏", "❤️", "😂"];

interface Common {
  room: RoomSession;
  fmt: ZonedTimeFormatter;
  now: Date;
}

type MessageProps = Common & { message: ChatMessage; highlighted?: boolean };

/**
 * A stored message that renders again only when what it shows can have changed: the message
 * itself, the highlight, the display day (its times say HH:mm for today) or whether it can
 * still be edited. The list re-renders every row for each new message; a room catching up
 * hundreds of messages made that quadratic and kept the page busy for seconds. What a row
 * reads from the room's signals (connection, members, reactions, role) re-renders it by itself.
 */
export class StoredMessageItem extends Component<MessageProps> {
  private editable = false;

  override shouldComponentUpdate(next: MessageProps): boolean {
    const prev = this.props;
    return (
      prev.message !== next.message ||
      prev.room !== next.room ||
      prev.fmt !== next.fmt ||
      (prev.highlighted ?? false) !== (next.highlighted ?? false) ||
      prev.fmt.dayKey(prev.now) !== next.fmt.dayKey(next.now) ||
      next.room.canEdit(next.message) !== this.editable
    );
  }

  override render(props: MessageProps) {
    this.editable = props.room.canEdit(props.message);
    return <MessageItem {...props} />;
  }
}

export function MessageItem({ message, room, fmt, now, highlighted = false }: MessageProps) {
  const [editing, setEditing] = useState(false);
  const [picker, setPicker] = useState(false);
  const me = room.me.user_id;
  const nameOf = (id: string) => room.displayName(id);
  // A person the room no longer knows (a removed member) keeps the name the event was stored with.
  const knownName = (id: string) => {
    const name = room.displayName(id);
    return name === id ? null : name;
  };

  if (message.message_type === "system") {
    const content = typeof message.content === "object" && message.content !== null ? message.content : { event: "event" };
    return (
      <li
        class={`system-notice${highlighted ? " highlighted" : ""}`}
        data-seq={message.sequence_number}
        data-sequence-number={message.sequence_number}
        data-testid={highlighted ? "highlighted-message" : undefined}
      >
        {content.event === "alert_resolved" ? (
          <span class="bot-badge alert" title={t("message.botAlertTitle")}>
            {t("message.botAlert")}
          </span>
        ) : null}
        <span>{describeSystemEvent(content, eventNameOf(content, knownName))}</span>{" "}
        <time dateTime={message.created_at} title={fmt.long(message.created_at)}>
          {fmt.short(message.created_at, now)}
        </time>
      </li>
    );
  }

  const mine = message.sender_id === me;
  const mentionsMe = message.mentions.includes(me);
  const deleted = message.deleted_at !== null;
  const reactions = Object.entries(message.reactions).filter(([, n]) => n > 0);
  const live = room.connection.value.state === "live";
  const urgent = message.priority === "urgent";
  const acks = message.acknowledgements ?? [];
  const ackedByMe = acks.some((a) => a.user_id === me);

  return (
    <li
      class={`message${mine ? " mine" : ""}${mentionsMe && !deleted ? " mentions-me" : ""}${urgent ? " urgent" : ""}${highlighted ? " highlighted" : ""}`}
      data-seq={message.sequence_number}
      data-sequence-number={message.sequence_number}
      data-message-id={message.message_id}
      data-testid={highlighted ? "highlighted-message" : "message"}
      aria-label={t("message.aria", { sender: message.sender_display_name, time: fmt.short(message.created_at, now) })}
    >
      <div class="message-head">
        {urgent ? (
          <span class="urgent-badge" data-testid="urgent-badge">
            {t("message.urgent")}
          </span>
        ) : null}
        <span class="sender">{message.sender_display_name}</span>
        {message.sender_is_bot ? (
          <span class="bot-badge" data-testid="bot-badge" title={t("message.botTitle")}>
            {t("message.bot")}
          </span>
        ) : null}
        <time dateTime={message.created_at} title={fmt.long(message.created_at)}>
          {fmt.short(message.created_at, now)}
        </time>
        {message.edited_at && !deleted ? <EditedMark message={message} room={room} fmt={fmt} now={now} /> : null}
        {!deleted ? (
          <div class="message-actions">
            <button
              type="button"
              class="icon-button"
              aria-label={t("message.addReaction")}
              aria-expanded={picker}
              disabled={!live}
              onClick={() => setPicker(!picker)}
            >
              ☺+
            </button>
            {room.canEdit(message) && message.message_type === "text" && !editing ? (
              <button type="button" class="link-button" disabled={!live} onClick={() => setEditing(true)}>
                {t("message.edit")}
              </button>
            ) : null}
            {room.canDelete(message) ? (
              <button
                type="button"
                class="link-button danger"
                disabled={!live}
                onClick={() => {
                  if (confirm(t("message.confirmDelete"))) room.deleteMessage(message.message_id);
                }}
              >
                {t("message.delete")}
              </button>
            ) : null}
          </div>
        ) : null}
      </div>
      {deleted ? (
        <p class="deleted">{t("message.deleted")}</p>
      ) : editing ? (
        <EditForm
          initial={typeof message.content === "string" ? message.content : ""}
          onCancel={() => setEditing(false)}
          onSave={(text) => {
            if (room.editMessage(message.message_id, text)) setEditing(false);
          }}
        />
      ) : (
        <MessageBody
          type={message.message_type}
          content={message.content}
          mentions={message.mentions}
          fileUrl={message.file_url}
          file={message.file}
          nameOf={nameOf}
          meId={me}
          formatTime={(iso) => fmt.short(iso, now)}
        />
      )}
      {urgent && !deleted ? (
        <div class="urgent-foot" data-testid="urgent-foot">
          {!ackedByMe ? (
            <button
              type="button"
              class="primary urgent-ack"
              data-testid="acknowledge"
              onClick={() => void room.acknowledge(message.message_id)}
            >
              {t("message.acknowledge")}
            </button>
          ) : null}
          {acks.length > 0 ? (
            <ul class="acks" aria-label={t("message.acknowledgements")}>
              {acks.map((a) => (
                <li key={a.user_id} data-testid="acknowledgement">
                  {t("message.acknowledgedBy", { name: a.user_id === me ? t("common.you") : a.display_name })}{" "}
                  <time dateTime={a.at} title={fmt.long(a.at)}>
                    {fmt.short(a.at, now)}
                  </time>
                </li>
              ))}
            </ul>
          ) : (
            <span class="acks-none">{t("message.notAcknowledged")}</span>
          )}
        </div>
      ) : null}
      {!deleted && (reactions.length > 0 || picker) ? (
        <div class="message-foot">
          <ReactionBar message={message} room={room} />
          {picker ? (
            <div class="reaction-picker" role="group" aria-label={t("message.pickReaction")}>
              {REACTION_CHOICES.map((emoji) => (
                <button
                  key={emoji}
                  type="button"
                  class="icon-button"
                  aria-label={t("message.reactWith", { emoji })}
                  onClick={() => {
                    room.toggleReaction(message.message_id, emoji);
                    setPicker(false);
                  }}
                  onKeyDown={(e) => {
                    if (e.key === "Escape") setPicker(false);
                  }}
                >
                  {emoji}
                </button>
              ))}
            </div>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}

function EditForm({ initial, onSave, onCancel }: { initial: string; onSave: (t: string) => void; onCancel: () => void }) {
  const [text, setText] = useState(initial);
  return (
    <form
      class="edit-form"
      onSubmit={(e) => {
        e.preventDefault();
        onSave(text);
      }}
    >
      <label class="visually-hidden" for="edit-text">
        {t("message.editMessage")}
      </label>
      <textarea
        id="edit-text"
        rows={2}
        value={text}
        ref={(el) => el?.focus()}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") onCancel();
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            onSave(text);
          }
        }}
      />
      <div class="row">
        <button type="submit" class="primary" disabled={!text.trim()}>
          {t("common.save")}
        </button>
        <button type="button" onClick={onCancel}>
          {t("common.cancel")}
        </button>
      </div>
    </form>
  );
}

export function EchoItem({ echo, room, fmt, now }: Common & { echo: Echo }) {
  const f = echo.frame;
  const at = new Date(echo.queued_at).toISOString();
  return (
    <li
      class={`message mine echo echo-${echo.status}`}
      aria-label={t("message.yourMessage", { status: statusText(echo) })}
      data-testid="echo"
      data-client-id={echo.client_id}
      data-status={echo.status}
    >
      <div class="message-head">
        <span class="sender">{echo.sender_display_name}</span>
        <time dateTime={at} title={fmt.long(at)}>
          {fmt.short(at, now)}
        </time>
        <span class="echo-state" data-testid="echo-state">
          {statusText(echo)}
        </span>
      </div>
      <MessageBody
        type={f.message_type}
        content={f.content}
        mentions={f.mentions ?? []}
        fileUrl={echo.preview_url}
        file={echo.file}
        localPreview
        nameOf={(id) => room.displayName(id)}
        meId={room.me.user_id}
        formatTime={(iso) => fmt.short(iso, now)}
      />
      {echo.status === "failed" ? (
        <div class="row">
          <span class="error" data-testid="echo-error">
            {echo.error}
          </span>
          {room.blockedReason.value === null ? (
            <button type="button" class="link-button" onClick={() => room.retryEcho(echo.client_id)}>
              {t("common.retry")}
            </button>
          ) : null}
          <button type="button" class="link-button danger" onClick={() => room.discardEcho(echo.client_id)}>
            {t("message.discard")}
          </button>
        </div>
      ) : null}
    </li>
  );
}

function statusText(echo: Echo): string {
  if (echo.status === "failed") return t("message.status.failed");
  if (echo.status === "acked") return t("message.status.acked");
  if (echo.status === "waiting") return t("message.status.waiting");
  return t("message.status.sending");
}

export function NoticeItem({ notice, room, fmt, now }: Common & { notice: Notice }) {
  const who = notice.display_name ?? (notice.user_id ? room.displayName(notice.user_id) : t("common.someone"));
  return (
    <li class="system-notice transient">
      <span>{describeSystemEvent({ event: notice.event, user_id: notice.user_id }, () => who)}</span>{" "}
      <time dateTime={notice.timestamp} title={fmt.long(notice.timestamp)}>
        {fmt.short(notice.timestamp, now)}
      </time>
    </li>
  );
}
