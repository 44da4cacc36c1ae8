/**
 * Application state above a room: who is signed in, display settings, the room
 * list, local preferences, toasts and the one open room. While signed in it keeps the
 * user stream (`/ws`) open: its `connected` snapshot replaces the room list and its
 * frames keep it live, and its mentions alert on every page. No DOM: the browser pieces
 * (storage, sockets, alerts, focus, connectivity) are injected by main.tsx.
 */
import { intlLocale, t } from "../i18n";
import { batch, computed, signal, type ReadonlySignal, type Signal } from "@preact/signals";
import type { Clock, RandomSource } from "../net/clock";
import { ApiError, NetworkError, type ApiClient } from "../net/http";
import type { OutboxStore } from "../net/memory_outbox";
import {
  DEFAULT_CONFIG,
  type ChatMessage,
  type ClientConfig,
  type MentionFrame,
  type Room,
  type RoomActivityFrame,
  type RoomPreview,
  type UrgentPageFrame,
  type User,
  type UserServerFrame,
} from "../net/schemas";
import type { ConnectionStatus, LivenessOptions, SocketFactory } from "../net/managed_socket";
import { UserSocket } from "../net/user_socket";
import type { Connectivity, ConnectivityEvent } from "../platform/connectivity";
import {
  emptyRooms,
  roomsReducer,
  totalUnread,
  totalUnreadMentions,
  type RoomsAction,
  type RoomsState,
} from "../state/rooms";
import { loadSettings, saveSettings, type KeyValueStore, type LocalSettings } from "../state/settings";
import { isValidTimeZone, ZonedTimeFormatter } from "../state/time_format";
import { RoomSession } from "./room_session";

export interface AlertSink {
  newMessage(message: ChatMessage, roomTitle: string, ctx: { settings: LocalSettings; focused: boolean }): void;
  mention(frame: MentionFrame, ctx: { settings: LocalSettings; focused: boolean }): void;
  /** Someone else's new message in a room that is not open (from the user stream): sound and vibration. */
  activity(roomId: string, preview: RoomPreview, roomTitle: string, ctx: { settings: LocalSettings; focused: boolean }): void;
  clearRoom(roomId: string): Promise<void>;
  /** A round of an urgent page for me: sound and vibration (and a notification when not looked at). */
  urgent?(frame: UrgentPageFrame, ctx: { settings: LocalSettings; focused: boolean }): void;
}

export interface AppDeps {
  api: ApiClient;
  storage: KeyValueStore;
  openOutbox: () => Promise<OutboxStore>;
  socketFactory: SocketFactory;
  socketUrl: (roomId: string, since: number) => string;
  /** The user stream's URL (`ws(s)://host/ws`). */
  userSocketUrl: () => string;
  /** The browser's online/offline/visible events; without it the network is assumed up. */
  connectivity?: Connectivity;
  /** Liveness settings for both kinds of socket (tests shorten or disable the heartbeat). */
  socketOptions?: Pick<LivenessOptions, "heartbeat" | "connectTimeoutMs" | "backoff">;
  clock: Clock;
  random: RandomSource;
  newClientId: () => string;
  isFocused: () => boolean;
  alerts: AlertSink;
  /** Runs before the session is revoked (drop the push subscription while still signed in). */
  beforeSignOut?: () => Promise<void>;
}

export type AuthState = "loading" | "signed_out" | "signed_in";

export interface Toast {
  id: string;
  /** A mention of me (highlighted), or another new message (when alerts are on for every message). */
  kind: "mention" | "message";
  room_id: string;
  room_title: string;
  message_id: string;
  sequence_number: number;
  sender_display_name: string;
  preview: string;
}
/** @deprecated the toasts are not only for mentions any more; use Toast. */
export type MentionToast = Toast;

const USER_CACHE = "andon.last_user.v1";
const ROOMS_CACHE = "andon.rooms.v1";
const TOAST_MS = 15_000;
const MAX_TOASTS = 3;
/** How many alerted message ids are remembered to alert each message once (mention frames come twice). */
const ALERTED_MEMORY = 500;

const NOT_STARTED: ConnectionStatus = {
  state: "connecting",
  attempt: 0,
  retryAt: null,
  closeReason: null,
  lastCloseCode: null,
  hasBeenLive: false,
};

