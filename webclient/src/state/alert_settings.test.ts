import { afterEach, describe, expect, it } from "vitest";
import { initLanguage } from "../i18n";
import { createdWebhook, urgentSettings, webhookList, type UrgentSettings } from "../net/alert_schemas";
import { DecodeError, decode } from "../net/decode";
import type { Member } from "../net/schemas";
import { MemoryStore } from "./settings";
import {
  checkWebhookName,
  escalationChoices,
  formFromSettings,
  hookAddress,
  scheduleSummary,
  urgentPatch,
} from "./alert_settings";

const settings = (over: Partial<UrgentSettings> = {}): UrgentSettings => ({
  room_id: "r1",
  repeat_seconds: 120,
  max_repeats: 5,
  escalate_after: null,
  escalate_to: null,
  alerts: false,
  ...over,
});

const members: Member[] = [
  { user_id: "bob@x", display_name: "Bob Chen", role: "EDITOR", online: true },
  { user_id: "ana@x", display_name: "Ana Wu", role: "OWNER", online: false },
  { user_id: "webhook-1@bots.andon.invalid", display_name: "Prometheus", role: "VIEWER", online: false, is_bot: true },
];

describe("the urgent schedule form", () => {
  it("shows the settings in minutes and counts", () => {
    expect(formFromSettings(settings())).toEqual({ repeatMinutes: "2", maxRepeats: "5", escalateAfter: "", escalateTo: "" });
    expect(formFromSettings(settings({ repeat_seconds: 90, escalate_after: 3, escalate_to: "role:OWNER" }))).toEqual({
      repeatMinutes: "1.5",
      maxRepeats: "5",
      escalateAfter: "3",
      escalateTo: "role:OWNER",
    });
    expect(formFromSettings(settings({ repeat_seconds: 2 })).repeatMinutes).toBe("0.03");
  });

  it("sends only what changed, in seconds", () => {
    const current = settings();
    const form = { ...formFromSettings(current), repeatMinutes: "5", maxRepeats: "2" };
    expect(urgentPatch(current, form)).toEqual({ ok: true, patch: { repeat_seconds: 300, max_repeats: 2 } });
    const escalate = { ...formFromSettings(current), escalateAfter: "3", escalateTo: "bob@x" };
    expect(urgentPatch(current, escalate)).toEqual({ ok: true, patch: { escalate_after: 3, escalate_to: "bob@x" } });
  });

  it("turns escalation off with nulls", () => {
    const current = settings({ escalate_after: 2, escalate_to: "role:EDITOR" });
    const form = { ...formFromSettings(current), escalateAfter: "", escalateTo: "" };
    expect(urgentPatch(current, form)).toEqual({ ok: true, patch: { escalate_after: null, escalate_to: null } });
  });

  it("keeps an unchanged interval that is not whole minutes as it is", () => {
    const current = settings({ repeat_seconds: 2 });
    const form = { ...formFromSettings(current), maxRepeats: "1" };
    // 0.03 min would round to 2 s: the interval is not sent, so it is not disturbed.
    expect(urgentPatch(current, form)).toEqual({ ok: true, patch: { max_repeats: 1 } });
  });

  it("refuses bad values and saves nothing", () => {
    const current = settings();
    const base = formFromSettings(current);
    const bad: [Partial<typeof base>, RegExp][] = [
      [{ repeatMinutes: "" }, /Repeat interval/],
      [{ repeatMinutes: "0" }, /Repeat interval/],
      [{ repeatMinutes: "-2" }, /Repeat interval/],
      [{ repeatMinutes: "2 min" }, /Repeat interval/],
      [{ repeatMinutes: "1441" }, /Repeat interval/],
      [{ maxRepeats: "1.5" }, /Repeats/],
      [{ maxRepeats: "" }, /Repeats/],
      [{ escalateAfter: "0", escalateTo: "bob@x" }, /Escalate after/],
      [{ escalateAfter: "x", escalateTo: "bob@x" }, /Escalate after/],
      [{ escalateAfter: "3" }, /needs both/],
      [{ escalateTo: "role:OWNER" }, /needs both/],
      [{}, /Nothing to save/],
    ];
    for (const [over, error] of bad) {
      const result = urgentPatch(current, { ...base, ...over });
      expect(result.ok, JSON.stringify(over)).toBe(false);
      if (!result.ok) expect(result.error).toMatch(error);
    }
  });

  it("says the schedule in words", () => {
    const choices = escalationChoices(members, null);
    expect(scheduleSummary(settings(), choices)).toBe(
      "Pages at once, then every 2 min, 5 more times until acknowledged; no escalation.",
    );
    expect(scheduleSummary(settings({ max_repeats: 1, escalate_after: 1, escalate_to: "bob@x" }), choices)).toBe(
      "Pages at once, then every 2 min, 1 more time until acknowledged; after 1 unacknowledged repeat also pages Bob Chen (bob@x).",
    );
  });
});

