// @vitest-environment jsdom
import { cleanup, render } from "@testing-library/preact";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadFormatter, PlainText, plainPreview } from "./formatted_text";
import { plainText } from "./markdown";

afterEach(cleanup);
beforeAll(async () => {
  await loadFormatter();
});

describe("plain text of a message, for toasts and notifications", () => {
  it.each([
    ["**Line 3** is _down_", "Line 3 is down"],
    ["see [the runbook](https://wiki.example/rb/7) now", "see the runbook now"],
    ["dashboard: https://grafana.example/d/1", "dashboard: https://grafana.example/d/1"],
    ["use `reset --hard` first", "use reset --hard first"],
    ["- check valve\n- call shift lead", "check valve call shift lead"],
    ["> quoted\n\nanswer", "quoted answer"],
    ["```\npressure 95\n```", "pressure 95"],
    ["line one\nline two", "line one line two"],
    ["plain words, nothing to format", "plain words, nothing to format"],
    ["2 * 3 = 6", "2 * 3 = 6"],
    ["壓力 **過高** 請檢查", "壓力 過高 請檢查"],
  ])("%j → %j", (markdown, plain) => {
    expect(plainText(markdown)).toBe(plain);
  });

  it("keeps markup that is not Markdown as words, never as elements", () => {
    const text = plainText('<img src=x onerror="alert(1)"> [x](javascript:alert(1)) **ok**');
    expect(text).toBe('<img src=x onerror="alert(1)"> [x](javascript:alert(1)) ok');
    const { container } = render(<PlainText class="toast-preview" text={'<script>alert(1)</script> **hi**'} />);
    expect(container.querySelector("script")).toBeNull();
    expect(container.textContent).toBe("<script>alert(1)</script> hi");
  });

  it("renders a toast preview without the Markdown source", async () => {
    const { container } = render(<PlainText class="toast-preview" text="**Press 4** jammed, see [runbook](https://wiki.example/rb)" />);
    expect(container.querySelector(".toast-preview")?.textContent).toBe("Press 4 jammed, see runbook");
    expect(await plainPreview("_urgent_: **now**")).toBe("urgent: now");
  });
});
