// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chooseLanguage, initLanguage } from "../i18n";
import { ApiClient } from "../net/http";
import type { Room } from "../net/schemas";
import { MemoryOutbox } from "../net/memory_outbox";
import type { SoundPlayer } from "../platform/sound";
import { AppSession } from "../session/app_session";
import { MemoryStore } from "../state/settings";
import { ZonedTimeFormatter } from "../state/time_format";
import { FakeClock } from "../testing/fake_clock";
import { FakeSocketServer } from "../testing/fake_socket";
import { flush, listedRoom, messageFrame, OTHER } from "../testing/fixtures";
import { liveRoom } from "../testing/room_fixture";
import { App } from "./app";
import { Composer } from "./composer";
import { ConnectionBadge } from "./connection_badge";
import { AppContext } from "./context";
import { MessageList } from "./message_list";
import { RoomRow } from "./room_list_view";
import { Router } from "./router";
import { SettingsView } from "./settings_view";

const taipei = new ZonedTimeFormatter("Asia/Taipei", "zh-TW");
const NOW = new Date("2026-12-04T09:00:00.000Z");
let store: MemoryStore;

beforeEach(() => {
  store = new MemoryStore();
  initLanguage({ store, preferences: ["zh-TW", "en-US"], onChange: (l) => (document.documentElement.lang = l) });
});
afterEach(() => {
  cleanup();
  initLanguage({ store: new MemoryStore(), preferences: ["en-US"] });
});

function appSession(respond: (url: string) => Response): AppSession {
  return new AppSession({
    api: new ApiClient(async (input: string) => respond(input)),
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
}

const room2 = (over: Partial<Room>): Room => listedRoom({ title: "二號線", ...over });

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function withApp(session: AppSession, view: preact.ComponentChild) {
  return render(
    <AppContext.Provider value={{ session, router: new Router(window), sound: { unlock: () => undefined } as unknown as SoundPlayer }}>
      {view}
    </AppContext.Provider>,
  );
}

describe("views in Traditional Chinese (browser zh-TW)", () => {
  it("the sign-in page, and <html lang> says zh-TW", async () => {
    const session = appSession(() => json(401, { detail: "sign in" }));
    withApp(session, <App />);
    await act(() => session.init());
    await act(() => flush());
    expect(document.documentElement.lang).toBe("zh-TW");
    expect(screen.getByRole("button", { name: "登入" })).toBeTruthy();
    expect(screen.getByLabelText("電子郵件")).toBeTruthy();
    expect(screen.getByLabelText("密碼")).toBeTruthy();
  });

  it("a room's messages, their times in GMT+8 digits, the composer and the connection", async () => {
    const { room, server } = await liveRoom();
    server.last.receive(messageFrame(1, { sender_id: OTHER, sender_display_name: "Operator", content: "第三線溫度過高" }));
    server.last.receive(messageFrame(2, { sender_id: OTHER, sender_display_name: "Operator", content: "x", deleted_at: "2025-11-17T10:00:00.000Z" }));
    render(
      <div>
        <ConnectionBadge status={room.connection.value} onRetry={() => undefined} />
        <MessageList room={room} fmt={taipei} />
        <Composer room={room} />
      </div>,
    );
    expect(screen.getByTestId("connection-badge-text").textContent).toBe("已連線");
    expect(screen.getByText("訊息已刪除")).toBeTruthy();
    expect(screen.getByRole("button", { name: "傳送" })).toBeTruthy();
    expect(screen.getByLabelText("附加圖片或檔案")).toBeTruthy();
    expect(screen.getByText("已到聊天室開頭")).toBeTruthy();
    const time = document.querySelector("li.message time")!;
    expect(time.textContent).toMatch(/^(\d\d\/\d\d )?\d\d:\d\d$/);
    expect(time.getAttribute("title")).toMatch(/年.*月.*日/);

    // A switch re-renders what is on screen, rows that skip re-rendering for new messages included.
    await act(() => chooseLanguage("en"));
    expect(screen.getByText("message deleted")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Send" })).toBeTruthy();
    expect(screen.getByTestId("connection-badge-text").textContent).toBe("Live");
    room.stop();
  });

  it("a room row with its counts and status", () => {
    render(
      <ul>
        <RoomRow room={room2({ status: "resolved", unread_count: 3, unread_mentions: 1 })} fmt={taipei} now={NOW} onOpen={() => undefined} />
      </ul>,
    );
    expect(screen.getByTestId("room-status").textContent).toBe("已解決");
    expect(screen.getByTestId("room-unread-badge").getAttribute("aria-label")).toBe("3 則未讀");
    expect(screen.getByTestId("room-mention-badge").getAttribute("aria-label")).toBe("1 則未讀提及");
  });

  it("a room row whose newest line is a system event: in Chinese, with people's names", () => {
    const system = { event: "member_removed", user_id: "carol@x", user_display_name: "林小美", actor_id: "ana@x", actor_display_name: "吳安娜" };
    render(
      <ul>
        <RoomRow
          room={room2({
            last_message_at: "2026-12-04T08:00:00.000Z",
            unread_count: 1,
            last_sequence_number: 9,
            preview: {
              message_id: "s-9",
              sender_id: "ana@x",
              sender_display_name: "吳安娜",
              sender_is_bot: false,
              message_type: "system",
              content: "林小美 was removed by 吳安娜",
              created_at: "2026-12-04T08:00:00.000Z",
              system,
            },
          })}
          fmt={taipei}
          now={NOW}
          onOpen={() => undefined}
        />
      </ul>,
    );
    expect(screen.getByTestId("room-preview-text").textContent).toBe("林小美 已被 吳安娜 移出");
    expect(screen.queryByTestId("room-preview-sender")).toBeNull();
  });

  it("Settings switches every view at once and keeps the choice on this device", async () => {
    const session = appSession((url) => (url.startsWith("/api/notification") ? json(200, { push: "mentions", rooms: {} }) : json(200, {})));
    withApp(session, <SettingsView />);
    await act(() => flush());
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("設定");
    const select = screen.getByTestId("language-select") as HTMLSelectElement;
    expect(select.value).toBe("auto");
    expect(select.options[0]!.textContent).toBe("與瀏覽器相同（繁體中文）");

    await act(() => {
      fireEvent.change(select, { target: { value: "en" } });
    });
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Settings");
    expect(screen.getByText("Play a sound for new messages and mentions")).toBeTruthy();
    expect(store.getItem("andon.language.v1")).toBe("en");
    expect(document.documentElement.lang).toBe("en");

    await act(() => chooseLanguage("zh-TW"));
    expect(screen.getByText("有新訊息和提及時播放提示音")).toBeTruthy();
  });
});
