// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadFormatter } from "./formatted_text";
import { applyReactorChange, keepReactors } from "../state/reactors";
import { ZonedTimeFormatter } from "../state/time_format";
import { ME, messageFrame, msg, OTHER } from "../testing/fixtures";
import { liveRoom } from "../testing/room_fixture";
import { Attachment, formatSize, shortType } from "./attachment";
import { canSeeHistory } from "./edit_history";
import { MessageList } from "./message_list";
import { whoText } from "./reactions_who";

afterEach(cleanup);
// The formatter is its own chunk in the app; here it is loaded once up front.
beforeAll(async () => {
  await loadFormatter();
});

const taipei = new ZonedTimeFormatter("Asia/Taipei");

describe("attachments", () => {
  it("formats sizes and types", () => {
    expect(formatSize(0)).toBe("0 B");
    expect(formatSize(1023)).toBe("1,023 B"); // the locale's grouping
    expect(formatSize(2048)).toBe("2 KB");
    expect(formatSize(1536 * 1024)).toBe("1.5 MB");
    expect(formatSize(150 * 1024 * 1024)).toBe("150 MB");
    expect(shortType("application/pdf")).toBe("PDF");
    expect(shortType("image/png")).toBe("PNG");
    expect(shortType("text/plain; charset=utf-8")).toBe("TXT");
    expect(shortType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")).toBe("SHEET");
  });

  it("shows a file's name, size and type even with a caption, and formats the caption", () => {
    const { container } = render(
      <Attachment
        kind="file_ref"
        caption="**see** page 3"
        fileUrl="/api/files/f1"
        file={{ filename: "pump-report.pdf", content_type: "application/pdf", size: 250_000 }}
      />,
    );
    const link = container.querySelector("a.file-link")!;
    expect(link.getAttribute("href")).toBe("/api/files/f1");
    expect(link.getAttribute("download")).toBe("pump-report.pdf");
    expect(link.textContent).toContain("pump-report.pdf");
    expect(screen.getByTestId("file-meta").textContent).toBe(" 244 KB · PDF");
    expect(container.querySelector(".caption strong")?.textContent).toBe("see");
  });

  it("shows an image's name, size and type under it and opens it full size in a dialog", () => {
    const { container } = render(
      <Attachment
        kind="image_ref"
        caption="Seal leak"
        fileUrl="/api/files/i1"
        file={{ filename: "leak.png", content_type: "image/png", size: 5000 }}
      />,
    );
    expect(screen.getByTestId("file-meta").textContent).toBe("leak.png · 4.9 KB · PNG");
    expect(container.querySelector(".caption")?.textContent).toBe("Seal leak");
    fireEvent.click(screen.getByRole("button", { name: "Open leak.png full size" }));
    const dialog = screen.getByTestId("lightbox");
    expect(dialog.querySelector("img.lightbox-image")?.getAttribute("src")).toBe("/api/files/i1");
    fireEvent.click(screen.getByRole("button", { name: "Close" }));
    expect(screen.queryByTestId("lightbox")).toBeNull();
  });

  it("does not repeat the file name as a caption (a file sent without one carries its name)", () => {
    const { container } = render(
      <Attachment kind="file_ref" caption="readings.csv" fileUrl="/api/files/f2" file={{ filename: "readings.csv", content_type: "text/csv", size: 20 }} />,
    );
    expect(container.querySelector(".caption")).toBeNull();
    expect(container.textContent).toBe("📎 readings.csv 20 B · CSV");
  });

  it("never puts a hostile file URL or file name into the page as markup", () => {
    const { container } = render(
      <Attachment
        kind="image_ref"
        caption=""
        fileUrl="javascript:alert(1)"
        file={{ filename: '<img src=x onerror="alert(1)">', content_type: "image/png", size: 1 }}
      />,
    );
    expect(container.querySelector("img, a")).toBeNull();
    expect(container.textContent).toContain('<img src=x onerror="alert(1)">');
  });
});

describe("who reacted", () => {
  it("follows live changes and trims to the counts", () => {
    let who = applyReactorChange(undefined, { emoji: "👍", user_id: "a", added: true }, { "👍": 1 });
    who = applyReactorChange(who, { emoji: "👍", user_id: "b", added: true }, { "👍": 2 });
    who = applyReactorChange(who, { emoji: "👀", user_id: "a", added: true }, { "👍": 2, "👀": 1 });
    expect(who["👍"]!.map((r) => r.user_id)).toEqual(["a", "b"]);
    who = applyReactorChange(who, { emoji: "👍", user_id: "a", added: false }, { "👍": 1, "👀": 1 });
    expect(who["👍"]!.map((r) => r.user_id)).toEqual(["b"]);
    who = applyReactorChange(who, { emoji: "👀", user_id: "a", added: false }, { "👍": 1 });
    expect(Object.keys(who)).toEqual(["👍"]);
  });

  it("keeps who reacted when a frame without it replaces the message", () => {
    const before = msg(1, { reactions: { "👍": 2 }, reacted_by: { "👍": [{ user_id: "a", display_name: "Ann" }, { user_id: "b", display_name: "Bo" }] } });
    const edited = msg(1, { content: "fixed", reactions: { "👍": 1 } });
    expect(keepReactors(before, edited).reacted_by).toEqual({ "👍": [{ user_id: "b", display_name: "Bo" }] });
  });

  it("says names, then how many more", () => {
    expect(whoText(["Ann"], 0)).toBe("Ann");
    expect(whoText(["Ann", "Bo"], 0)).toBe("Ann & Bo");
    expect(whoText(["Ann", "Bo"], 2)).toBe("Ann, Bo & 2 others");
    expect(whoText([], 1)).toBe("1 other");
  });

  it("shows who reacted from history, and live as reactions come and go", async () => {
    const { room, server } = await liveRoom();
    server.last.receive(
      messageFrame(1, { reactions: { "👍": 1 }, reacted_by: { "👍": [{ user_id: "ann@x", display_name: "Ann <b>Lee</b>" }] } }),
    );
    render(<MessageList room={room} fmt={taipei} />);
    expect(screen.getByTestId("reaction-who").textContent).toBe("Ann <b>Lee</b> reacted with 👍");
    expect(document.querySelector(".reaction-who b")).toBeNull();
    const button = screen.getByRole("button", { name: "👍 1" });
    expect(button.getAttribute("aria-describedby")).toBe(screen.getByTestId("reaction-who").id);

    await act(() => server.last.receive({ type: "reaction_added", message_id: "m-1", emoji: "👍", user_id: ME, reactions: { "👍": 2 } }));
    expect(screen.getByTestId("reaction-who").textContent).toBe("Ann <b>Lee</b> & You reacted with 👍");
    await act(() => server.last.receive({ type: "reaction_added", message_id: "m-1", emoji: "🔥", user_id: OTHER, reactions: { "👍": 2, "🔥": 1 } }));
    expect(screen.getAllByTestId("reaction-who")[1]!.textContent).toBe("Operator reacted with 🔥");
    await act(() => server.last.receive({ type: "reaction_removed", message_id: "m-1", emoji: "👍", user_id: "ann@x", reactions: { "👍": 1, "🔥": 1 } }));
    expect(screen.getAllByTestId("reaction-who")[0]!.textContent).toBe("You reacted with 👍");
    room.stop();
  });
});

describe("system events in the timeline", () => {
  it("name a person the room no longer lists by the name the event was stored with", async () => {
    const { room, server } = await liveRoom();
    const base = { type: "system", room_id: "r1", timestamp: "2025-11-17T10:00:00.000Z", actor_id: OTHER };
    server.last.receive({ ...base, event: "member_removed", message_id: "s-1", sequence_number: 1, user_id: "carol@x", user_display_name: "Carol Lin", actor_display_name: "Operator" });
    server.last.receive({ ...base, event: "member_removed", message_id: "s-2", sequence_number: 2, user_id: "dan@x" });
    render(<MessageList room={room} fmt={taipei} />);
    const notices = [...document.querySelectorAll(".system-notice > span")].map((n) => n.textContent);
    expect(notices).toEqual(["Carol Lin was removed by Operator", "dan@x was removed by Operator"]);
    expect(room.timeline.value.messages[0]!.sender_display_name).toBe("Operator");
    room.stop();
  });
});

describe("edit history", () => {
  it("is for the sender, the room's OWNER and admins only", async () => {
    const { room } = await liveRoom();
    const mine = msg(1, { sender_id: ME, edited_at: "2025-11-17T10:01:00.000Z" });
    const theirs = msg(2, { edited_at: "2025-11-17T10:01:00.000Z" });
    expect(canSeeHistory(room, mine)).toBe(true);
    expect(canSeeHistory(room, theirs)).toBe(false);
    room.role.value = "OWNER";
    expect(canSeeHistory(room, theirs)).toBe(true);
    expect(canSeeHistory(room, { ...theirs, deleted_at: "2025-11-17T10:02:00.000Z" })).toBe(false);
    room.stop();
  });
});
