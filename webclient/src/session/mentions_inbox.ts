/** The mentions inbox page's state over the REST API; no DOM. */
import { t } from "../i18n";
import { signal, type Signal } from "@preact/signals";
import type { ApiClient } from "../net/http";
import type { MentionsPosition } from "../net/schemas";
import { emptyInbox, inboxReducer, type InboxAction, type InboxState } from "../state/mentions_inbox";

export const MENTIONS_PAGE_SIZE = 20;

export class MentionsInbox {
  readonly state: Signal<InboxState> = signal(emptyInbox);
  private generation = 0;

  constructor(
    private readonly api: Pick<ApiClient, "mentions">,
    private readonly pageSize = MENTIONS_PAGE_SIZE,
  ) {}

  /** Loads the newest page, replacing what is shown. */
  async load(): Promise<void> {
    const generation = ++this.generation;
    await this.fetch(null, true, generation);
  }

  /** Appends the next older page ("Load more"). */
  async loadMore(): Promise<void> {
    const s = this.state.value;
    if (s.loading || !s.hasMore || s.next === null) return;
    await this.fetch(s.next, false, this.generation);
  }

  private async fetch(after: MentionsPosition | null, reset: boolean, generation: number): Promise<void> {
    this.dispatch({ type: "loading" });
    try {
      const page = await this.api.mentions({ limit: this.pageSize, after });
      if (generation !== this.generation) return; // a newer load replaced this one
      this.dispatch({ type: "page", page, reset });
    } catch (err) {
      if (generation !== this.generation) return;
      this.dispatch({ type: "failed", error: t("mentions.loadFailed", { detail: err instanceof Error ? err.message : String(err) }) });
    }
  }

  private dispatch(action: InboxAction): void {
    this.state.value = inboxReducer(this.state.value, action);
  }
}
