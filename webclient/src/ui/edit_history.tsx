import { lazyTexts, t } from "../i18n";
import { useContext, useEffect, useRef, useState } from "preact/hooks";
import type { ChatMessage, MessageContent } from "../net/schemas";
import type { RoomSession } from "../session/room_session";
import type { ZonedTimeFormatter } from "../state/time_format";
import { AppContext } from "./context";
import { FormattedText } from "./formatted_text";

/** The user-visible strings of the edit history, in the current language (src/i18n/locales). */
export const EDIT_HISTORY_STRINGS = lazyTexts(
  {
    edited: "editHistory.edited",
    showHistory: "editHistory.showHistory",
    title: "editHistory.title",
    original: "editHistory.original",
    current: "editHistory.current",
    loading: "common.loading",
    close: "common.close",
  },
  {
    editedAt: (when: string) => t("editHistory.editedAt", { when }),
    version: (n: number) => t("editHistory.version", { n }),
    failed: (why: string) => t("editHistory.failed", { detail: why }),
  },
);

const S = EDIT_HISTORY_STRINGS;

interface Version {
  content: MessageContent;
  at: string;
}

/** The contract's rule: the sender, the room's OWNER and admins may read a message's versions. */
export function canSeeHistory(room: RoomSession, message: ChatMessage): boolean {
  if (message.deleted_at || message.message_type === "system") return false;
  return message.sender_id === room.me.user_id || room.role.value === "OWNER" || room.me.is_admin === true;
}

/**
 * "(edited)" after the time. For those allowed to read the versions it is a button that
 * opens a dialog with every version, original first, each with its time.
 */
export function EditedMark({ message, room, fmt, now }: { message: ChatMessage; room: RoomSession; fmt: ZonedTimeFormatter; now: Date }) {
  const app = useContext(AppContext);
  const [open, setOpen] = useState(false);
  const editedAt = message.edited_at ?? "";
  const title = S.editedAt(fmt.long(editedAt));
  if (!app || !canSeeHistory(room, message)) {
    return (
      <span class="edited" title={title}>
        {S.edited}
      </span>
    );
  }
  const load = () => app.session.api.messageVersions(room.roomId, message.message_id);
  return (
    <>
      <button
        type="button"
        class="link-button edited"
        title={title}
        aria-label={`${S.edited} ${S.showHistory}`}
        aria-haspopup="dialog"
        onClick={() => setOpen(true)}
      >
        {S.edited}
      </button>
      {open ? <HistoryDialog load={load} fmt={fmt} now={now} onClose={() => setOpen(false)} /> : null}
    </>
  );
}

function HistoryDialog({
  load,
  fmt,
  now,
  onClose,
}: {
  load: () => Promise<Version[]>;
  fmt: ZonedTimeFormatter;
  now: Date;
  onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const d = dialog.current;
    if (d && typeof d.showModal === "function" && !d.open) d.showModal();
    let alive = true;
    load().then(
      (v) => alive && setVersions(v),
      (err: unknown) => alive && setError(S.failed(err instanceof Error ? err.message : String(err))),
    );
    return () => {
      alive = false;
    };
  }, []);

  const close = () => {
    const d = dialog.current;
    if (d?.open && typeof d.close === "function") d.close();
    onClose();
  };

  return (
    <dialog
      ref={dialog}
      class="edit-history"
      aria-labelledby="edit-history-title"
      data-testid="edit-history"
      onCancel={(e) => {
        e.preventDefault();
        close();
      }}
    >
      <div class="dialog-head">
        <h2 id="edit-history-title">{S.title}</h2>
        <button type="button" onClick={close} autoFocus>
          {S.close}
        </button>
      </div>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : versions === null ? (
        <p class="muted">{S.loading}</p>
      ) : (
        <ol class="versions">
          {versions.map((v, i) => (
            <li key={i} class="version" data-testid="version">
              <div class="version-head">
                <strong>{i === 0 ? S.original : i === versions.length - 1 ? S.current : S.version(i + 1)}</strong>{" "}
                <time dateTime={v.at} title={fmt.long(v.at)}>
                  {fmt.short(v.at, now)}
                </time>
              </div>
              {typeof v.content === "string" ? <FormattedText text={v.content} /> : <pre class="version-data">{JSON.stringify(v.content, null, 2)}</pre>}
            </li>
          ))}
        </ol>
      )}
    </dialog>
  );
}
