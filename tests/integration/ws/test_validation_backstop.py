"""The periodic validation of room sockets (every WS_PING_INTERVAL): the backstop for a revoked
token or a removed member whose pub/sub message was lost. Changes are written straight into
PostgreSQL here, so only the validation can see them."""

from __future__ import annotations

import uuid

import asyncpg

from api.domain.auth.credentials import token_digest
from tests.support.clients import Api


async def test_validation_closes_sockets_whose_token_or_membership_changed_unannounced(
    server_factory, database_url: str
) -> None:
    srv = server_factory(WS_PING_INTERVAL="1")
    local = Api(srv.base_url, database_url)
    try:
        owner, removed, revoked, promoted = [await local.user(n) for n in ("owner", "removed", "revoked", "promoted")]
        room = await local.room_with(owner, (removed, "EDITOR"), (revoked, "EDITOR"), (promoted, "VIEWER"))
        sockets = {u.user_id: await local.connect(u, room) for u in (owner, removed, revoked, promoted)}
        pg = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            room_uuid = uuid.UUID(room)
            await pg.execute(
                "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2", room_uuid, removed.user_id
            )
            await pg.execute(
                "UPDATE auth_tokens SET revoked_at = now() WHERE token_hash = $1", token_digest(revoked.token)
            )
            await pg.execute(
                "UPDATE room_members SET role = 'EDITOR' WHERE room_id = $1 AND user_id = $2",
                room_uuid,
                promoted.user_id,
            )
        finally:
            await pg.close()
        assert await sockets[removed.user_id].closed_with(timeout=15) == 4403
        assert await sockets[revoked.user_id].closed_with(timeout=15) == 4401
        # The others stay: a changed role is taken over, an unchanged member is left alone.
        for user in (owner, promoted):
            ws = sockets[user.user_id]
            await ws.send({"type": "message", "content": f"still here {user.user_id}", "client_id": user.user_id})
            ack = await ws.next("ack")
            assert ack["client_id"] == user.user_id
    finally:
        await local.aclose()
