/**
 * Messages waiting to be sent, kept in IndexedDB so they survive going offline,
 * a reload or a crash of the tab. An item stays until the server acknowledges its
 * client_id (or refuses it for good); resending keeps the same client_id, and the
 * server's per-sender dedupe makes a resend after a lost ack harmless.
 */
import type { OutgoingMessageFrame } from "./schemas";

export interface OutboxItem {
  client_id: string;
  room_id: string;
  user_id: string;
  frame: OutgoingMessageFrame;
  /** Epoch milliseconds when the user sent it (for the echo's timestamp). */
  queued_at: number;
}

interface StoredItem extends OutboxItem {
  order?: number;
}

const STORE = "outbox";
const DB_VERSION = 1;

export class Outbox {
  private constructor(private readonly db: IDBDatabase) {}

  static open(factory: IDBFactory, name = "andon-outbox"): Promise<Outbox> {
    return new Promise((resolve, reject) => {
      const req = factory.open(name, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains(STORE)) {
          // The auto-incremented key keeps insertion order, which is send order.
          const store = db.createObjectStore(STORE, { keyPath: "order", autoIncrement: true });
          store.createIndex("client_id", "client_id", { unique: true });
          store.createIndex("room_id", "room_id", { unique: false });
        }
      };
      req.onsuccess = () => resolve(new Outbox(req.result));
      req.onerror = () => reject(req.error ?? new Error("cannot open outbox"));
      req.onblocked = () => reject(new Error("outbox database is blocked by another tab"));
    });
  }

  /** Queues an item; queuing the same client_id again keeps the first (and its place). */
  async put(item: OutboxItem): Promise<void> {
    await this.tx("readwrite", async (store) => {
      const existing = await request(store.index("client_id").getKey(item.client_id));
      if (existing !== undefined) return;
      const stored: StoredItem = { ...item };
      await request(store.add(stored));
    });
  }

  /** The room's queued items for this user, oldest first. */
  async list(roomId: string, userId: string): Promise<OutboxItem[]> {
    return this.tx("readonly", async (store) => {
      const all = (await request(store.index("room_id").getAll(roomId))) as StoredItem[];
      return all
        .filter((item) => item.user_id === userId)
        .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
        .map(strip);
    });
  }

  async get(clientId: string): Promise<OutboxItem | null> {
    return this.tx("readonly", async (store) => {
      const item = (await request(store.index("client_id").get(clientId))) as StoredItem | undefined;
      return item ? strip(item) : null;
    });
  }

  /** Removes the item; true when it was there. */
  async remove(clientId: string): Promise<boolean> {
    return this.tx("readwrite", async (store) => {
      const key = await request(store.index("client_id").getKey(clientId));
      if (key === undefined) return false;
      await request(store.delete(key));
      return true;
    });
  }

  async count(): Promise<number> {
    return this.tx("readonly", (store) => request(store.count()));
  }

  close(): void {
    this.db.close();
  }

  private tx<T>(mode: IDBTransactionMode, body: (store: IDBObjectStore) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const tx = this.db.transaction(STORE, mode);
      let result: T;
      body(tx.objectStore(STORE)).then(
        (value) => {
          result = value;
        },
        (err: unknown) => {
          try {
            tx.abort();
          } catch {
            // The transaction may already have finished.
          }
          reject(err);
        },
      );
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error ?? new Error("outbox transaction failed"));
      tx.onabort = () => reject(tx.error ?? new Error("outbox transaction aborted"));
    });
  }
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
  });
}

function strip(item: StoredItem): OutboxItem {
  return {
    client_id: item.client_id,
    room_id: item.room_id,
    user_id: item.user_id,
    frame: item.frame,
    queued_at: item.queued_at,
  };
}