describe("in Traditional Chinese", () => {
  afterEach(() => initLanguage({ store: new MemoryStore(), preferences: ["en-US"] }));

  it("says the schedule, the choices and the errors in zh-TW", () => {
    initLanguage({ store: new MemoryStore(), preferences: ["zh-TW"] });
    const choices = escalationChoices(members, "carol@x");
    expect(choices.map((c) => c.label)).toEqual(["無", "所有擁有者", "所有編輯者", "所有檢視者", "Ana Wu（ana@x）", "Bob Chen（bob@x）", "carol@x（已不是成員）"]);
    expect(scheduleSummary(settings({ max_repeats: 3, escalate_after: 2, escalate_to: "bob@x" }), choices)).toBe(
      "立即呼叫，之後每 2 分鐘一次，再重複 3 次，直到有人確認；連續 2 次未確認後，也會呼叫 Bob Chen（bob@x）。",
    );
    const refused = urgentPatch(settings(), formFromSettings(settings()));
    expect(refused).toEqual({ ok: false, error: "沒有要儲存的內容：所有設定都沒有變更。" });
  });
});

describe("escalation choices", () => {
  it("offers nobody, each role and each person, never a bot", () => {
    const values = escalationChoices(members, null).map((c) => c.value);
    expect(values).toEqual(["", "role:OWNER", "role:EDITOR", "role:VIEWER", "ana@x", "bob@x"]);
  });

  it("keeps a target that left the room, marked as such", () => {
    const choices = escalationChoices(members, "carol@x");
    expect(choices[choices.length - 1]).toEqual({ value: "carol@x", label: "carol@x (not a member)" });
  });
});

describe("webhooks", () => {
  it("makes the full address from the server's relative URL", () => {
    expect(hookAddress("/api/hooks/w1/s3cret", "https://andon.example.com")).toBe("https://andon.example.com/api/hooks/w1/s3cret");
    expect(hookAddress("/api/hooks/w1/s3cret", "http://127.0.0.1:8000/")).toBe("http://127.0.0.1:8000/api/hooks/w1/s3cret");
    expect(hookAddress("https://other.example/api/hooks/w1/s", "http://x")).toBe("https://other.example/api/hooks/w1/s");
  });

  it("checks the name as the server does", () => {
    expect(checkWebhookName("  ")).toMatch(/Name the webhook/);
    expect(checkWebhookName("x".repeat(101))).toMatch(/at most 100/);
    expect(checkWebhookName(` ${"x".repeat(100)} `)).toBeNull();
  });

  it("decodes the list without secrets and the creation answer with its URL", () => {
    const hook = {
      webhook_id: "w1",
      room_id: "r1",
      name: "Prometheus",
      mode: "room_per_alert",
      resolve_room: true,
      bot_user_id: "webhook-w1@bots.andon.invalid",
      created_by: "ana@x",
      created_at: "2026-12-04T08:00:00.000Z",
    };
    expect(decode(webhookList, { webhooks: [hook] }).webhooks[0]).toEqual(hook);
    expect(decode(createdWebhook, { ...hook, url: "/api/hooks/w1/s" }).url).toBe("/api/hooks/w1/s");
    expect(() => decode(createdWebhook, hook)).toThrow(DecodeError);
    expect(() => decode(webhookList, { webhooks: [{ ...hook, mode: "email" }] })).toThrow(DecodeError);
  });

  it("decodes the urgent settings, nulls for no escalation", () => {
    const raw = { room_id: "r1", repeat_seconds: 120, max_repeats: 5, escalate_after: null, escalate_to: null, alerts: true };
    expect(decode(urgentSettings, raw)).toEqual(raw);
    expect(() => decode(urgentSettings, { ...raw, repeat_seconds: "120" })).toThrow(DecodeError);
  });
});
