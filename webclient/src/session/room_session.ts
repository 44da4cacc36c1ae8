/**
 * One open room: history, the live socket, the outbox, and the reducers, exposed
 * to the views as signals. No DOM here: the socket factory, clock, storage and the
 * page's focus state are injected, so the whole flow runs under a fake socket in tests.
 */
import { lazyTexts, t } from "../i18n";
import { batch, signal, type Signal } from "@preact/signals";
import type { Clock, RandomSource } from "../net/clock";
import { NetworkError, type ApiClient } from "../net/http";
import type { OutboxStore } from "../net/memory_outbox";
import type {
  ChatMessage,
  ClientConfig,
  ClientFrame,
  ErrorFrame,
  FileInfo,
  Member,
  MentionFrame,
  OutgoingMessageFrame,
  Role,
  Room,
  ServerFrame,
  User,
} from "../net/schemas";
import {
  RoomSocket,
  type ConnectionStatus,
  type FrameContext,
  type RoomSocketOptions,
  type SocketFactory,
} from "../net/socket";
import { resolveMentions } from "../state/mentions";
import {
  decodeMyReactions,
  hasMyReaction,
  reconcileCounts,
  withReaction,
  withServerReactions,
  type MyReactions,
} from "../state/my_reactions";
import { emptyPresence, nextTypingExpiry, presenceReducer, type PresenceAction, type PresenceState } from "../state/presence";
import type { KeyValueStore } from "../state/settings";
import {
  emptyTimeline,
  findMessage,
  hasSequence,
  lastSequence,
  oldestSequence,
  timelineReducer,
  type Echo,
  type TimelineAction,
  type TimelineState,
} from "../state/timeline";
import { TypingThrottle } from "../state/typing_throttle";

export const HISTORY_PAGE_SIZE = 50;

/** Error codes after which resending the same message cannot succeed. */
const PERMANENT_SEND_ERRORS = new Set(["invalid", "forbidden", "too_large", "not_found"]);

export type RoomApi = Pick<ApiClient, "messages" | "messagesAround" | "members" | "markRead" | "uploadFile" | "acknowledge">;

/** Why posting is disabled, in the current language. */
export const BLOCKED_TEXT = lazyTexts({ removed: "room.removed", notMember: "room.notMember" });

export interface IncomingInfo {
  /** Replayed after a reconnect rather than received live. */
  replay: boolean;
  mentionsMe: boolean;
}

export interface RoomSessionEvents {
  /** Someone else's new message arrived (not called for history pages). */
  onIncoming?(message: ChatMessage, info: IncomingInfo): void;
  onMention?(frame: MentionFrame): void;
  /** A message landed in this room (ours or not). */
  onActivity?(roomId: string, at: string, unread: boolean): void;
  /** The read marker is being moved to `sequence` (the newest message the user can see). */
  onRead?(roomId: string, sequence: number): void;
  /** The socket reached the server (its `connected` frame): the server is reachable again. */
  onConnected?(): void;
  /** The session is no longer valid: sign in again. */
  onUnauthorized?(): void;
  onRoomChanged?(patch: Partial<Room>): void;
}

export interface RoomSessionDeps {
  roomId: string;
  me: User;
  config: ClientConfig;
  api: RoomApi;
  outbox: OutboxStore;
  socketFactory: SocketFactory;
  socketUrl: (roomId: string, since: number) => string;
  clock: Clock;
  random: RandomSource;
  newClientId: () => string;
  storage: KeyValueStore;
  /** Whether the page is visible and focused right now. */
  isFocused: () => boolean;
  events?: RoomSessionEvents;
  /** The role from the room list, until the socket says otherwise. */
  initialRole?: Role | null;
  /** Open at this message: history is loaded around it and it is highlighted. */
  openAt?: number;
  /** Whether the browser believes it is online (navigator.onLine); offline, no connection is attempted. */
  isOnline?: () => boolean;
  /** Socket liveness settings (tests turn the heartbeat off or shorten it). */
  socketOptions?: Pick<RoomSocketOptions, "heartbeat" | "connectTimeoutMs" | "backoff">;
}

