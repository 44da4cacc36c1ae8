// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient } from "../net/http";
import { MemoryOutbox } from "../net/memory_outbox";
import type { Room } from "../net/schemas";
import type { ConnectionStatus } from "../net/socket";
import type { SoundPlayer } from "../platform/sound";
import { AppSession } from "../session/app_session";
import { MemoryStore } from "../state/settings";
import { ZonedTimeFormatter } from "../state/time_format";
import { FakeClock } from "../testing/fake_clock";
import { FakeSocketServer } from "../testing/fake_socket";
import { flush, listedRoom, ME, messageFrame, msg } from "../testing/fixtures";
import { liveRoom } from "../testing/room_fixture";
import { Composer } from "./composer";
import { ConnectionBadge } from "./connection_badge";
import { AppContext } from "./context";
import { MentionsView } from "./mentions_view";
import { MessageList } from "./message_list";
import { RoomRow } from "./room_list_view";
import { Router } from "./router";

afterEach(cleanup);

const taipei = new ZonedTimeFormatter("Asia/Taipei");
const NOW = new Date("2026-12-04T09:00:00.000Z"); // 17:00 in Taipei

const room = listedRoom;

function renderRow(r: Room) {
  return render(
    <ul>
      <RoomRow room={r} fmt={taipei} now={NOW} onOpen={() => undefined} />
    </ul>,
  );
}

describe("RoomRow", () => {
  it("shows unread and mention badges, the preview with its sender, and the time in GMT+8", () => {
    renderRow(
      room({
        unread_count: 3,
        unread_mentions: 1,
        last_sequence_number: 42,
        last_message_at: "2026-12-04T08:00:00.000Z",
        preview: {
          message_id: "m-42",
          sender_id: "op@x",
          sender_display_name: "Operator",
          sender_is_bot: false,
          message_type: "text",
          content: "oven at 90",
          created_at: "2026-12-04T08:00:00.000Z",
        },
      }),
    );
    expect(screen.getByTestId("room-unread-badge").textContent).toBe("3");
    expect(screen.getByTestId("room-mention-badge").getAttribute("aria-label")).toBe("1 unread mention");
    expect(screen.getByTestId("room-preview-sender").textContent).toContain("Operator");
    expect(screen.getByTestId("room-preview-text").textContent).toBe("oven at 90");
    expect(screen.getByTestId("room-time").textContent).toBe("16:00");
    expect(screen.queryByTestId("room-empty")).toBeNull();
  });

  it("badges a bot sender's preview, as the timeline does, and only a bot's", () => {
    const bot = {
      message_id: "m-43",
      sender_id: "webhook-1@bots.andon.invalid",
      sender_display_name: "Prometheus",
      sender_is_bot: true,
      message_type: "text" as const,
      content: "[FIRING:1] ProbeFailure",
      created_at: "2026-12-04T08:00:00.000Z",
    };
    renderRow(room({ last_sequence_number: 43, preview: bot }));
    expect(screen.getByTestId("room-preview-sender").textContent).toBe("PrometheusBOT: ");
    expect(screen.getByTestId("room-bot-badge").textContent).toBe("BOT");
    cleanup();
    renderRow(room({ last_sequence_number: 44, preview: { ...bot, sender_display_name: "Ana", sender_is_bot: false } }));
    expect(screen.queryByTestId("room-bot-badge")).toBeNull();
  });

  it("shows an older day as MM/DD HH:mm", () => {
    renderRow(room({ last_sequence_number: 2, last_message_at: "2026-12-02T17:30:00.000Z" }));
    expect(screen.getByTestId("room-time").textContent).toBe("12/03 01:30");
  });

  it("never says 'No messages yet' next to unread messages or for a room with only system events", () => {
    renderRow(room({ unread_count: 2, last_sequence_number: 2 }));
    expect(screen.queryByTestId("room-empty")).toBeNull();
    cleanup();
    renderRow(
      room({
        last_sequence_number: 1,
        last_message_at: "2026-12-04T08:00:00.000Z",
        preview: {
          message_id: "s-1",
          sender_id: "boss@x",
          sender_display_name: "Boss",
          sender_is_bot: false,
          message_type: "system",
          content: "member added: user@x",
          created_at: "2026-12-04T08:00:00.000Z",
        },
      }),
    );
    expect(screen.queryByTestId("room-empty")).toBeNull();
    expect(screen.queryByTestId("room-preview-sender")).toBeNull();
    expect(screen.getByTestId("room-preview-text").textContent).toBe("member added: user@x");
    cleanup();
    renderRow(room());
    expect(screen.getByTestId("room-empty").textContent).toBe("No messages yet");
    expect(screen.queryByTestId("room-unread-badge")).toBeNull();
  });
});

