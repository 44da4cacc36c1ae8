import type { Connectivity, ConnectivityEvent } from "../platform/connectivity";

/** The browser's online/offline/visible events, fired by the test. */
export class FakeConnectivity implements Connectivity {
  online = true;
  private readonly listeners = new Set<(event: ConnectivityEvent) => void>();

  isOnline(): boolean {
    return this.online;
  }

  subscribe(listener: (event: ConnectivityEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  fire(event: ConnectivityEvent): void {
    if (event === "offline") this.online = false;
    if (event === "online") this.online = true;
    for (const l of [...this.listeners]) l(event);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