export class AppSession {
  readonly auth: Signal<AuthState> = signal("loading");
  readonly user: Signal<User | null> = signal(null);
  /** True when the server could not be reached and cached data is shown. */
  readonly offline: Signal<boolean> = signal(false);
  readonly config: Signal<ClientConfig> = signal({ ...DEFAULT_CONFIG });
  readonly formatter: ReadonlySignal<ZonedTimeFormatter>;
  readonly rooms: Signal<RoomsState> = signal(emptyRooms);
  readonly roomsError: Signal<string | null> = signal(null);
  readonly settings: Signal<LocalSettings>;
  readonly toasts: Signal<Toast[]> = signal([]);
  readonly room: Signal<RoomSession | null> = signal(null);
  /** The latest text for the polite aria-live region. */
  readonly announcement: Signal<string> = signal("");
  readonly unreadTotal: ReadonlySignal<number>;
  /** Unread mentions over all rooms (the user stream's `unread_mentions`, summed). */
  readonly unreadMentions: ReadonlySignal<number>;
  /** The user stream's connection. */
  readonly userStream: Signal<ConnectionStatus> = signal(NOT_STARTED);
  /** Urgent pages for me not acknowledged yet (the latest round of each), oldest first. */
  readonly urgentPages: Signal<UrgentPageFrame[]> = signal([]);

  private outbox: Promise<OutboxStore> | null = null;
  private recovering = false;
  private userSocket: UserSocket | null = null;
  private stopConnectivity: (() => void) | null = null;
  /** Where this client has moved each room's read marker (newer than what the server may have said). */
  private readonly readMarks = new Map<string, number>();
  /** Message ids already alerted, oldest first (a mention arrives on the room socket and the user stream). */
  private readonly alerted = new Set<string>();
  /** Bumped by every snapshot, so a REST room list that started before one is not applied over it. */
  private snapshots = 0;

  constructor(private readonly deps: AppDeps) {
    this.settings = signal(loadSettings(deps.storage));
    this.formatter = computed(() => {
      const zone = this.config.value.display_timezone;
      // Reading the language here makes a switch rebuild the formatter: long dates follow it.
      return new ZonedTimeFormatter(isValidTimeZone(zone) ? zone : DEFAULT_CONFIG.display_timezone, intlLocale());
    });
    this.unreadTotal = computed(() => totalUnread(this.rooms.value));
    this.unreadMentions = computed(() => totalUnreadMentions(this.rooms.value));
  }

  get api(): ApiClient {
    return this.deps.api;
  }

  /** On page load: settings and the current user, from the server or (offline) the last known. */
  async init(): Promise<void> {
    const [config, me] = await Promise.all([
      this.deps.api.config(),
      this.deps.api.me().then(
        (user) => ({ user, reachable: true }),
        (err: unknown) => ({ user: null, reachable: !(err instanceof NetworkError) }),
      ),
    ]);
    this.config.value = config;
    if (me.user) {
      this.signedIn(me.user);
      await this.loadRooms();
      return;
    }
    const cached = me.reachable ? null : this.cachedUser();
    if (cached) {
      // Offline with a session we used before: show what we know; the outbox still works.
      batch(() => {
        this.offline.value = true;
        this.signedIn(cached);
        this.rooms.value = roomsReducer(emptyRooms, { type: "loaded", rooms: this.cachedRooms() });
      });
      return;
    }
    this.auth.value = "signed_out";
  }

  async signIn(email: string, password: string): Promise<void> {
    const user = await this.deps.api.login(email.trim(), password);
    this.signedIn(user);
    this.config.value = await this.deps.api.config();
    await this.loadRooms();
  }

  async signOut(): Promise<void> {
    try {
      await this.deps.beforeSignOut?.();
    } catch {
      // The subscription is dropped server-side when the push service reports it gone.
    }
    try {
      await this.deps.api.logout();
    } finally {
      this.signedOut();
    }
  }

  /** The server said 401 somewhere: forget the user. */
  signedOut(): void {
    this.closeRoom();
    this.stopUserStream();
    this.readMarks.clear();
    this.alerted.clear();
    batch(() => {
      this.user.value = null;
      this.auth.value = "signed_out";
      this.rooms.value = emptyRooms;
      this.toasts.value = [];
    });
    for (const key of [USER_CACHE, ROOMS_CACHE]) {
      try {
        this.deps.storage.removeItem(key);
      } catch {
        // Nothing cached, or storage unavailable.
      }
    }
  }

