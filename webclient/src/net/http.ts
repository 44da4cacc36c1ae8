/**
 * REST client for the Andon API. Paths are relative so one build works behind
 * any host; the HttpOnly session cookie authenticates every call (same origin),
 * so no token is ever held by script.
 */
import { DecodeError, decode, type Decoder } from "./decode";
import {
  DEFAULT_CONFIG,
  aroundPage,
  clientConfig,
  errorBody,
  incidentFields,
  incidentPoints,
  messageVersions,
  loginResponse,
  memberList,
  mentionsPage,
  messagePage,
  notificationPrefs,
  room,
  roomList,
  searchResults,
  uploadedFile,
  user,
  vapidKey,
  type AroundPage,
  type ClientConfig,
  type IncidentPoint,
  type Member,
  type MentionsPage,
  type MentionsPosition,
  type MessageContent,
  type MessagePage,
  type NotificationPrefs,
  type Role,
  type Room,
  type RoomStatus,
  type SearchHit,
  type UploadedFile,
  type User,
} from "./schemas";
import {
  createdWebhook,
  urgentSettings,
  webhookList,
  type CreatedWebhook,
  type UrgentSettings,
  type UrgentSettingsPatch,
  type Webhook,
  type WebhookSpec,
} from "./alert_schemas";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`HTTP ${status}: ${detail}`);
    this.name = "ApiError";
  }
}

