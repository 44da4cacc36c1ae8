"""On a Redis Cluster too, a crashed server process's users drop out of presence within
WS_PING_INTERVAL + WS_PONG_TIMEOUT: the heartbeat's check for expired process entries runs as
plain commands on each room's slot (the full re-read of every room comes only every sixth beat,
7.5 s here)."""

from __future__ import annotations

import time

from tests.support.clients import Api


async def test_users_of_a_killed_process_go_offline_on_a_cluster(cluster_server, database_url: str) -> None:
    fast = {"WS_PING_INTERVAL": "3", "WS_PONG_TIMEOUT": "2"}
    a_srv, b_srv = cluster_server(**fast), cluster_server(**fast)
    a, b = Api(a_srv.base_url, database_url), Api(b_srv.base_url, database_url)
    try:
        owner, editor = await a.user("owner"), await a.user("ed")
        room_id = await a.room_with(owner, (editor, "EDITOR"))
        watcher = await a.connect(owner, room_id)
        await b.connect(editor, room_id)
        presence = await watcher.next("presence")
        while {u["user_id"] for u in presence["online"]} != {owner.user_id, editor.user_id}:
            presence = await watcher.next("presence")
        killed_at = time.monotonic()
        b_srv.kill()  # SIGKILL: no goodbye, no cleanup
        while True:
            presence = await watcher.next("presence", timeout=15)
            if [u["user_id"] for u in presence["online"]] == [owner.user_id]:
                break
        assert time.monotonic() - killed_at < 5.0
        await watcher.close()
    finally:
        await a.aclose()
        await b.aclose()
