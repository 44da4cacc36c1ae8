// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { flush, OTHER } from "../testing/fixtures";
import { liveRoom } from "../testing/room_fixture";
import { Composer } from "./composer";

afterEach(cleanup);

function type(el: HTMLTextAreaElement, value: string) {
  fireEvent.input(el, { target: { value } });
}

describe("Composer mention autocomplete", () => {
  it("opens on @, filters as you type, and inserts the pick with Enter", async () => {
    const { room, server } = await liveRoom();
    render(<Composer room={room} />);
    const box = screen.getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement;

    type(box, "@");
    expect(screen.getByRole("listbox").textContent).toContain("Operator");
    expect(box.getAttribute("aria-controls")).toBe(screen.getByRole("listbox").id);

    type(box, "@zz");
    expect(screen.queryByRole("listbox")).toBeNull();

    type(box, "@op");
    fireEvent.keyDown(box, { key: "Enter" });
    expect(box.value).toBe("@Operator ");
    expect(screen.queryByRole("listbox")).toBeNull();

    type(box, "@Operator check line 3");
    fireEvent.keyDown(box, { key: "Enter" });
    await flush();
    expect(server.last.sentOfType("message")).toEqual([
      { type: "message", content: "@Operator check line 3", message_type: "text", client_id: "c-1", mentions: [OTHER] },
    ]);
    room.stop();
  });

  it("moves with the arrow keys, picks with Tab and closes with Escape", async () => {
    const { room } = await liveRoom();
    room.members.value = [
      { user_id: "ann@x", display_name: "Ann", role: "EDITOR", online: true },
      { user_id: "bob@x", display_name: "Bob", role: "EDITOR", online: false },
      { user_id: "cat@x", display_name: "Cat", role: "VIEWER", online: false },
    ];
    render(<Composer room={room} />);
    const box = screen.getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement;

    type(box, "hi @");
    const selected = () => screen.getAllByRole("option").find((o) => o.getAttribute("aria-selected") === "true")?.textContent;
    expect(selected()).toContain("Ann");
    fireEvent.keyDown(box, { key: "ArrowDown" });
    fireEvent.keyDown(box, { key: "ArrowDown" });
    expect(selected()).toContain("Cat");
    fireEvent.keyDown(box, { key: "ArrowDown" });
    expect(selected()).toContain("Ann");
    fireEvent.keyDown(box, { key: "ArrowUp" });
    expect(selected()).toContain("Cat");
    fireEvent.keyDown(box, { key: "Tab" });
    expect(box.value).toBe("hi @Cat ");

    type(box, "hi @Cat @");
    expect(screen.getByRole("listbox")).toBeTruthy();
    fireEvent.keyDown(box, { key: "Escape" });
    expect(screen.queryByRole("listbox")).toBeNull();
    room.stop();
  });

  it("keeps the caret after what is typed right after a pick, before the next frame", async () => {
    const { room } = await liveRoom();
    render(<Composer room={room} />);
    const box = screen.getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement;
    type(box, "@op");
    // Raw events, not fireEvent: act() would flush every effect at once and hide the race.
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Tab", bubbles: true, cancelable: true }));
    for (let i = 0; i < 5; i++) await Promise.resolve(); // the render (a microtask), not a frame
    expect(box.value).toBe("@Operator ");
    // The next key arrives before the next animation frame.
    box.value = "@Operator x";
    box.setSelectionRange(11, 11);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(box.value).toBe("@Operator x");
    expect(box.selectionStart).toBe(11);
    room.stop();
  });

  it("picks with the mouse", async () => {
    const { room } = await liveRoom();
    render(<Composer room={room} />);
    const box = screen.getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement;
    type(box, "@");
    fireEvent.mouseDown(screen.getByRole("option", { name: /Operator/ }));
    expect(box.value).toBe("@Operator ");
    room.stop();
  });
});