export class RoomSession {
  readonly timeline: Signal<TimelineState> = signal(emptyTimeline);
  readonly presence: Signal<PresenceState> = signal(emptyPresence);
  readonly connection: Signal<ConnectionStatus>;
  readonly role: Signal<Role | null>;
  readonly members: Signal<Member[]> = signal([]);
  readonly myReactions: Signal<MyReactions>;
  /** A short message for the user about the last thing that went wrong. */
  readonly notice: Signal<string | null> = signal(null);
  readonly loadingOlder: Signal<boolean> = signal(false);
  readonly historyError: Signal<string | null> = signal(null);
  /** The sequence number to scroll to and highlight (opened at a message), if any. */
  readonly highlight: Signal<number | null>;
  /** Why nothing can be posted here any more (the user was removed), or null. */
  readonly blockedReason: Signal<string | null> = signal(null);

  private readonly socket: RoomSocket;
  private readonly typing: TypingThrottle;
  private sentThisConnection = new Set<string>();
  private flushing = false;
  private flushAgain = false;
  private typingTimer: unknown = null;
  private retryFlushTimer: unknown = null;
  private membersTimer: unknown = null;
  private serverOffsetMs = 0;
  private lastReadSent = 0;
  private stopped = false;
  private readonly reactionsKey: string;

  constructor(private readonly deps: RoomSessionDeps) {
    this.role = signal(deps.initialRole ?? null);
    this.highlight = signal(deps.openAt ?? null);
    this.reactionsKey = `andon.my_reactions.${deps.me.user_id}`;
    this.myReactions = signal(decodeMyReactions(safeGet(deps.storage, this.reactionsKey)));
    this.socket = new RoomSocket({
      roomId: deps.roomId,
      factory: deps.socketFactory,
      clock: deps.clock,
      random: deps.random,
      urlFor: deps.socketUrl,
      prepare: () => (deps.openAt !== undefined ? this.loadAround(deps.openAt) : this.loadLatest()),
      onFrame: (frame, ctx) => this.handleFrame(frame, ctx),
      onStatus: (status) => this.handleStatus(status),
      ...(deps.isOnline ? { isOnline: deps.isOnline } : {}),
      ...deps.socketOptions,
    });
    this.connection = signal(this.socket.status);
    this.typing = new TypingThrottle(deps.config.typing_timeout * 1000, deps.clock, (isTyping) => {
      this.socket.send({ type: "typing", is_typing: isTyping });
    });
  }

  get roomId(): string {
    return this.deps.roomId;
  }

  get me(): User {
    return this.deps.me;
  }

  /** Loads queued messages as echoes, then history, then connects. */
  async start(): Promise<void> {
    try {
      const queued = await this.deps.outbox.list(this.deps.roomId, this.deps.me.user_id);
      for (const item of queued) {
        this.dispatch({ type: "echo_added", echo: this.echoFor(item.frame, item.queued_at, null) });
      }
    } catch {
      // An unreadable outbox must not keep the room from opening.
    }
    if (!this.stopped) this.socket.start();
    void this.refreshMembers();
  }

  stop(): void {
    this.stopped = true;
    this.typing.stop();
    this.socket.stop();
    for (const t of [this.typingTimer, this.retryFlushTimer, this.membersTimer]) {
      if (t !== null) this.deps.clock.clearTimeout(t);
    }
  }

  /** Skips the reconnect wait (the user asked, the page became visible). */
  retryNow(): void {
    this.socket.retryNow();
  }

  /** The browser went offline (drop the connection, queue what is written) or online (reconnect now). */
  networkChanged(online: boolean): void {
    this.socket.networkChanged(online);
  }

  /**
   * The user lost access (the socket closed with 4403, or the user stream said
   * `room_removed`): posting is disabled with the reason, and what was waiting to be sent
   * is shown as not sent, with that reason, and leaves the outbox (it can never go out).
   */
  markRemoved(reason: string = BLOCKED_TEXT.removed): void {
    if (this.blockedReason.value !== null) return;
    batch(() => {
      this.blockedReason.value = reason;
      this.dispatch({ type: "unsent_failed", error: reason });
    });
    this.typing.stop();
    this.socket.forbid();
    void this.deps.outbox
      .list(this.deps.roomId, this.deps.me.user_id)
      .then((items) => Promise.all(items.map((item) => this.deps.outbox.remove(item.client_id))))
      .catch(() => undefined);
  }

