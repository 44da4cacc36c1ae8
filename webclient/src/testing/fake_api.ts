import type { AroundPage, ChatMessage, MessagePage } from "../net/schemas";
import type { RoomApi } from "../session/room_session";
import { ME, OTHER } from "./fixtures";

/** History, members and uploads served from memory. */
export class FakeApi implements RoomApi {
  history: ChatMessage[] = [];
  failHistory = false;
  reads: number[] = [];
  members = async () => [
    { user_id: ME, display_name: "Me", role: "EDITOR" as const, online: true },
    { user_id: OTHER, display_name: "Operator", role: "EDITOR" as const, online: true },
  ];
  messages = async (_room: string, opts: { limit: number; beforeSequence?: number }): Promise<MessagePage> => {
    if (this.failHistory) throw new Error("offline");
    const older = this.history
      .filter((m) => opts.beforeSequence === undefined || m.sequence_number < opts.beforeSequence)
      .sort((a, b) => b.sequence_number - a.sequence_number);
    return {
      messages: older.slice(0, opts.limit),
      has_more: older.length > opts.limit,
      next_before_sequence: null,
    };
  };
  aroundCalls: number[] = [];
  /** `around_sequence`: up to limit/2 either side of N, oldest first (the server's documented shape). */
  messagesAround = async (_room: string, sequence: number, limit: number): Promise<AroundPage> => {
    if (this.failHistory) throw new Error("offline");
    this.aroundCalls.push(sequence);
    const half = Math.floor(limit / 2);
    const sorted = [...this.history].sort((a, b) => a.sequence_number - b.sequence_number);
    const before = sorted.filter((m) => m.sequence_number < sequence);
    const after = sorted.filter((m) => m.sequence_number > sequence);
    const at = sorted.filter((m) => m.sequence_number === sequence);
    const page = [...before.slice(-half), ...at, ...after.slice(0, half)];
    return {
      messages: page,
      has_more_before: before.length > half,
      has_more_after: after.length > half,
      next_before_sequence: page[0]?.sequence_number ?? null,
      next_after_sequence: page[page.length - 1]?.sequence_number ?? null,
    };
  };
  markRead = async (_room: string, seq: number) => {
    this.reads.push(seq);
  };
  readonly acknowledged: string[] = [];
  acknowledge = async (messageId: string) => {
    this.acknowledged.push(messageId);
  };
  uploadFile = async () => ({
    file_id: "f-1",
    file_url: "/api/files/f-1",
    filename: "defect.png",
    content_type: "image/png",
    size: 10,
  });
}