/** The request never reached the server (offline, DNS, connection refused). */
export class NetworkError extends Error {
  constructor(cause: unknown) {
    super(`network error: ${String(cause)}`);
    this.name = "NetworkError";
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface SearchParams {
  q: string;
  room_id?: string;
  limit?: number;
  offset?: number;
}

export interface PushSubscriptionBody {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export class ApiClient {
  private readonly fetchImpl: FetchLike;

  constructor(fetchImpl?: FetchLike) {
    this.fetchImpl = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The signed-in user, or null when the session cookie is missing or no longer valid. */
  async me(): Promise<User | null> {
    try {
      return await this.get("/api/me", user);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return null;
      throw err;
    }
  }

  async login(email: string, password: string): Promise<User> {
    // The response also carries the token; it is deliberately dropped: the cookie set by
    // the same response is what authenticates from now on.
    const body = await this.send("POST", "/api/auth/login", { email, password }, loginResponse);
    return body.user;
  }

  async logout(): Promise<void> {
    await this.send("POST", "/api/auth/logout", undefined, null);
  }

  /** Display settings; the documented defaults when the endpoint is absent or fails. */
  async config(): Promise<ClientConfig> {
    try {
      return await this.get("/api/config", clientConfig);
    } catch {
      return { ...DEFAULT_CONFIG };
    }
  }

  async rooms(): Promise<Room[]> {
    return (await this.get("/api/rooms", roomList)).rooms;
  }

  async createRoom(title: string, description: string): Promise<Room> {
    const body: Record<string, string> = { title };
    if (description.trim()) body.description = description;
    return this.send("POST", "/api/rooms", body, room);
  }

  async room(roomId: string): Promise<Room> {
    return this.get(`/api/rooms/${enc(roomId)}`, room);
  }

  async updateRoom(
    roomId: string,
    patch: { status?: RoomStatus; title?: string; description?: string },
  ): Promise<Room> {
    return this.send("PATCH", `/api/rooms/${enc(roomId)}`, patch, room);
  }

  async members(roomId: string): Promise<Member[]> {
    return (await this.get(`/api/rooms/${enc(roomId)}/members`, memberList)).members;
  }

  async addMember(roomId: string, userId: string, role: Role): Promise<void> {
    await this.send("POST", `/api/rooms/${enc(roomId)}/members`, { user_id: userId, role }, null);
  }

  async changeMemberRole(roomId: string, userId: string, role: Role): Promise<void> {
    await this.send("PATCH", `/api/rooms/${enc(roomId)}/members/${enc(userId)}`, { role }, null);
  }

  async removeMember(roomId: string, userId: string): Promise<void> {
    await this.send("DELETE", `/api/rooms/${enc(roomId)}/members/${enc(userId)}`, undefined, null);
  }

  /** A page of history, newest first, strictly older than `beforeSequence` when given. */
  async messages(roomId: string, opts: { limit: number; beforeSequence?: number }): Promise<MessagePage> {
    const q = new URLSearchParams({ limit: String(opts.limit) });
    if (opts.beforeSequence !== undefined) q.set("before_sequence", String(opts.beforeSequence));
    return this.get(`/api/rooms/${enc(roomId)}/messages?${q}`, messagePage);
  }

  /** The message `sequence` with up to limit/2 messages either side, oldest first. */
  async messagesAround(roomId: string, sequence: number, limit: number): Promise<AroundPage> {
    const q = new URLSearchParams({ around_sequence: String(sequence), limit: String(limit) });
    return this.get(`/api/rooms/${enc(roomId)}/messages?${q}`, aroundPage);
  }

  /**
   * Messages that mention the caller, in every room, newest first. The next page is asked for
   * by `cursor` (the previous page's `next_cursor`) or, from a server without cursors, by
   * `before` (its `next_before`).
   */
  async mentions(opts: { limit: number; after?: MentionsPosition | null }): Promise<MentionsPage> {
    const q = new URLSearchParams({ limit: String(opts.limit) });
    if (opts.after) q.set(opts.after.by, opts.after.value);
    return this.get(`/api/mentions?${q}`, mentionsPage);
  }

  /** Acknowledges an urgent message (idempotent; docs/alerts.md). */
  async acknowledge(messageId: string): Promise<void> {
    return this.send("POST", `/api/messages/${enc(messageId)}/acknowledge`, {}, null);
  }

  /** The room's urgent-page schedule and the caller's opt-in (members). */
  async urgentSettings(roomId: string): Promise<UrgentSettings> {
    return this.get(`/api/rooms/${enc(roomId)}/urgent`, urgentSettings);
  }

  /** Changes the room's urgent-page schedule and escalation (OWNER, admin). */
  async updateUrgentSettings(roomId: string, patch: UrgentSettingsPatch): Promise<UrgentSettings> {
    return this.send("PATCH", `/api/rooms/${enc(roomId)}/urgent`, patch, urgentSettings);
  }

  /** The caller's opt-in to urgent messages of the room that mention nobody. */
  async setUrgentAlerts(roomId: string, alerts: boolean): Promise<UrgentSettings> {
    return this.send("PUT", `/api/rooms/${enc(roomId)}/urgent/alerts`, { alerts }, urgentSettings);
  }

  /** The room's incoming webhooks, without secrets (OWNER, admin). */
  async webhooks(roomId: string): Promise<Webhook[]> {
    return (await this.get(`/api/rooms/${enc(roomId)}/webhooks`, webhookList)).webhooks;
  }

  /** Creates a webhook; the answer's `url` holds the secret, which no later call returns. */
  async createWebhook(roomId: string, spec: WebhookSpec): Promise<CreatedWebhook> {
    return this.send("POST", `/api/rooms/${enc(roomId)}/webhooks`, spec, createdWebhook);
  }

  async revokeWebhook(roomId: string, webhookId: string): Promise<void> {
    await this.send("DELETE", `/api/rooms/${enc(roomId)}/webhooks/${enc(webhookId)}`, undefined, null);
  }

  async markRead(roomId: string, sequenceNumber: number): Promise<void> {
    await this.send("POST", `/api/rooms/${enc(roomId)}/read`, { sequence_number: sequenceNumber }, null);
  }

  async search(params: SearchParams): Promise<{ hits: SearchHit[]; total: number }> {
    const q = new URLSearchParams({ q: params.q });
    if (params.room_id) q.set("room_id", params.room_id);
    q.set("limit", String(params.limit ?? 20));
    q.set("offset", String(params.offset ?? 0));
    return this.get(`/api/search/messages?${q}`, searchResults);
  }

  async incidentData(roomId: string, field: string): Promise<IncidentPoint[]> {
    const q = new URLSearchParams({ field });
    return (await this.get(`/api/rooms/${enc(roomId)}/incident-data?${q}`, incidentPoints)).points;
  }

  /** Every version of a message, original first (the sender, the room's OWNER and admins may ask). */
  async messageVersions(roomId: string, messageId: string): Promise<{ content: MessageContent; at: string; by: string | null }[]> {
    return (await this.get(`/api/rooms/${enc(roomId)}/messages/${enc(messageId)}/history`, messageVersions)).versions;
  }

  /** The room's numeric incident-data fields with their latest units (an extension, README). */
  async incidentFields(roomId: string): Promise<{ field: string; count: number; unit: string | null }[]> {
    return (await this.get(`/api/rooms/${enc(roomId)}/incident-data/fields`, incidentFields)).fields;
  }

  async uploadFile(roomId: string, file: Blob, filename: string): Promise<UploadedFile> {
    const form = new FormData();
    form.append("file", file, filename);
    const res = await this.request(`/api/rooms/${enc(roomId)}/files`, { method: "POST", body: form });
    return this.read(res, uploadedFile);
  }

  async vapidPublicKey(): Promise<string> {
    return (await this.get("/api/push/vapid-public-key", vapidKey)).public_key;
  }

  async addPushSubscription(sub: PushSubscriptionBody): Promise<void> {
    await this.send("POST", "/api/push/subscriptions", sub, null);
  }

  async removePushSubscription(endpoint: string): Promise<void> {
    await this.send("DELETE", "/api/push/subscriptions", { endpoint }, null);
  }

  async notificationPrefs(): Promise<NotificationPrefs> {
    return this.get("/api/me/notifications", notificationPrefs);
  }

  async saveNotificationPrefs(prefs: NotificationPrefs): Promise<NotificationPrefs> {
    return this.send("PUT", "/api/me/notifications", prefs, notificationPrefs);
  }

  // ------------------------------------------------------------------ plumbing

  private async get<T>(path: string, decoder: Decoder<T>): Promise<T> {
    return this.read(await this.request(path, { method: "GET" }), decoder);
  }

  private async send<T>(method: string, path: string, body: unknown, decoder: Decoder<T>): Promise<T>;
  private async send(method: string, path: string, body: unknown, decoder: null): Promise<void>;
  private async send<T>(
    method: string,
    path: string,
    body: unknown,
    decoder: Decoder<T> | null,
  ): Promise<T | void> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "Content-Type": "application/json" };
    }
    const res = await this.request(path, init);
    if (decoder === null) {
      await this.ensureOk(res);
      return;
    }
    return this.read(res, decoder);
  }

  private async request(path: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(path, {
        ...init,
        credentials: "same-origin",
        headers: { Accept: "application/json", ...(init.headers as Record<string, string> | undefined) },
      });
    } catch (err) {
      throw new NetworkError(err);
    }
  }

  private async ensureOk(res: Response): Promise<void> {
    if (res.ok) return;
    let detail = res.statusText || "request failed";
    try {
      const body = decode(errorBody, await res.json());
      if (typeof body.detail === "string") detail = body.detail;
      else if (body.detail !== null) detail = JSON.stringify(body.detail);
    } catch {
      // A non-JSON error body (a proxy's HTML page) keeps the status text.
    }
    throw new ApiError(res.status, detail);
  }

  private async read<T>(res: Response, decoder: Decoder<T>): Promise<T> {
    await this.ensureOk(res);
    let raw: unknown;
    try {
      raw = await res.json();
    } catch (err) {
      throw new ApiError(res.status, `invalid JSON body: ${String(err)}`);
    }
    try {
      return decode(decoder, raw);
    } catch (err) {
      if (err instanceof DecodeError) throw new ApiError(res.status, `unexpected response: ${err.message}`);
      throw err;
    }
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