  /** Whether the message with this sequence number is in the loaded timeline. */
  hasSequence(sequence: number): boolean {
    return hasSequence(this.timeline.value, sequence);
  }

  /** Scrolls to and highlights a loaded message. */
  highlightAt(sequence: number): void {
    this.highlight.value = sequence;
  }

  // ------------------------------------------------------------ sending

  /** Queues a text message; mentions are the members whose @name is in the text. */
  async sendText(text: string, opts: { urgent?: boolean } = {}): Promise<void> {
    const content = text.trim();
    if (!content) return;
    const mentions = resolveMentions(content, this.members.value);
    const frame: OutgoingMessageFrame = {
      type: "message",
      content,
      message_type: "text",
      client_id: this.deps.newClientId(),
    };
    if (mentions.length > 0) frame.mentions = mentions;
    if (opts.urgent) frame.priority = "urgent";
    this.typing.onSending();
    try {
      await this.enqueue(frame, null);
    } finally {
      this.typing.onSendDone();
    }
  }

  /** Uploads the file first (needs the network), then queues the message that refers to it. */
  async sendFile(file: Blob, filename: string, caption: string, previewUrl: string | null): Promise<void> {
    const uploaded = await this.deps.api.uploadFile(this.deps.roomId, file, filename);
    const isImage = uploaded.content_type.startsWith("image/");
    const frame: OutgoingMessageFrame = {
      type: "message",
      content: caption.trim() || uploaded.filename || filename,
      message_type: isImage ? "image_ref" : "file_ref",
      file_id: uploaded.file_id,
      client_id: this.deps.newClientId(),
    };
    const info = { filename: uploaded.filename, content_type: uploaded.content_type, size: uploaded.size };
    await this.enqueue(frame, isImage ? previewUrl : null, info);
  }

  async sendIncidentData(data: Record<string, unknown>): Promise<void> {
    const frame: OutgoingMessageFrame = {
      type: "message",
      content: data,
      message_type: "incident_data",
      client_id: this.deps.newClientId(),
    };
    await this.enqueue(frame, null);
  }

  retryEcho(clientId: string): void {
    const echo = this.timeline.value.echoes.find((e) => e.client_id === clientId);
    if (!echo || this.blockedReason.value !== null) return;
    this.dispatch({ type: "echo_retry", client_id: clientId });
    void this.deps.outbox
      .put({
        client_id: clientId,
        room_id: this.deps.roomId,
        user_id: this.deps.me.user_id,
        frame: echo.frame,
        queued_at: echo.queued_at,
      })
      .then(() => this.flushOutbox());
  }

  discardEcho(clientId: string): void {
    this.dispatch({ type: "echo_discarded", client_id: clientId });
    void this.deps.outbox.remove(clientId);
  }

  editMessage(messageId: string, content: string): boolean {
    const text = content.trim();
    if (!text) return false;
    return this.sendLive({ type: "edit_message", message_id: messageId, content: text });
  }

  deleteMessage(messageId: string): boolean {
    return this.sendLive({ type: "delete_message", message_id: messageId });
  }

  /** Acknowledges an urgent message: over the socket when live, else by REST. */
  async acknowledge(messageId: string): Promise<void> {
    if (this.socket.isLive && this.socket.send({ type: "ack_urgent", message_id: messageId })) return;
    try {
      await this.deps.api.acknowledge(messageId);
    } catch {
      this.notice.value = t("room.ackFailed");
    }
  }

  /** Adds the reaction, or removes it when it is known to be mine. */
  toggleReaction(messageId: string, emoji: string): boolean {
    const mine = hasMyReaction(this.myReactions.value, messageId, emoji);
    const ok = this.sendLive({ type: mine ? "remove_reaction" : "add_reaction", message_id: messageId, emoji });
    if (ok) this.setMyReactions(withReaction(this.myReactions.value, messageId, emoji, !mine));
    return ok;
  }