  /**
   * The server answers again after the app started offline (from the cached user and rooms):
   * confirm the session and refresh the settings and the room list, which ends offline mode.
   */
  async backOnline(): Promise<void> {
    if (!this.offline.value || this.recovering) return;
    this.recovering = true;
    try {
      const [config, user] = await Promise.all([this.deps.api.config(), this.deps.api.me()]);
      if (!user) return this.signedOut(); // the session ended while we were away
      this.config.value = config;
      this.signedIn(user);
      await this.loadRooms();
    } catch {
      // Still unreachable: the next connection or `online` event tries again.
    } finally {
      this.recovering = false;
    }
  }

  async loadRooms(): Promise<void> {
    const snapshotsBefore = this.snapshots;
    try {
      const rooms = await this.deps.api.rooms();
      // The user stream's snapshot is newer than a list requested before it: keep it.
      if (this.snapshots !== snapshotsBefore) {
        batch(() => {
          this.offline.value = false;
          this.roomsError.value = null;
        });
        return;
      }
      batch(() => {
        this.offline.value = false;
        this.roomsError.value = null;
        this.dispatchRooms({ type: "loaded", rooms });
      });
      this.store(ROOMS_CACHE, rooms);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.signedOut();
      if (err instanceof NetworkError) this.offline.value = true;
      this.roomsError.value = t("rooms.loadFailed", { detail: err instanceof Error ? err.message : String(err) });
    }
  }

  /** The room list page opened: with the user stream live the list is current already. */
  async refreshRooms(): Promise<void> {
    if (this.userStream.value.state === "live") return;
    await this.loadRooms();
  }

  async createRoom(title: string, description: string): Promise<Room> {
    const room = await this.deps.api.createRoom(title.trim(), description.trim());
    this.dispatchRooms({ type: "upserted", room });
    return room;
  }

  async updateRoom(roomId: string, patch: { status?: Room["status"]; title?: string; description?: string }): Promise<void> {
    const room = await this.deps.api.updateRoom(roomId, patch);
    const known = this.findRoom(roomId);
    this.dispatchRooms({ type: "upserted", room: { ...room, unread_count: known?.unread_count ?? room.unread_count } });
  }

  findRoom(roomId: string): Room | null {
    return this.rooms.value.rooms.find((r) => r.room_id === roomId) ?? null;
  }

  /**
   * Opens a room (closing the previous one) and returns its session. With `at`, the room
   * opens at that message (history around it, highlighted); when the open room already
   * has it loaded, it only scrolls there.
   */
  openRoom(roomId: string, opts: { at?: number } = {}): RoomSession | null {
    const user = this.user.value;
    if (!user) return null;
    const current = this.room.value;
    if (current && current.roomId === roomId) {
      if (opts.at === undefined) return current;
      if (current.hasSequence(opts.at)) {
        current.highlightAt(opts.at);
        return current;
      }
    }
    this.closeRoom();
    const session = new RoomSession({
      roomId,
      me: user,
      config: this.config.value,
      api: this.deps.api,
      outbox: lazyOutbox(() => this.getOutbox()),
      socketFactory: this.deps.socketFactory,
      socketUrl: this.deps.socketUrl,
      clock: this.deps.clock,
      random: this.deps.random,
      newClientId: this.deps.newClientId,
      storage: this.deps.storage,
      isFocused: this.deps.isFocused,
      initialRole: this.findRoom(roomId)?.role ?? null,
      ...(opts.at !== undefined ? { openAt: opts.at } : {}),
      ...(this.deps.connectivity ? { isOnline: () => this.deps.connectivity!.isOnline() } : {}),
      ...(this.deps.socketOptions ? { socketOptions: this.deps.socketOptions } : {}),
      events: {
        onIncoming: (message, info) => this.onIncoming(message, info.replay, info.mentionsMe),
        onMention: (frame) => this.onMention(frame),
        onActivity: (id, at, unread) => {
          // With the user stream up, its room_activity is the truth; counting here too would double.
          if (!this.userStreamLive) this.dispatchRooms({ type: "activity", room_id: id, at, unread });
        },
        onRead: (id, sequence) => {
          this.readMarks.set(id, Math.max(sequence, this.readMarks.get(id) ?? 0));
          this.dispatchRooms({ type: "read", room_id: id });
          void this.deps.alerts.clearRoom(id).catch(() => undefined);
        },
        onConnected: () => {
          // The server answers again: the user stream need not sit out its backoff wait.
          this.userSocket?.retryNow();
          void this.backOnline();
        },
        onUnauthorized: () => this.signedOut(),
        onRoomChanged: (patch) => {
          const room = this.findRoom(roomId);
          if (room) this.dispatchRooms({ type: "upserted", room: { ...room, ...patch } });
        },
      },
    });
    this.room.value = session;
    void session.start();
    return session;
  }

