import { t } from "../i18n";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { RoomSession } from "../session/room_session";
import { activeMentionQuery, filterCandidates, insertMention, type MentionCandidate, type MentionQuery } from "../state/mentions";
import { IncidentForm } from "./incident_form";
import { focusComposer } from "./keyboard";

/**
 * The message box: Enter sends, Shift+Enter breaks the line; "@" opens the member
 * list (↑ ↓ to move, Enter or Tab to pick, Esc to close, or the mouse).
 */
export function Composer({ room }: { room: RoomSession }) {
  const [draft, setDraft] = useState("");
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissedAt, setDismissedAt] = useState<number | null>(null);
  const [panel, setPanel] = useState<"none" | "incident">("none");
  const [uploading, setUploading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const pendingCaret = useRef<number | null>(null);

  const members: MentionCandidate[] =
    room.members.value.length > 0 ? room.members.value : room.presence.value.online;
  const query: MentionQuery | null = activeMentionQuery(draft, caret);
  const open = query !== null && query.start !== dismissedAt;
  const candidates = open ? filterCandidates(members, query.query, { exclude: room.me.user_id }) : [];
  const showList = open && candidates.length > 0;
  const activeIndex = Math.min(active, Math.max(0, candidates.length - 1));

  // After a picked mention is rendered, put the caret after it. A layout effect runs right
  // after the render, before the next key event; a plain effect waits for the next frame and,
  // with fast typing, moved the caret back over characters typed in between.
  useLayoutEffect(() => {
    if (pendingCaret.current !== null && input.current) {
      input.current.setSelectionRange(pendingCaret.current, pendingCaret.current);
      pendingCaret.current = null;
    }
  });

  // A room opens ready to type in (not on touch screens: see focusComposer).
  const writable = room.canWrite;
  useEffect(() => {
    if (writable) focusComposer(room.roomId, { onlyFinePointer: true });
  }, [room.roomId, writable]);

  const update = (value: string, pos: number) => {
    setDraft(value);
    setCaret(pos);
    setActive(0);
    if (dismissedAt !== null && activeMentionQuery(value, pos)?.start !== dismissedAt) setDismissedAt(null);
    room.draftChanged(value);
  };

  const pick = (member: MentionCandidate) => {
    if (!query) return;
    const next = insertMention(draft, query, caret, member);
    setDraft(next.text);
    setCaret(next.caret);
    pendingCaret.current = next.caret;
    input.current?.focus();
  };

  const [urgent, setUrgent] = useState(false);

  const send = async () => {
    const text = draft;
    if (!text.trim()) return;
    setDraft("");
    setCaret(0);
    setError(null);
    const asUrgent = urgent;
    setUrgent(false);
    await room.sendText(text, { urgent: asUrgent });
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (showList) {
      if (e.key === "ArrowDown") {
        e.preventDefault();
        setActive((activeIndex + 1) % candidates.length);
        return;
      }
      if (e.key === "ArrowUp") {
        e.preventDefault();
        setActive((activeIndex - 1 + candidates.length) % candidates.length);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        const member = candidates[activeIndex];
        if (member) pick(member);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setDismissedAt(query?.start ?? null);
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  const upload = async (file: File) => {
    setUploading(true);
    setError(null);
    const preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : null;
    try {
      await room.sendFile(file, file.name, draft, preview);
      setDraft("");
    } catch (err) {
      if (preview) URL.revokeObjectURL(preview);
      setError(t("composer.uploadFailed", { detail: err instanceof Error ? err.message : String(err) }));
    } finally {
      setUploading(false);
      if (fileInput.current) fileInput.current.value = "";
    }
  };

  const blocked = room.blockedReason.value;
  if (blocked !== null) {
    // Disabled at once, with the reason; the draft stays visible so it can be copied elsewhere.
    return (
      <div class="composer composer-disabled" data-testid="composer" aria-disabled="true">
        <p class="composer-blocked error" role="alert" data-testid="composer-disabled-reason">
          {blocked}
        </p>
        <div class="composer-row">
          <label class="visually-hidden" for={`composer-${room.roomId}`}>
            {t("composer.message")}
          </label>
          <textarea id={`composer-${room.roomId}`} class="composer-input" rows={1} value={draft} disabled />
          <button type="button" class="primary" disabled>
            {t("composer.send")}
          </button>
        </div>
      </div>
    );
  }

  if (!room.canWrite) {
    return (
      <p class="composer-readonly muted" role="note">
        {room.role.value === "VIEWER" ? t("composer.viewerOnly") : t("composer.noPosting")}
      </p>
    );
  }

  const listId = `mention-list-${room.roomId}`;
  return (
    <div class="composer" data-testid="composer">
      {panel === "incident" ? (
        <IncidentForm
          onCancel={() => setPanel("none")}
          onSubmit={async (data) => {
            await room.sendIncidentData(data);
            setPanel("none");
          }}
        />
      ) : null}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {showList ? (
        <ul class="mention-list" id={listId} role="listbox" aria-label={t("composer.mentionList")}>
          {candidates.map((m, i) => (
            <li
              key={m.user_id}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === activeIndex}
              class={i === activeIndex ? "active" : ""}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus in the textarea
                pick(m);
              }}
              onMouseEnter={() => setActive(i)}
            >
              <span class="mention-name">{m.display_name}</span> <span class="muted">{m.user_id}</span>
            </li>
          ))}
        </ul>
      ) : null}
      <div class="composer-row">
        <button
          type="button"
          class="icon-button"
          aria-label={t("composer.attach")}
          disabled={uploading}
          onClick={() => fileInput.current?.click()}
        >
          📎
        </button>
        <input
          ref={fileInput}
          type="file"
          class="visually-hidden"
          tabIndex={-1}
          aria-hidden="true"
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            if (file) void upload(file);
          }}
        />
        <button
          type="button"
          class="icon-button"
          aria-label={t("composer.incident")}
          aria-expanded={panel === "incident"}
          onClick={() => setPanel(panel === "incident" ? "none" : "incident")}
        >
          📊
        </button>
        <label class="visually-hidden" for={`composer-${room.roomId}`}>
          {t("composer.message")}
        </label>
        <textarea
          id={`composer-${room.roomId}`}
          ref={input}
          class="composer-input"
          rows={1}
          placeholder={uploading ? t("composer.uploading") : t("composer.message")}
          title={t("composer.hint")}
          value={draft}
          aria-autocomplete="list"
          aria-controls={showList ? listId : undefined}
          aria-activedescendant={showList ? `${listId}-${activeIndex}` : undefined}
          onInput={(e) => update(e.currentTarget.value, e.currentTarget.selectionStart ?? e.currentTarget.value.length)}
          onKeyDown={onKeyDown}
          onKeyUp={(e) => {
            if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) setCaret(e.currentTarget.selectionStart ?? 0);
          }}
          onClick={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
          onBlur={() => setDismissedAt(query?.start ?? null)}
          onFocus={() => setDismissedAt(null)}
        />
        <label class={`urgent-toggle${urgent ? " on" : ""}`} title={t("composer.urgentHint")}>
          <input
            type="checkbox"
            data-testid="urgent-toggle"
            checked={urgent}
            onChange={(e) => setUrgent(e.currentTarget.checked)}
          />
          {t("composer.urgent")}
        </label>
        <button type="button" class="primary" onClick={() => void send()} disabled={!draft.trim()}>
          {t("composer.send")}
        </button>
      </div>
    </div>
  );
}