  /** Call on every change of the draft. */
  draftChanged(draft: string): void {
    if (!this.socket.isLive) return;
    this.typing.onInput(draft);
  }

  /** The page's visibility or focus changed. */
  focusChanged(focused: boolean): void {
    this.socket.send({ type: "focus", focused });
    if (focused) this.markRead();
  }

  // ------------------------------------------------------------ reading

  async loadOlder(): Promise<void> {
    const state = this.timeline.value;
    const oldest = oldestSequence(state);
    if (this.loadingOlder.value || !state.hasMoreOlder || oldest === null) return;
    this.loadingOlder.value = true;
    try {
      const page = await this.deps.api.messages(this.deps.roomId, {
        limit: HISTORY_PAGE_SIZE,
        beforeSequence: oldest,
      });
      this.dispatch({ type: "history_page", messages: page.messages, hasMore: page.has_more, older: true });
      this.setMyReactions(withServerReactions(this.myReactions.value, page.messages));
      this.historyError.value = null;
    } catch (err) {
      this.historyError.value = t("room.olderFailed", { detail: errorText(err) });
    } finally {
      this.loadingOlder.value = false;
    }
  }

  /** Moves the server's read marker to the newest message when the user can see it. */
  markRead(): void {
    if (!this.deps.isFocused()) return;
    const last = lastSequence(this.timeline.value);
    if (last <= this.lastReadSent) return;
    this.lastReadSent = last;
    this.deps.events?.onRead?.(this.deps.roomId, last);
    this.deps.api.markRead(this.deps.roomId, last).catch(() => {
      // Next time the user looks, another attempt goes out.
      this.lastReadSent = Math.min(this.lastReadSent, last - 1);
    });
  }

  /** Whether I may still edit this message, by the server's clock. */
  canEdit(message: ChatMessage): boolean {
    if (message.sender_id !== this.deps.me.user_id || message.deleted_at || message.message_type === "system") return false;
    const created = Date.parse(message.created_at);
    const serverNow = this.deps.clock.now() + this.serverOffsetMs;
    return serverNow - created < this.deps.config.edit_window_seconds * 1000;
  }

  canDelete(message: ChatMessage): boolean {
    if (message.deleted_at || message.message_type === "system") return false;
    return message.sender_id === this.deps.me.user_id || this.role.value === "OWNER" || this.deps.me.is_admin;
  }

  get canWrite(): boolean {
    if (this.blockedReason.value !== null) return false;
    const role = this.role.value;
    return role === "OWNER" || role === "EDITOR" || (role === null && this.deps.me.is_admin);
  }

  displayName(userId: string): string {
    if (userId === this.deps.me.user_id) return this.deps.me.display_name;
    return (
      this.members.value.find((m) => m.user_id === userId)?.display_name ??
      this.presence.value.online.find((u) => u.user_id === userId)?.display_name ??
      // A sender who is no member, such as a webhook's bot: named by its messages.
      this.timeline.value.messages.find((m) => m.sender_id === userId && m.message_type !== "system")?.sender_display_name ??
      userId
    );
  }

  async refreshMembers(): Promise<void> {
    try {
      this.members.value = await this.deps.api.members(this.deps.roomId);
    } catch {
      // Autocomplete falls back to the online list; member management shows its own error.
    }
  }

  // ------------------------------------------------------------ internals

  private async loadLatest(): Promise<number> {
    const page = await this.loadFirstPage(() => this.deps.api.messages(this.deps.roomId, { limit: HISTORY_PAGE_SIZE }));
    return this.showFirstPage(page.messages, page.has_more);
  }

