/**
 * Application state above a room: who is signed in, display settings, the room
 * list, local preferences, mention toasts and the one open room. No DOM: the
 * browser pieces (storage, sockets, alerts, focus) are injected by main.tsx.
 */
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
  type User,
} from "../net/schemas";
import type { SocketFactory } from "../net/socket";
import { emptyRooms, roomsReducer, totalUnread, type RoomsAction, type RoomsState } from "../state/rooms";
import { loadSettings, saveSettings, type KeyValueStore, type LocalSettings } from "../state/settings";
import { isValidTimeZone, ZonedTimeFormatter } from "../state/time_format";
import { RoomSession } from "./room_session";

export interface AlertSink {
  newMessage(message: ChatMessage, roomTitle: string, ctx: { settings: LocalSettings; focused: boolean }): void;
  mention(frame: MentionFrame, ctx: { settings: LocalSettings; focused: boolean }): void;
  clearRoom(roomId: string): Promise<void>;
}

export interface AppDeps {
  api: ApiClient;
  storage: KeyValueStore;
  openOutbox: () => Promise<OutboxStore>;
  socketFactory: SocketFactory;
  socketUrl: (roomId: string, since: number) => string;
  clock: Clock;
  random: RandomSource;
  newClientId: () => string;
  isFocused: () => boolean;
  alerts: AlertSink;
  /** Runs before the session is revoked (drop the push subscription while still signed in). */
  beforeSignOut?: () => Promise<void>;
}

export type AuthState = "loading" | "signed_out" | "signed_in";

export interface MentionToast {
  id: string;
  room_id: string;
  room_title: string;
  sender_display_name: string;
  preview: string;
}

const USER_CACHE = "andon.last_user.v1";
const ROOMS_CACHE = "andon.rooms.v1";
const TOAST_MS = 15_000;
const MAX_TOASTS = 3;

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
  readonly toasts: Signal<MentionToast[]> = signal([]);
  readonly room: Signal<RoomSession | null> = signal(null);
  /** The latest text for the polite aria-live region. */
  readonly announcement: Signal<string> = signal("");
  readonly unreadTotal: ReadonlySignal<number>;

  private outbox: Promise<OutboxStore> | null = null;
  private recovering = false;

  constructor(private readonly deps: AppDeps) {
    this.settings = signal(loadSettings(deps.storage));
    this.formatter = computed(() => {
      const zone = this.config.value.display_timezone;
      return new ZonedTimeFormatter(isValidTimeZone(zone) ? zone : DEFAULT_CONFIG.display_timezone);
    });
    this.unreadTotal = computed(() => totalUnread(this.rooms.value));
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
    try {
      const rooms = await this.deps.api.rooms();
      batch(() => {
        this.offline.value = false;
        this.roomsError.value = null;
        this.dispatchRooms({ type: "loaded", rooms });
      });
      this.store(ROOMS_CACHE, rooms);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.signedOut();
      if (err instanceof NetworkError) this.offline.value = true;
      this.roomsError.value = `Could not load rooms: ${err instanceof Error ? err.message : String(err)}`;
    }
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

  /** Opens a room (closing the previous one) and returns its session. */
  openRoom(roomId: string): RoomSession | null {
    const user = this.user.value;
    if (!user) return null;
    const current = this.room.value;
    if (current && current.roomId === roomId) return current;
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
      events: {
        onIncoming: (message, info) => this.onIncoming(message, info.replay, info.mentionsMe),
        onMention: (frame) => this.onMention(frame),
        onActivity: (id, at, unread) => this.dispatchRooms({ type: "activity", room_id: id, at, unread }),
        onRead: (id) => {
          this.dispatchRooms({ type: "read", room_id: id });
          void this.deps.alerts.clearRoom(id).catch(() => undefined);
        },
        onConnected: () => void this.backOnline(),
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

  private onIncoming(message: ChatMessage, replay: boolean, mentionsMe: boolean): void {
    const title = this.findRoom(message.room_id)?.title ?? "Andon";
    if (!replay) {
      const what = message.deleted_at ? "a message" : previewText(message);
      this.announcement.value = `${message.sender_display_name}: ${what}`;
    }
    // A mention of me alerts through its own `mention` frame, once.
    if (mentionsMe) return;
    this.deps.alerts.newMessage(message, title, { settings: this.settings.value, focused: this.deps.isFocused() });
  }

  private onMention(frame: MentionFrame): void {
    const toast: MentionToast = {
      id: `${frame.room_id}:${frame.message_id}`,
      room_id: frame.room_id,
      room_title: frame.room_title || this.findRoom(frame.room_id)?.title || "a room",
      sender_display_name: frame.sender_display_name,
      preview: frame.preview,
    };
    if (this.toasts.value.some((t) => t.id === toast.id)) return;
    batch(() => {
      this.toasts.value = [...this.toasts.value, toast].slice(-MAX_TOASTS);
      this.announcement.value = `${toast.sender_display_name} mentioned you in ${toast.room_title}: ${toast.preview}`;
    });
    if (frame.room_id !== this.room.value?.roomId) {
      this.dispatchRooms({ type: "activity", room_id: frame.room_id, at: new Date(this.deps.clock.now()).toISOString(), unread: true });
    }
    this.deps.alerts.mention(frame, { settings: this.settings.value, focused: this.deps.isFocused() });
    this.deps.clock.setTimeout(() => this.dismissToast(toast.id), TOAST_MS);
  }

  private signedIn(user: User): void {
    batch(() => {
      this.user.value = user;
      this.auth.value = "signed_in";
    });
    this.store(USER_CACHE, user);
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
  if (message.message_type === "image_ref") return "sent an image";
  if (message.message_type === "file_ref") return "sent a file";
  if (message.message_type === "incident_data") return "posted incident data";
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
