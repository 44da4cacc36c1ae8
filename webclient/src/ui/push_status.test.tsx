// @vitest-environment jsdom
import { cleanup, fireEvent, render } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { PushOptIn, type PushEnv } from "../platform/push_opt_in";
import { PUSH_TEXT } from "../platform/push_state";
import { MemoryStore } from "../state/settings";
import { PushStatusLine } from "./push_status";

afterEach(cleanup);

function env(fail: unknown): PushEnv & { perm: NotificationPermission } {
  return {
    perm: "default",
    permission() {
      return this.perm;
    },
    pushSupported: () => true,
    async requestPermission() {
      this.perm = "granted";
      return "granted";
    },
    async subscribe() {
      if (fail) throw fail;
    },
  };
}

describe("PushStatusLine", () => {
  it("never says On next to a failed subscription, and offers Try again", async () => {
    const err = Object.assign(new Error("Registration failed - push service not available"), { name: "AbortError" });
    const machine = new PushOptIn(env(err), new MemoryStore());
    const view = render(<PushStatusLine push={machine} onEnable={() => void machine.enable()} />);
    expect(view.container.querySelector("strong")?.textContent).toBe(PUSH_TEXT.status.off);
    fireEvent.click(view.getByRole("button", { name: PUSH_TEXT.turnOn }));
    await view.findByText(PUSH_TEXT.failed["no-push-service"]);
    expect(view.container.querySelector("strong")?.textContent).toBe("Not working");
    expect(view.container.textContent).not.toMatch(/\bOn\b/);
    expect(view.getByRole("button", { name: PUSH_TEXT.tryAgain })).toBeTruthy();
    expect(view.container.textContent).toContain("Browser said: Registration failed - push service not available");
  });

  it("says On once the subscription worked", async () => {
    const machine = new PushOptIn(env(null), new MemoryStore());
    const view = render(<PushStatusLine push={machine} onEnable={() => void machine.enable()} />);
    fireEvent.click(view.getByRole("button", { name: PUSH_TEXT.turnOn }));
    await view.findByText(PUSH_TEXT.explain.on);
    expect(view.container.querySelector("strong")?.textContent).toBe("On");
    expect(view.queryByRole("button")).toBeNull();
  });
});