  closeRoom(): void {
    const current = this.room.value;
    if (!current) return;
    current.stop();
    this.room.value = null;
  }

  updateSettings(patch: Partial<LocalSettings>): void {
    const next = { ...this.settings.value, ...patch };
    this.settings.value = next;
    saveSettings(this.deps.storage, next);
  }

  dismissToast(id: string): void {
    this.toasts.value = this.toasts.value.filter((t) => t.id !== id);
  }

  /** The page became visible or focused (or stopped being so). */
  focusChanged(focused: boolean): void {
    this.room.value?.focusChanged(focused);
  }

  /** "Retry now", the page becoming visible: skip every reconnect wait. */
  retryNow(): void {
    this.userSocket?.retryNow();
    this.room.value?.retryNow();
    void this.backOnline();
  }

  /** The browser's connectivity events (main.tsx routes them here through `deps.connectivity`). */
  connectivityChanged(event: ConnectivityEvent): void {
    if (event === "visible") return this.retryNow();
    const online = event === "online";
    this.userSocket?.networkChanged(online);
    this.room.value?.networkChanged(online);
    if (online) void this.backOnline();
  }

  private get userStreamLive(): boolean {
    return this.userStream.value.state === "live";
  }

  private startUserStream(): void {
    if (this.userSocket) return;
    const connectivity = this.deps.connectivity;
    const socket = new UserSocket({
      factory: this.deps.socketFactory,
      clock: this.deps.clock,
      random: this.deps.random,
      url: this.deps.userSocketUrl,
      onFrame: (frame, ctx) => this.onUserFrame(frame, ctx.snapshot),
      onStatus: (status) => {
        this.userStream.value = status;
        if (status.state === "closed" && status.closeReason === "unauthorized") this.signedOut();
      },
      ...(connectivity ? { isOnline: () => connectivity.isOnline() } : {}),
      ...this.deps.socketOptions,
    });
    this.userSocket = socket;
    if (connectivity && !this.stopConnectivity) {
      this.stopConnectivity = connectivity.subscribe((event) => this.connectivityChanged(event));
    }
    socket.start();
  }

  private stopUserStream(): void {
    const socket = this.userSocket;
    this.userSocket = null;
    socket?.stop();
    this.stopConnectivity?.();
    this.stopConnectivity = null;
    this.userStream.value = NOT_STARTED;
  }

  private onUserFrame(frame: UserServerFrame, snapshot: boolean): void {
    const now = new Date(this.deps.clock.now()).toISOString();
    switch (frame.type) {
      case "connected":
        this.snapshots += 1;
        batch(() => {
          this.roomsError.value = null;
          this.dispatchRooms({ type: "snapshot", rooms: frame.rooms, at: frame.server_time || now });
        });
        this.store(ROOMS_CACHE, this.rooms.value.rooms);
        // The server answers again: the open room need not sit out its backoff wait (after a
        // restart both sockets are back as soon as either is, well within the 3 s promised).
        this.room.value?.retryNow();
        void this.backOnline();
        return;
      case "room_activity": {
        const before = this.findRoom(frame.room_id);
        this.dispatchRooms({ type: "room_activity", activity: frame, readUpTo: this.readUpTo(frame.room_id, frame.last_sequence_number) });
        if (!snapshot) this.maybeAlertActivity(before, frame);
        return;
      }
      case "mention":
        this.onMention(frame);
        return;
      case "room_added":
        this.dispatchRooms({ type: "room_added", room: frame.room, at: now });
        return;
      case "room_removed": {
        this.dispatchRooms({ type: "removed", room_id: frame.room_id });
        this.readMarks.delete(frame.room_id);
        const open = this.room.value;
        // An admin may read any room without being a member; everyone else has lost it.
        if (open && open.roomId === frame.room_id && !this.user.value?.is_admin) open.markRemoved();
        return;
      }
      case "room_status_changed":
        this.dispatchRooms({ type: "status_changed", room_id: frame.room_id, status: frame.status });
        return;
      case "role_changed": {
        this.dispatchRooms({ type: "role_changed", room_id: frame.room_id, role: frame.role });
        const open = this.room.value;
        if (open && open.roomId === frame.room_id) open.role.value = frame.role;
        return;
      }
      case "urgent_page":
        this.onUrgentPage(frame);
        return;
      case "urgent_acknowledged":
        if (frame.user_id === this.user.value?.user_id) this.dropUrgent(frame.message_id);
        return;
      case "pong":
      case "error":
        return;
    }
  }

