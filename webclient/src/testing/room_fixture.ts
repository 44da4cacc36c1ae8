import { MemoryOutbox } from "../net/memory_outbox";
import { RoomSession } from "../session/room_session";
import { MemoryStore } from "../state/settings";
import { FakeApi } from "./fake_api";
import { FakeClock } from "./fake_clock";
import { FakeSocketServer } from "./fake_socket";
import { connectedFrame, flush, ME, ROOM, syncComplete } from "./fixtures";

/** A live room session on fakes, for view tests. */
export async function liveRoom(): Promise<{ room: RoomSession; server: FakeSocketServer; clock: FakeClock }> {
  const server = new FakeSocketServer();
  const clock = new FakeClock();
  let ids = 0;
  const room = new RoomSession({
    roomId: ROOM,
    me: { user_id: ME, display_name: "Me", is_admin: false },
    config: { display_timezone: "Asia/Taipei", edit_window_seconds: 900, typing_timeout: 3 },
    api: new FakeApi(),
    outbox: new MemoryOutbox(),
    socketFactory: server.factory,
    socketUrl: (r, since) => `ws://test/ws/${r}?since=${since}`,
    clock,
    random: () => 0.5,
    newClientId: () => `c-${++ids}`,
    storage: new MemoryStore(),
    isFocused: () => true,
    initialRole: "EDITOR",
  });
  await room.start();
  await flush();
  server.last.open();
  server.last.receive(connectedFrame(0));
  server.last.receive(syncComplete(0));
  await flush();
  return { room, server, clock };
}
