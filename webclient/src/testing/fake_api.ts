import type { ChatMessage, MessagePage } from "../net/schemas";
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
  markRead = async (_room: string, seq: number) => {
    this.reads.push(seq);
  };
  uploadFile = async () => ({
    file_id: "f-1",
    file_url: "/api/files/f-1",
    filename: "defect.png",
    content_type: "image/png",
    size: 10,
  });
}