describe("ConnectionBadge", () => {
  const status = (over: Partial<ConnectionStatus>): ConnectionStatus => ({
    state: "live",
    attempt: 0,
    retryAt: null,
    closeReason: null,
    lastCloseCode: null,
    hasBeenLive: true,
    ...over,
  });

  it("says Live, or Offline with a Retry now button that retries", () => {
    let retried = 0;
    const { rerender } = render(<ConnectionBadge status={status({})} onRetry={() => retried++} />);
    expect(screen.getByTestId("connection-badge-text").textContent).toBe("Live");
    expect(screen.queryByRole("button", { name: "Retry now" })).toBeNull();
    rerender(<ConnectionBadge status={status({ state: "offline" })} onRetry={() => retried++} />);
    expect(screen.getByTestId("connection-badge-text").textContent).toBe("Offline");
    fireEvent.click(screen.getByRole("button", { name: "Retry now" }));
    expect(retried).toBe(1);
  });
});

describe("Composer of a room the user was removed from", () => {
  it("is disabled at once with the reason, and the waiting message shows as not sent", async () => {
    const { room: session, server } = await liveRoom();
    server.last.serverClose(1006);
    await session.sendText("are you there?");
    render(<Composer room={session} />);
    expect((screen.getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement).disabled).toBe(false);
    await act(() => session.markRemoved());
    expect(screen.getByTestId("composer-disabled-reason").textContent).toBe("You were removed from this room");
    expect((screen.getByLabelText("Message") as HTMLTextAreaElement).disabled).toBe(true);
    expect(session.timeline.value.echoes).toMatchObject([{ status: "failed", error: "You were removed from this room" }]);
    session.stop();
  });
});

describe("MessageList opened at a message", () => {
  it("marks the target message highlighted, by its sequence number", async () => {
    const { room: session, server } = await liveRoom();
    for (let i = 1; i <= 5; i++) server.last.receive(messageFrame(i));
    session.highlightAt(3);
    const { container } = render(<MessageList room={session} fmt={taipei} />);
    const highlighted = container.querySelectorAll(".message.highlighted");
    expect(highlighted).toHaveLength(1);
    expect(highlighted[0]!.getAttribute("data-sequence-number")).toBe("3");
    expect(screen.getByTestId("highlighted-message").getAttribute("data-sequence-number")).toBe("3");
    session.stop();
  });
});

describe("MessageList bots", () => {
  it("badges a bot's message and an alert's resolved notice, and no person's message", async () => {
    const { room: session, server } = await liveRoom();
    server.last.receive(messageFrame(1));
    server.last.receive(messageFrame(2, { sender_display_name: "Prometheus", sender_is_bot: true, content: "[FIRING:1] ProbeFailure" }));
    server.last.receive({
      type: "system",
      event: "alert_resolved",
      message_id: "m-3",
      sequence_number: 3,
      user_id: "webhook-1@bots.andon.invalid",
      actor_id: "webhook-1@bots.andon.invalid",
      timestamp: "2025-11-17T10:00:03.000Z",
      room_id: "r1",
      title: "ProbeFailure",
    });
    const { container } = render(<MessageList room={session} fmt={taipei} />);
    const rows = container.querySelectorAll("li.message");
    expect(rows[0]!.querySelector(".bot-badge")).toBeNull();
    expect(rows[1]!.querySelector(".bot-badge")!.textContent).toBe("BOT");
    const notice = container.querySelector("li.system-notice")!;
    expect(notice.querySelector(".bot-badge.alert")!.textContent).toBe("alert");
    expect(notice.textContent).toContain("Resolved: ProbeFailure");
    session.stop();
  });
});

