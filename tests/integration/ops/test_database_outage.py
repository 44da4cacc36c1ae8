"""While PostgreSQL cannot be reached, REST answers 503 with Retry-After (not 500), and recovers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlsplit, urlunsplit

from tests.integration.ops.support import log_records
from tests.support.clients import Api
from tests.support.servers import free_port


class _Proxy:
    """A TCP relay to PostgreSQL that the test can cut: new connections are refused, open ones dropped.

    It runs on an event loop of its own, in a thread: starting a server blocks the test's loop.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    def cut(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cut(), self.loop).result(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for w in list(self.links):
            w.transport.abort()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):  # a cut link ends the pipe
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_rest_answers_503_while_the_database_is_unreachable(
    server_factory, database_url: str, api: Api
) -> None:
    parts = urlsplit(database_url)
    proxy = _Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.start()
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    via_proxy = urlunsplit(parts._replace(netloc=netloc))
    srv = server_factory(DATABASE_URL=via_proxy)
    owner = await api.user("owner")
    remote = Api(srv.base_url, database_url)
    try:
        ok = await remote.http.get("/api/rooms", headers=owner.headers)
        assert ok.status_code == 200
        proxy.cut()
        for _ in range(3):
            r = await remote.http.get("/api/rooms", headers=owner.headers)
            assert r.status_code == 503, r.text
            assert r.headers.get("retry-after") == "2"
            assert r.json()["status_code"] == 503
        records = log_records(srv.log())
        assert not any(r.get("level") == "ERROR" for r in records), "an outage is not logged as an error"
        assert sum("database unreachable" in str(r.get("msg")) for r in records) == 1
        assert "Traceback" not in srv.log()
    finally:
        await remote.aclose()
        srv.stop()
        proxy.stop()