  /** A round of an urgent page for me: the banner shows it until I acknowledge, and it rings. */
  private onUrgentPage(frame: UrgentPageFrame): void {
    const others = this.urgentPages.value.filter((p) => p.message_id !== frame.message_id);
    this.urgentPages.value = [...others, frame];
    this.announcement.value = t("urgent.announce", { sender: frame.sender_display_name, room: frame.room_title, preview: frame.preview });
    this.deps.alerts.urgent?.(frame, { settings: this.settings.value, focused: this.deps.isFocused() });
  }

  private dropUrgent(messageId: string): void {
    if (this.urgentPages.value.some((p) => p.message_id === messageId)) {
      this.urgentPages.value = this.urgentPages.value.filter((p) => p.message_id !== messageId);
    }
  }

  /** Acknowledges an urgent page from the banner (REST; the room shows it from the broadcast). */
  async acknowledgeUrgent(messageId: string): Promise<void> {
    await this.deps.api.acknowledge(messageId);
    this.dropUrgent(messageId);
  }

  /** Hides an urgent banner without acknowledging (it comes back with the next round). */
  dismissUrgent(messageId: string): void {
    this.dropUrgent(messageId);
  }

  /**
   * How far the user has read a room, as this client knows it: the marker it sent, and for
   * the open room being looked at, everything (its session marks each message read as it
   * arrives, and the server's next room_activity will say unread 0).
   */
  private readUpTo(roomId: string, last: number): number | null {
    let mark = this.readMarks.get(roomId) ?? null;
    const open = this.room.value;
    if (open && open.roomId === roomId && open.connection.value.state === "live" && this.deps.isFocused()) {
      mark = Math.max(mark ?? 0, last);
    }
    return mark;
  }

  /**
   * A live room_activity about someone else's new message, in a room whose own socket is not
   * alerting for it (not the open one), alerts when the user wants every message. Mentions
   * alert through their own frame; edits, deletions and read-marker moves change no preview id.
   */
  private maybeAlertActivity(before: Room | null, frame: RoomActivityFrame): void {
    const p = frame.preview;
    const me = this.user.value?.user_id;
    if (!before || !p || !me || this.settings.value.alertFor !== "all") return;
    if (p.sender_id === me || p.message_type === "system") return;
    if (before.preview?.message_id === p.message_id) return;
    if (frame.last_sequence_number <= (before.last_sequence_number ?? 0)) return;
    if (frame.unread_count === 0 || frame.unread_mentions > before.unread_mentions) return;
    const open = this.room.value;
    if (open && open.roomId === frame.room_id && open.connection.value.state === "live") return;
    if (!this.firstAlert(p.message_id)) return;
    const title = before.title;
    this.showToast({
      id: `${frame.room_id}:${p.message_id}`,
      kind: "message",
      room_id: frame.room_id,
      room_title: title,
      message_id: p.message_id,
      sequence_number: frame.last_sequence_number,
      sender_display_name: p.sender_display_name,
      preview: p.content,
    });
    this.announcement.value = t("announce.inRoom", { sender: p.sender_display_name, room: title, text: p.content });
    this.deps.alerts.activity(frame.room_id, p, title, { settings: this.settings.value, focused: this.deps.isFocused() });
  }

  /** True the first time a message id is seen here; remembers a bounded number of them. */
  private firstAlert(messageId: string): boolean {
    if (this.alerted.has(messageId)) return false;
    this.alerted.add(messageId);
    if (this.alerted.size > ALERTED_MEMORY) {
      const oldest = this.alerted.values().next().value;
      if (oldest !== undefined) this.alerted.delete(oldest);
    }
    return true;
  }