  /**
   * Opening at a message: the window around it becomes the timeline, and its newest number
   * the stream's starting point, so the socket's `since=` replay brings everything after it
   * (the server pages the replay) and the room ends up live as usual. Older pages load with
   * `before_sequence` as always.
   */
  private async loadAround(sequence: number): Promise<number> {
    const page = await this.loadFirstPage(() =>
      this.deps.api.messagesAround(this.deps.roomId, sequence, HISTORY_PAGE_SIZE),
    );
    if (page.messages.length === 0) return this.loadLatest(); // nothing there (yet): open as usual
    return this.showFirstPage(page.messages, page.has_more_before);
  }

  /** Fetches the page the timeline starts from; a failure is shown (a 401 signs out) and rethrown. */
  private async loadFirstPage<P>(load: () => Promise<P>): Promise<P> {
    try {
      return await load();
    } catch (err) {
      this.historyError.value =
        err instanceof NetworkError
          ? t("room.offlineHistory")
          : t("room.loadFailed", { detail: errorText(err) });
      if (isStatus(err, 401)) this.deps.events?.onUnauthorized?.();
      throw err;
    }
  }

  /** Shows the page the timeline starts from and returns its newest sequence number. */
  private showFirstPage(messages: ChatMessage[], hasMore: boolean): number {
    this.dispatch({ type: "history_page", messages, hasMore, older: false });
    this.setMyReactions(withServerReactions(this.myReactions.value, messages));
    this.historyError.value = null;
    // Queued messages the server already stored (the ack was lost before a reload) leave the queue.
    for (const m of messages) {
      if (m.sender_id === this.deps.me.user_id && m.client_id) void this.deps.outbox.remove(m.client_id);
    }
    return messages.reduce((max, m) => Math.max(max, m.sequence_number), 0);
  }

  private async enqueue(frame: OutgoingMessageFrame, previewUrl: string | null, file?: FileInfo): Promise<void> {
    if (this.blockedReason.value !== null) return;
    const queuedAt = this.deps.clock.now();
    const echo = this.echoFor(frame, queuedAt, previewUrl, file);
    try {
      await this.deps.outbox.put({
        client_id: frame.client_id,
        room_id: this.deps.roomId,
        user_id: this.deps.me.user_id,
        frame,
        queued_at: queuedAt,
      });
    } catch {
      // Without persistence the message still goes out if we are online now.
      this.dispatch({ type: "echo_added", echo });
      if (this.socket.isLive && this.socket.send(frame)) this.sentThisConnection.add(frame.client_id);
      return;
    }
    // The echo shows once the message is saved on this device: what the user sees as waiting
    // survives a reload or a closed tab (an IndexedDB write still pending at unload is lost).
    this.dispatch({ type: "echo_added", echo });
    await this.flushOutbox();
  }