describe("MessageList re-rendering", () => {
  /** Counts how often each instant is formatted, i.e. how often the rows showing it render. */
  class CountingFormatter extends ZonedTimeFormatter {
    readonly calls = new Map<string, number>();
    override short(at: Date | string, now: Date): string {
      const key = typeof at === "string" ? at : at.toISOString();
      this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
      return super.short(at, now);
    }
  }

  it("renders only the new row when a message arrives, and a row again when it changes or is highlighted", async () => {
    const { room: session, server } = await liveRoom();
    for (let i = 1; i <= 5; i++) server.last.receive(messageFrame(i));
    const fmt = new CountingFormatter("Asia/Taipei");
    const { container } = render(<MessageList room={session} fmt={fmt} />);
    const first = session.timeline.value.messages[0]!;
    const perRender = fmt.calls.get(first.created_at)!;
    expect(perRender).toBeGreaterThan(0);

    await act(() => server.last.receive(messageFrame(6)));
    expect(container.querySelectorAll("li.message")).toHaveLength(6);
    expect(fmt.calls.get(first.created_at)).toBe(perRender);

    await act(() => server.last.receive({ type: "message_edited", ...first, content: "fixed", edited_at: first.created_at }));
    expect(container.querySelector('li.message[data-sequence-number="1"] p.text')!.textContent).toBe("fixed");
    await act(() => session.highlightAt(1));
    expect(screen.getByTestId("highlighted-message").getAttribute("data-sequence-number")).toBe("1");
    session.stop();
  });
});

describe("MentionsView", () => {
  function app(pages: Record<string, unknown>[]) {
    const requests: string[] = [];
    const fetchImpl = async (input: string) => {
      requests.push(input);
      const body = input.startsWith("/api/mentions") ? pages[Math.min(requests.filter((r) => r.startsWith("/api/mentions")).length - 1, pages.length - 1)] : {};
      return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    };
    const session = new AppSession({
      api: new ApiClient(fetchImpl),
      storage: new MemoryStore(),
      openOutbox: async () => new MemoryOutbox(),
      socketFactory: new FakeSocketServer().factory,
      socketUrl: (r, since) => `ws://test/ws/${r}?since=${since}`,
      userSocketUrl: () => "ws://test/ws",
      clock: new FakeClock(),
      random: () => 0.5,
      newClientId: () => "c",
      isFocused: () => true,
      alerts: { newMessage: () => undefined, mention: () => undefined, activity: () => undefined, clearRoom: async () => undefined },
    });
    window.history.replaceState(null, "", "/mentions");
    const router = new Router(window);
    const sound = {} as SoundPlayer;
    render(
      <AppContext.Provider value={{ session, router, sound }}>
        <MentionsView />
      </AppContext.Provider>,
    );
    return { requests, router };
  }

  const item = (seq: number, unread: boolean) => ({
    ...msg(seq, { mentions: [ME], content: `@Me check ${seq}`, created_at: "2026-12-04T08:00:00.000Z" }),
    room_title: "Line 3",
    unread,
  });

  it("lists mentions with room, sender, text and GMT+8 time; pages with Load more; opens the room at the message", async () => {
    const { requests, router } = app([
      { messages: [item(9, true), item(8, false)], has_more: true, next_before: "2026-12-04T07:59:00.000Z", unread_total: 1 },
      { messages: [item(2, false)], has_more: false, next_before: null, unread_total: 1 },
    ]);
    await act(() => flush());
    const items = screen.getAllByTestId("mention-item");
    expect(items).toHaveLength(2);
    expect(items[0]!.getAttribute("data-unread")).toBe("true");
    expect(items[1]!.getAttribute("data-unread")).toBe("false");
    expect(screen.getAllByTestId("mention-room")[0]!.textContent).toBe("Line 3");
    expect(screen.getAllByTestId("mention-sender")[0]!.textContent).toBe("Operator");
    expect(screen.getAllByTestId("mention-text")[0]!.textContent).toBe("@Me check 9");
    expect(screen.getAllByTestId("mention-time")[0]!.textContent).toMatch(/^(\d\d\/\d\d )?16:00$/);
    expect(screen.getAllByTestId("mention-unread")).toHaveLength(1);

    fireEvent.click(screen.getByTestId("mentions-load-more"));
    await act(() => flush());
    expect(requests.at(-1)).toContain("before=2026-12-04T07%3A59%3A00.000Z");
    expect(screen.getAllByTestId("mention-item")).toHaveLength(3);
    expect(screen.queryByTestId("mentions-load-more")).toBeNull();

    fireEvent.click(screen.getAllByTestId("mention-item")[0]!.querySelector("a")!);
    expect(router.route.value).toEqual({ name: "room", roomId: "room-1", at: 9 });
    expect(window.location.pathname + window.location.search).toBe("/rooms/room-1?at=9");
  });
});