  private onIncoming(message: ChatMessage, replay: boolean, mentionsMe: boolean): void {
    const title = this.findRoom(message.room_id)?.title ?? "Andon";
    if (!replay) {
      const what = message.deleted_at ? t("preview.deleted") : previewText(message);
      this.announcement.value = t("announce.message", { sender: message.sender_display_name, text: what });
    }
    // A mention of me alerts through its own `mention` frame, once.
    if (mentionsMe) return;
    if (this.settings.value.alertFor !== "all") return;
    if (!this.firstAlert(message.message_id)) return;
    this.deps.alerts.newMessage(message, title, { settings: this.settings.value, focused: this.deps.isFocused() });
  }

  /** A mention of me, from the open room's socket or the user stream: alerts once per message. */
  private onMention(frame: MentionFrame): void {
    if (!this.firstAlert(frame.message_id)) return;
    const toast: Toast = {
      id: `${frame.room_id}:${frame.message_id}`,
      kind: "mention",
      room_id: frame.room_id,
      room_title: frame.room_title || this.findRoom(frame.room_id)?.title || t("room.fallbackTitle"),
      message_id: frame.message_id,
      sequence_number: frame.sequence_number,
      sender_display_name: frame.sender_display_name,
      preview: frame.preview,
    };
    this.showToast(toast);
    this.announcement.value = t("announce.mentioned", { sender: toast.sender_display_name, room: toast.room_title, text: toast.preview });
    if (frame.room_id !== this.room.value?.roomId && !this.userStreamLive) {
      this.dispatchRooms({ type: "activity", room_id: frame.room_id, at: new Date(this.deps.clock.now()).toISOString(), unread: true });
    }
    this.deps.alerts.mention(frame, { settings: this.settings.value, focused: this.deps.isFocused() });
  }

  private showToast(toast: Toast): void {
    if (this.toasts.value.some((t) => t.id === toast.id)) return;
    this.toasts.value = [...this.toasts.value, toast].slice(-MAX_TOASTS);
    this.deps.clock.setTimeout(() => this.dismissToast(toast.id), TOAST_MS);
  }

  private signedIn(user: User): void {
    batch(() => {
      this.user.value = user;
      this.auth.value = "signed_in";
    });
    this.store(USER_CACHE, user);
    this.startUserStream();
  }

  private dispatchRooms(action: RoomsAction): void {
    this.rooms.value = roomsReducer(this.rooms.value, action);
  }

  private getOutbox(): Promise<OutboxStore> {
    this.outbox ??= this.deps.openOutbox();
    return this.outbox;
  }

  private cachedUser(): User | null {
    const raw = this.read(USER_CACHE);
    if (!raw || typeof raw !== "object") return null;
    const u = raw as Partial<User>;
    return typeof u.user_id === "string" && typeof u.display_name === "string"
      ? { user_id: u.user_id, display_name: u.display_name, is_admin: u.is_admin === true }
      : null;
  }

  private cachedRooms(): Room[] {
    const raw = this.read(ROOMS_CACHE);
    return Array.isArray(raw) ? (raw as Room[]) : [];
  }

  private read(key: string): unknown {
    try {
      const raw = this.deps.storage.getItem(key);
      return raw ? (JSON.parse(raw) as unknown) : null;
    } catch {
      return null;
    }
  }

  private store(key: string, value: unknown): void {
    try {
      this.deps.storage.setItem(key, JSON.stringify(value));
    } catch {
      // Storage full or disabled: only the offline fallback is lost.
    }
  }
}

function previewText(message: ChatMessage): string {
  if (message.message_type === "image_ref") return t("preview.imageNoCaption");
  if (message.message_type === "file_ref") return t("preview.fileNoCaption");
  if (message.message_type === "incident_data") return t("preview.incident");
  return typeof message.content === "string" ? message.content.slice(0, 140) : "";
}

/** An outbox whose IndexedDB is opened on first use. */
function lazyOutbox(get: () => Promise<OutboxStore>): OutboxStore {
  return {
    put: async (item) => (await get()).put(item),
    list: async (room, user) => (await get()).list(room, user),
    remove: async (id) => (await get()).remove(id),
  };
}