  /** Sends every queued message not yet sent on this connection, oldest first. */
  private async flushOutbox(): Promise<void> {
    if (!this.socket.isLive) return;
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.flushAgain = false;
        const items = await this.deps.outbox.list(this.deps.roomId, this.deps.me.user_id);
        for (const item of items) {
          if (this.sentThisConnection.has(item.client_id)) continue;
          if (!this.socket.isLive || !this.socket.send(item.frame)) return;
          this.sentThisConnection.add(item.client_id);
        }
      } while (this.flushAgain);
    } catch {
      // The outbox could not be read; the next connect or send tries again.
    } finally {
      this.flushing = false;
    }
  }

  private sendLive(frame: ClientFrame): boolean {
    if (this.socket.isLive && this.socket.send(frame)) return true;
    this.notice.value = t("room.notConnected");
    return false;
  }

  private handleStatus(status: ConnectionStatus): void {
    this.connection.value = status;
    if (status.state === "closed" && status.closeReason === "unauthorized") this.deps.events?.onUnauthorized?.();
    if (status.state === "closed" && status.closeReason === "forbidden") {
      this.markRemoved(status.hasBeenLive ? BLOCKED_TEXT.removed : BLOCKED_TEXT.notMember);
    }
    if (status.state === "waiting" || status.state === "offline" || status.state === "closed") {
      // Without a connection we no longer know who is online or typing; `connected` resends it.
      this.applyPresence({ type: "reset" });
    }
    if (status.state === "waiting" || status.state === "offline") this.dispatch({ type: "echoes_waiting", waiting: true });
    if (status.state === "live") this.dispatch({ type: "echoes_waiting", waiting: false });
  }

  private handleFrame(frame: ServerFrame, ctx: FrameContext): void {
    switch (frame.type) {
      case "connected":
        this.sentThisConnection = new Set();
        this.serverOffsetMs = Date.parse(frame.server_time) - this.deps.clock.now() || 0;
        batch(() => {
          this.role.value = frame.role;
          this.applyPresence({ type: "online", online: frame.online, count: frame.online_count });
        });
        this.socket.send({ type: "focus", focused: this.deps.isFocused() });
        this.deps.events?.onConnected?.();
        return;
      case "sync_complete":
        this.serverOffsetMs = Date.parse(frame.server_time) - this.deps.clock.now() || this.serverOffsetMs;
        void this.flushOutbox();
        this.markRead();
        return;
      case "ack":
        if (frame.client_id) {
          this.dispatch({
            type: "ack",
            client_id: frame.client_id,
            message_id: frame.message_id,
            sequence_number: frame.sequence_number,
          });
          void this.deps.outbox.remove(frame.client_id);
        }
        return;
      case "message":
        this.receiveMessage(frame.message, ctx);
        return;
      case "message_edited":
        this.dispatch({ type: "message_edited", message: frame.message });
        return;
      case "message_deleted":
        this.dispatch({ type: "message_deleted", message_id: frame.message_id, deleted_at: frame.deleted_at });
        return;
      case "reaction_added":
      case "reaction_removed":
        this.dispatch({
          type: "reactions",
          message_id: frame.message_id,
          reactions: frame.reactions,
          change: { emoji: frame.emoji, user_id: frame.user_id, added: frame.type === "reaction_added" },
        });
        if (frame.user_id === this.deps.me.user_id) {
          this.setMyReactions(withReaction(this.myReactions.value, frame.message_id, frame.emoji, frame.type === "reaction_added"));
        } else {
          this.setMyReactions(reconcileCounts(this.myReactions.value, frame.message_id, frame.reactions));
        }
        return;
      case "system":
        if (frame.stored) {
          this.dispatch({ type: "system_stored", frame });
          this.deps.events?.onActivity?.(this.deps.roomId, frame.timestamp, false);
          if (frame.event.startsWith("member_")) this.scheduleMembersRefresh();
          if (frame.event === "member_role_changed" && frame.user_id === this.deps.me.user_id) {
            const role = frame.detail.role;
            if (role === "OWNER" || role === "EDITOR" || role === "VIEWER") this.role.value = role;
          }
          if (frame.event === "room_status_changed") {
            const status = frame.detail.new_status;
            if (status === "active" || status === "resolved" || status === "archived") {
              this.deps.events?.onRoomChanged?.({ status });
            }
          }
        } else {
          this.dispatch({ type: "notice", frame });
        }
        return;
      case "typing":
        if (frame.user_id === this.deps.me.user_id) return;
        this.applyPresence({
          type: "typing",
          user_id: frame.user_id,
          display_name: frame.display_name,
          is_typing: frame.is_typing,
          now: this.deps.clock.now(),
          timeoutMs: this.deps.config.typing_timeout * 1000,
        });
        return;
      case "presence":
        this.applyPresence({ type: "online", online: frame.online, count: frame.online_count });
        return;
      case "mention":
        this.deps.events?.onMention?.(frame);
        return;
      case "urgent_acknowledged":
        this.dispatch({
          type: "acknowledged",
          message_id: frame.message_id,
          ack: { user_id: frame.user_id, display_name: frame.display_name, at: frame.at },
        });
        return;
      case "urgent_page":
        // The app session alerts from the user stream, which carries every page of mine.
        return;
      case "error":
        this.handleError(frame);
        return;
    }
  }

  private receiveMessage(message: ChatMessage, ctx: FrameContext): void {
    this.dispatch({ type: "message", message });
    this.applyPresence({ type: "spoke", user_id: message.sender_id });
    const mine = message.sender_id === this.deps.me.user_id;
    if (mine && message.client_id) void this.deps.outbox.remove(message.client_id);
    const focused = this.deps.isFocused();
    this.deps.events?.onActivity?.(this.deps.roomId, message.created_at, !mine && !focused);
    if (!mine) {
      this.deps.events?.onIncoming?.(message, {
        replay: ctx.replay,
        mentionsMe: message.mentions.includes(this.deps.me.user_id),
      });
    }
    // Caught-up messages are marked read once, at `sync_complete`, not one request each.
    if (focused && !ctx.replay) this.markRead();
  }

  private handleError(frame: ErrorFrame): void {
    if (frame.client_id && this.timeline.value.echoes.some((e) => e.client_id === frame.client_id)) {
      const clientId = frame.client_id;
      if (frame.code === "rate_limited") {
        // Not stored: send it again a little later, with the same client_id.
        this.sentThisConnection.delete(clientId);
        this.scheduleFlushRetry();
        return;
      }
      if (PERMANENT_SEND_ERRORS.has(frame.code)) {
        this.dispatch({ type: "echo_failed", client_id: clientId, error: frame.message || frame.code });
        void this.deps.outbox.remove(clientId);
        return;
      }
    }
    this.notice.value = describeError(frame);
  }

  private scheduleFlushRetry(): void {
    if (this.retryFlushTimer !== null) return;
    this.retryFlushTimer = this.deps.clock.setTimeout(() => {
      this.retryFlushTimer = null;
      void this.flushOutbox();
    }, 1000);
  }

  private scheduleMembersRefresh(): void {
    if (this.membersTimer !== null) return;
    this.membersTimer = this.deps.clock.setTimeout(() => {
      this.membersTimer = null;
      void this.refreshMembers();
    }, 300);
  }

  private applyPresence(action: PresenceAction): void {
    this.presence.value = presenceReducer(this.presence.value, action);
    if (this.typingTimer !== null) {
      this.deps.clock.clearTimeout(this.typingTimer);
      this.typingTimer = null;
    }
    const next = nextTypingExpiry(this.presence.value);
    if (next !== null && !this.stopped) {
      this.typingTimer = this.deps.clock.setTimeout(() => {
        this.typingTimer = null;
        this.applyPresence({ type: "expire", now: this.deps.clock.now() });
      }, Math.max(0, next - this.deps.clock.now()));
    }
  }

  private dispatch(action: TimelineAction): void {
    this.timeline.value = timelineReducer(this.timeline.value, action);
  }

  private setMyReactions(next: MyReactions): void {
    if (next === this.myReactions.value) return;
    this.myReactions.value = next;
    try {
      this.deps.storage.setItem(this.reactionsKey, JSON.stringify(next));
    } catch {
      // Quota or private mode: remembered for this page only.
    }
  }

  private echoFor(frame: OutgoingMessageFrame, queuedAt: number, previewUrl: string | null, file?: FileInfo): Echo {
    return {
      ...(file ? { file } : {}),
      client_id: frame.client_id,
      frame,
      sender_id: this.deps.me.user_id,
      sender_display_name: this.deps.me.display_name,
      queued_at: queuedAt,
      status: this.connectionDown() ? "waiting" : "pending",
      error: null,
      message_id: null,
      sequence_number: null,
      preview_url: previewUrl,
    };
  }

  private connectionDown(): boolean {
    const state = this.connection?.value.state;
    return state === "waiting" || state === "offline";
  }

  /** For tests and views: the message with this id, if loaded. */
  message(messageId: string): ChatMessage | null {
    return findMessage(this.timeline.value, messageId);
  }
}

function describeError(frame: ErrorFrame): string {
  switch (frame.code) {
    case "edit_window_expired":
    case "rate_limited":
    case "too_large":
    case "not_found":
      return t(`room.errors.${frame.code}`);
    case "forbidden":
      return frame.message || t("room.errors.forbidden");
    default:
      return frame.message || t("common.error", { detail: frame.code });
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isStatus(err: unknown, status: number): boolean {
  return typeof err === "object" && err !== null && (err as { status?: unknown }).status === status;
}

function safeGet(store: KeyValueStore, key: string): string | null {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}
