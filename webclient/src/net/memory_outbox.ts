import type { OutboxItem } from "./outbox";

/** What the room session needs from an outbox. */
export interface OutboxStore {
  put(item: OutboxItem): Promise<void>;
  list(roomId: string, userId: string): Promise<OutboxItem[]>;
  remove(clientId: string): Promise<boolean>;
}

/**
 * Used when IndexedDB cannot be opened (some private modes): queued messages
 * then survive reconnects but not a reload.
 */
export class MemoryOutbox implements OutboxStore {
  private items: OutboxItem[] = [];

  async put(item: OutboxItem): Promise<void> {
    if (!this.items.some((i) => i.client_id === item.client_id)) this.items.push(item);
  }

  async list(roomId: string, userId: string): Promise<OutboxItem[]> {
    return this.items.filter((i) => i.room_id === roomId && i.user_id === userId);
  }

  async remove(clientId: string): Promise<boolean> {
    const before = this.items.length;
    this.items = this.items.filter((i) => i.client_id !== clientId);
    return this.items.length !== before;
  }
}
