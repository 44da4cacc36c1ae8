"""Migrations upgrade from empty and downgrade back."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from api.domain.core.db import downgrade, migrate
from tests.conftest import admin_url


def test_upgrade_from_empty_and_downgrade_back() -> None:
    name = f"andon_mig_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url())
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def tables(url: str) -> set[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {r["tablename"] for r in rows}
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base, _, query = admin_url().partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    try:
        migrate(url)
        assert {
            "tr_users",
            "incident_rooms",
            "room_members",
            "messages",
            "message_edits",
            "outbox",
            "audit_log",
        } <= asyncio.run(tables(url))
        downgrade(url, "base")
        assert asyncio.run(tables(url)) <= {"alembic_version"}
        migrate(url)
        assert "messages" in asyncio.run(tables(url))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
