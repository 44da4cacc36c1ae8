import { describe, expect, it } from "vitest";
import { ApiError, NetworkError } from "../net/http";
import { MemoryStore } from "../state/settings";
import { PushOptIn, type PushEnv } from "./push_opt_in";
import { classifyPushError, describePush, loadPush, PUSH_TEXT, stateFromPermission, type Permission } from "./push_state";

function dom(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

class FakeEnv implements PushEnv {
  subscribeCalls = 0;
  constructor(
    public perm: Permission = "default",
    public answer: NotificationPermission = "granted",
    public failWith: unknown = null,
    public supported = true,
  ) {}
  permission(): Permission {
    return this.perm;
  }
  pushSupported(): boolean {
    return this.supported;
  }
  async requestPermission(): Promise<NotificationPermission> {
    this.perm = this.answer;
    return this.answer;
  }
  async subscribe(): Promise<void> {
    this.subscribeCalls += 1;
    if (this.failWith) throw this.failWith;
  }
}

const NOW = () => new Date("2026-12-04T10:00:00.000Z");

describe("PushOptIn", () => {
  it("is on only once the subscription worked, and stores that", async () => {
    const store = new MemoryStore();
    const m = new PushOptIn(new FakeEnv(), store, NOW);
    expect(m.state.value).toEqual({ kind: "off" });
    await m.enable();
    expect(m.state.value).toEqual({ kind: "on" });
    expect(loadPush(store)).toEqual({ permission: "granted", state: { kind: "on" }, dismissed: false, at: "2026-12-04T10:00:00.000Z" });
  });

  it("granted permission with no push service is failed, never on, and says what to do", async () => {
    const store = new MemoryStore();
    const env = new FakeEnv("default", "granted", dom("AbortError", "Registration failed - push service not available"));
    const m = new PushOptIn(env, store, NOW);
    await m.enable();
    expect(m.state.value).toEqual({ kind: "failed", reason: "no-push-service", detail: "Registration failed - push service not available" });
    expect(describePush(m.state.value).status).toBe("Not working");
    expect(describePush(m.state.value).explain).toBe(PUSH_TEXT.failed["no-push-service"]);
    expect(m.dismissed.value).toBe(false);
    expect(loadPush(store)?.state.kind).toBe("failed");
  });

  it("a refusal is blocked and stays visible after the person's action; a dismissal is remembered", async () => {
    const store = new MemoryStore();
    const m = new PushOptIn(new FakeEnv("default", "denied"), store, NOW);
    await m.enable();
    expect(m.state.value).toEqual({ kind: "blocked" });
    expect(m.fromAction.value).toBe(true);
    m.dismiss();
    expect(loadPush(store)?.dismissed).toBe(true);
  });

  it("closing the browser's prompt without answering leaves it off", async () => {
    const m = new PushOptIn(new FakeEnv("default", "default"), new MemoryStore(), NOW);
    await m.enable();
    expect(m.state.value).toEqual({ kind: "off" });
  });

  it("on page load, a stored failure shows until a new attempt; the same failure again stays dismissed", async () => {
    const store = new MemoryStore();
    const env = new FakeEnv("granted", "granted", dom("AbortError", "push service not available"));
    const first = new PushOptIn(env, store, NOW);
    await first.refresh();
    first.dismiss();
    const reloaded = new PushOptIn(env, store, NOW);
    expect(reloaded.state.value.kind).toBe("failed");
    await reloaded.refresh();
    expect(reloaded.state.value.kind).toBe("failed");
    expect(reloaded.dismissed.value).toBe(true);
    // A different failure is news: shown again.
    env.failWith = new ApiError(503, "unavailable");
    await reloaded.refresh();
    expect(reloaded.state.value).toMatchObject({ kind: "failed", reason: "server" });
    expect(reloaded.dismissed.value).toBe(false);
    // Try again after the cause is fixed: on.
    env.failWith = null;
    await reloaded.enable();
    expect(reloaded.state.value).toEqual({ kind: "on" });
  });

  it("a stored 'on' is not trusted before the subscription is checked again", async () => {
    const store = new MemoryStore();
    await new PushOptIn(new FakeEnv("granted"), store, NOW).refresh();
    expect(loadPush(store)?.state.kind).toBe("on");
    const env = new FakeEnv("granted", "granted", dom("NotAllowedError", "Registration failed - permission denied"));
    const m = new PushOptIn(env, store, NOW);
    expect(m.state.value.kind).toBe("working");
    await m.refresh();
    expect(m.state.value).toMatchObject({ kind: "failed", reason: "permission-denied" });
  });

  it("without the Push API it is unsupported, even when page notifications are allowed", async () => {
    const env = new FakeEnv("default", "granted", null, false);
    const m = new PushOptIn(env, new MemoryStore(), NOW);
    expect(m.state.value).toEqual({ kind: "unsupported" });
    await m.enable();
    expect(m.state.value).toEqual({ kind: "unsupported" });
    expect(env.subscribeCalls).toBe(0);
    const none = new PushOptIn(new FakeEnv("unsupported"), new MemoryStore(), NOW);
    await none.enable();
    expect(none.state.value.kind).toBe("unsupported");
  });

  it("a blocked permission on load is blocked, not failed, and not shown as the person's action", async () => {
    const m = new PushOptIn(new FakeEnv("denied"), new MemoryStore(), NOW);
    await m.refresh();
    expect(m.state.value).toEqual({ kind: "blocked" });
    expect(m.fromAction.value).toBe(false);
  });
});

describe("classifyPushError", () => {
  it.each([
    [dom("AbortError", "Registration failed - push service not available"), "no-push-service"],
    [dom("NotSupportedError", "no applicationServerKey"), "no-push-service"],
    [dom("NotAllowedError", "Registration failed - permission denied"), "permission-denied"],
    [dom("NotAllowedError", "Not allowed in incognito"), "private-mode"],
    [dom("SecurityError", "The operation is insecure."), "private-mode"],
    [dom("InvalidStateError", "storage unavailable"), "private-mode"],
    [dom("PushWorkerTimeout", "the service worker did not become ready"), "no-worker"],
    [new ApiError(500, "boom"), "server"],
    [new NetworkError(new TypeError("Failed to fetch")), "offline"],
    [new Error("???"), "unknown"],
    ["just a string", "unknown"],
  ])("%s is %s", (err, reason) => {
    expect(classifyPushError(err).reason).toBe(reason);
  });
});

describe("stored state", () => {
  it("ignores garbage in localStorage", () => {
    const store = new MemoryStore();
    store.setItem("andon.push.v1", "{not json");
    expect(loadPush(store)).toBeNull();
    store.setItem("andon.push.v1", JSON.stringify({ permission: "granted", state: { kind: "failed", reason: "nope" } }));
    expect(loadPush(store)).toBeNull();
    store.setItem("andon.push.v1", JSON.stringify({ permission: "maybe", state: { kind: "on" } }));
    expect(loadPush(store)).toBeNull();
  });
  it("derives the pre-subscription state from the permission", () => {
    expect(stateFromPermission(true, "default")).toEqual({ kind: "off" });
    expect(stateFromPermission(true, "denied")).toEqual({ kind: "blocked" });
    expect(stateFromPermission(true, "granted")).toEqual({ kind: "working" });
    expect(stateFromPermission(false, "granted")).toEqual({ kind: "unsupported" });
  });
});
