"""Generate the search benchmark corpus straight into PostgreSQL with COPY.

1,000,000 messages in 500 rooms (one room of 200,000, the rest ~1,600 each), written by 2,000
users who each belong to 10 rooms (30% of them to the big room), as factory-incident chat in
English, Chinese and both: line stops, temperatures, pressures, part numbers PJ-xxxx, moulds,
yield, 設備 / 溫度 / 壓力 / 良率 / 模具 ... About 8% are `incident_data` (the JSON in `data`,
its text rendering in the index), 2% image and 1% file references.

Rows go to tr_users, incident_rooms, room_members, messages and search_documents (whose
tsvector is built by `search.postgres.tsvector_literal`, exactly as the backend does). The
secondary indexes of messages and search_documents are dropped before the load and rebuilt
from their own definitions afterwards, then everything is VACUUM ANALYZEd.

    python bench/gen_corpus.py --url postgresql://postgres@127.0.0.1:5432/andon_bench --create

Prints a JSON summary (row counts, seconds per phase). `--create` makes the database and runs
the migrations; without it the database must already be migrated to head.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.documents import incident_data_text
from search.pg_tsearch import tsvector_literal

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

EQUIP_EN = [
    "pump",
    "conveyor",
    "press",
    "furnace",
    "oven",
    "compressor",
    "chiller",
    "robot arm",
    "spindle",
    "injection molding machine",
    "extruder",
    "boiler",
    "cooling tower",
    "AGV",
    "SMT line",
    "reflow oven",
    "wave solder",
    "CNC",
    "lathe",
    "grinder",
    "hydraulic unit",
    "vacuum pump",
    "dryer",
    "mixer",
    "packaging machine",
    "labeler",
    "palletizer",
    "crane",
    "welder",
    "paint booth",
    "kiln",
    "centrifuge",
]
EQUIP_ZH = [
    "設備",
    "馬達",
    "空壓機",
    "冷卻水塔",
    "射出機",
    "模具",
    "輸送帶",
    "烤箱",
    "加熱爐",
    "機械手臂",
    "真空泵",
    "油壓站",
    "鍋爐",
    "點膠機",
    "貼片機",
    "迴焊爐",
    "研磨機",
    "沖床",
    "乾燥機",
    "攪拌機",
]
FAULT_EN = [
    "overheating",
    "tripped",
    "jammed",
    "leaking oil",
    "vibration high",
    "alarm E-{code}",
    "stopped",
    "pressure drop",
    "noise from bearing",
    "sensor fault",
    "motor overload",
    "belt slipping",
    "coolant low",
    "door interlock open",
    "servo error",
    "encoder fault",
    "power dip",
    "air leak",
]
FAULT_ZH = [
    "溫度上升",
    "壓力異常",
    "停機",
    "漏油",
    "異音",
    "震動過大",
    "過載跳脫",
    "感測器故障",
    "冷卻水不足",
    "氣壓不足",
    "皮帶打滑",
    "卡料",
    "報警",
    "溫度過高",
    "壓力下降",
    "良率下降",
]
ACTIONS_EN = [
    "replaced {part}",
    "reset the breaker",
    "cleaned the filter",
    "called maintenance",
    "restarted it",
    "checked the wiring",
    "swapped {part} with a spare",
    "lowered the setpoint to {temp}C",
    "opened a ticket",
    "escalated to the shift lead",
    "isolated the line",
    "took a photo",
]
ACTIONS_ZH = [
    "已更換 {part}",
    "已通知保養",
    "重新啟動",
    "已清潔濾網",
    "請確認冷卻水",
    "請品保確認",
    "先停線",
    "調整參數到 {temp} 度",
    "等待備品",
    "已回報主管",
    "模具需要保養",
    "請確認壓力設定",
]
VENDORS = ["Bosch", "Siemens", "Omron", "Fanuc", "Yaskawa", "Mitsubishi", "ABB", "SMC", "Festo", "台達"]
SURNAMES_ZH = ["陳", "林", "黃", "張", "李", "王", "吳", "劉", "蔡", "楊", "許", "鄭", "謝", "郭", "洪"]
GIVEN_ZH = ["志明", "雅婷", "家豪", "怡君", "俊傑", "淑芬", "建宏", "美玲", "宗翰", "佳穎", "冠宇", "欣怡"]
FIRST_EN = [
    "Alice",
    "Bob",
    "Carol",
    "David",
    "Erin",
    "Frank",
    "Grace",
    "Henry",
    "Ivy",
    "Jack",
    "Kevin",
    "Lily",
]
LAST_EN = ["Chen", "Lin", "Wang", "Smith", "Huang", "Lee", "Nguyen", "Garcia", "Tsai", "Wu", "Kim", "Brown"]


def _part(r: random.Random) -> str:
    return f"PJ-{r.randrange(10000):04d}"


def _fill(template: str, r: random.Random) -> str:
    return template.format(
        part=_part(r),
        temp=r.randrange(40, 260),
        code=r.randrange(100, 999),
    )


def _text_message(r: random.Random) -> str:
    kind = r.random()
    line = r.randrange(1, 41)
    if kind < 0.35:
        equip = r.choice(EQUIP_EN)
        parts = [
            f"Line {line} {equip} {_fill(r.choice(FAULT_EN), r)}",
            _fill(r.choice(ACTIONS_EN), r),
        ]
        if r.random() < 0.4:
            parts.append(f"temperature {r.randrange(30, 260)}C pressure {r.randrange(1, 200)} bar")
        if r.random() < 0.3:
            parts.append(f"lot LOT-{r.randrange(100000):05d}, station {r.randrange(1, 30)}")
        return ", ".join(parts)
    if kind < 0.65:
        equip = r.choice(EQUIP_ZH)
        text = f"{line}線{equip}{r.choice(FAULT_ZH)}，{_fill(r.choice(ACTIONS_ZH), r)}"
        if r.random() < 0.4:
            text += f"，溫度 {r.randrange(30, 260)} 度，壓力 {r.randrange(1, 200)} bar"
        if r.random() < 0.3:
            text += f"，良率 {r.randrange(70, 100)}.{r.randrange(10)}%"
        return text
    if kind < 0.85:
        return (
            f"{_part(r)} {r.choice(EQUIP_ZH)}{r.choice(FAULT_ZH)} on line {line}, "
            f"{_fill(r.choice(ACTIONS_EN), r)}; {r.choice(VENDORS)} {_fill(r.choice(ACTIONS_ZH), r)}"
        )
    short = [
        "ok",
        "收到",
        "on my way",
        "馬上到",
        "thanks",
        "謝謝",
        "confirmed",
        "line restarted",
        "已恢復生產",
        "waiting for parts",
        "等備品",
        "shift handover done",
        "交接完成",
        "any update?",
        "有更新嗎？",
    ]
    return r.choice(short)


def _incident_data(r: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {
        "temperature": round(r.uniform(20, 260), 1),
        "pressure": round(r.uniform(0.5, 200), 1),
        "line": f"L{r.randrange(1, 41)}",
    }
    if r.random() < 0.5:
        data["yield"] = round(r.uniform(70, 100), 2)
    if r.random() < 0.3:
        data["part"] = _part(r)
    if r.random() < 0.2:
        data["note"] = r.choice(FAULT_ZH)
    return data


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    s = value if isinstance(value, str) else str(value)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _line(values: list[Any]) -> str:
    return "\t".join(_copy_text(v) for v in values) + "\n"


class Plan:
    """Rooms, users and memberships, decided up front from the seed."""

    def __init__(self, seed: int, rooms: int, messages: int, big_room: int, users: int, rooms_per_user: int):
        r = random.Random(seed)
        self.room_ids = [str(uuid.UUID(int=r.getrandbits(128), version=4)) for _ in range(rooms)]
        rest = messages - big_room
        base, extra = divmod(rest, rooms - 1)
        self.room_sizes = [big_room] + [base + (1 if i < extra else 0) for i in range(rooms - 1)]
        self.users: list[tuple[str, str]] = []
        for i in range(users):
            if i % 2:
                name = r.choice(SURNAMES_ZH) + r.choice(GIVEN_ZH)
            else:
                name = f"{r.choice(FIRST_EN)} {r.choice(LAST_EN)}"
            self.users.append((f"user{i:04d}@example.com", name))
        self.memberships: dict[str, list[str]] = {}
        self.members_of: dict[int, list[int]] = {i: [] for i in range(rooms)}
        for u in range(users):
            chosen = set()
            if r.random() < 0.3:
                chosen.add(0)
            while len(chosen) < rooms_per_user:
                chosen.add(r.randrange(1, rooms))
            self.memberships[self.users[u][0]] = [self.room_ids[i] for i in sorted(chosen)]
            for i in chosen:
                self.members_of[i].append(u)
        for i in range(rooms):
            if not self.members_of[i]:
                self.members_of[i].append(r.randrange(users))
        self.room_starts = [EPOCH - timedelta(days=r.uniform(1, 365)) for _ in range(rooms)]


# The plan, shared with forked workers (set before the pool starts).
_PLAN: Plan | None = None


def _seq_at(room_index: int, moment: datetime) -> int:
    """The first sequence number of a room whose message is at or after `moment`."""
    assert _PLAN is not None
    start = _PLAN.room_starts[room_index]
    span = (EPOCH - start).total_seconds()
    size = _PLAN.room_sizes[room_index]
    return max(1, math.ceil((moment - start).total_seconds() / span * (size + 1)))


def _slice_rows(args: tuple[int, datetime, datetime, int]) -> tuple[bytes, bytes, int]:
    """Rows for every room's messages created in [lo, hi), in creation order, as COPY text.

    The heap then holds messages in arrival order with rooms interleaved, as in production
    (loading room by room would make each room's rows contiguous and searches look faster).
    """
    slice_index, lo, hi, seed = args
    plan = _PLAN
    assert plan is not None
    rows: list[tuple[datetime, str, str]] = []
    for room_index, size in enumerate(plan.room_sizes):
        first = _seq_at(room_index, lo)
        last = min(size, _seq_at(room_index, hi) - 1)
        if first > last:
            continue
        r = random.Random(seed * 1_000_003 + slice_index * 1009 + room_index)
        room_id = plan.room_ids[room_index]
        start = plan.room_starts[room_index]
        span = (EPOCH - start).total_seconds()
        members = plan.members_of[room_index]
        for seq in range(first, last + 1):
            created = start + timedelta(seconds=span * seq / (size + 1))
            message_row, doc_row = _message(r, room_id, seq, created, members)
            rows.append((created, message_row, doc_row))
    rows.sort(key=lambda row: row[0])
    return (
        "".join(m for _, m, _ in rows).encode(),
        "".join(d for _, _, d in rows).encode(),
        len(rows),
    )


def _message(
    r: random.Random, room_id: str, seq: int, created: datetime, members: list[int]
) -> tuple[str, str]:
    """One message: its `messages` row and its `search_documents` row, as COPY text lines."""
    assert _PLAN is not None
    message_id = str(uuid.UUID(int=r.getrandbits(128), version=4))
    sender_id, sender_name = _PLAN.users[members[r.randrange(len(members))]]
    roll = r.random()
    data_json = None
    file_id = None
    file_url = None
    if roll < 0.08:
        mtype = "incident_data"
        data = _incident_data(r)
        data_json = json.dumps(data, ensure_ascii=False)
        content = None
        indexed = incident_data_text(data)
    elif roll < 0.10:
        mtype = "image_ref"
        content = f"photo: {r.choice(EQUIP_EN)} line {r.randrange(1, 41)} {r.choice(EQUIP_ZH)}"
        indexed = content
    elif roll < 0.11:
        mtype = "file_ref"
        content = f"{_part(r)} drawing rev {r.choice('ABCDE')}.pdf"
        indexed = content
    else:
        mtype = "text"
        content = _text_message(r)
        indexed = content
    if mtype in ("image_ref", "file_ref"):
        file_id = str(uuid.UUID(int=r.getrandbits(128), version=4))
        file_url = f"/api/files/{file_id}"
    ts = created.isoformat()
    message_row = _line(
        [
            message_id,
            room_id,
            seq,
            sender_id,
            mtype,
            content,
            data_json,
            "{}",
            file_id,
            file_url,
            None,
            ts,
            None,
            None,
            None,
            ts,
        ]
    )
    version = (created - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    doc_row = _line(
        [
            message_id,
            room_id,
            sender_id,
            sender_name,
            mtype,
            indexed,
            ts,
            seq,
            version,
            "f",
            tsvector_literal(indexed, sender_name),
            ts,
        ]
    )
    return message_row, doc_row


MESSAGE_COLUMNS = [
    "message_id",
    "room_id",
    "sequence_number",
    "sender_id",
    "message_type",
    "content",
    "data",
    "mentions",
    "file_id",
    "file_url",
    "client_id",
    "created_at",
    "edited_at",
    "deleted_at",
    "deleted_by",
    "updated_at",
]
DOC_COLUMNS = [
    "message_id",
    "room_id",
    "sender_id",
    "sender_display_name",
    "message_type",
    "content",
    "created_at",
    "sequence_number",
    "version",
    "deleted",
    "tsv",
    "indexed_at",
]


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _slices(plan: Plan, seed: int, count: int) -> Iterator[tuple[int, datetime, datetime, int]]:
    first = min(plan.room_starts)
    step = (EPOCH - first) / count
    for i in range(count):
        lo = first + step * i
        hi = EPOCH + timedelta(days=1) if i == count - 1 else first + step * (i + 1)
        yield i, lo, hi, seed


async def _secondary_indexes(conn: asyncpg.Connection, table: str) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        """
        SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = $1 AND NOT x.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
        """,
        table,
    )
    return [(r["name"], r["def"]) for r in rows]


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def create_database(url: str) -> None:
    """Create the database named in `url` (dropping an old one) and migrate it to head."""
    from sqlalchemy.engine import make_url

    from api.domain.core.db import migrate

    parsed = make_url(url)
    admin = await asyncpg.connect(_asyncpg_dsn(parsed.set(database="postgres").render_as_string(False)))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()
    await asyncio.to_thread(migrate, url)


async def generate(args: argparse.Namespace) -> dict[str, Any]:
    """Load the corpus; returns the summary printed as JSON."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if args.create:
        await create_database(args.url)
    timings["create_and_migrate_s"] = time.perf_counter() - t0
    plan = Plan(args.seed, args.rooms, args.messages, args.big_room, args.users, args.rooms_per_user)
    conn = await asyncpg.connect(_asyncpg_dsn(args.url))
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        saved: list[tuple[str, str]] = []
        for table in ("messages", "search_documents"):
            for name, definition in await _secondary_indexes(conn, table):
                saved.append((name, definition))
                await conn.execute(f'DROP INDEX "{name}"')

        t = time.perf_counter()
        await conn.copy_to_table(
            "tr_users",
            source=_single("".join(_line([u, n, "f", None]) for u, n in plan.users).encode()),
            columns=["user_id", "display_name", "is_admin", "password_hash"],
            format="text",
        )
        room_rows = "".join(
            _line(
                [
                    rid,
                    f"Incident room {i}" + (" (plant-wide)" if i == 0 else ""),
                    "",
                    "active",
                    plan.users[plan.members_of[i][0]][0],
                    plan.room_starts[i].isoformat(),
                    plan.room_starts[i].isoformat(),
                    plan.room_sizes[i],
                    EPOCH.isoformat(),
                ]
            )
            for i, rid in enumerate(plan.room_ids)
        )
        await conn.copy_to_table(
            "incident_rooms",
            source=_single(room_rows.encode()),
            columns=[
                "room_id",
                "title",
                "description",
                "status",
                "created_by",
                "created_at",
                "updated_at",
                "last_seq",
                "last_message_at",
            ],
            format="text",
        )
        member_rows = "".join(
            _line([rid, user, "EDITOR", EPOCH.isoformat(), 0])
            for user, rooms in plan.memberships.items()
            for rid in rooms
        )
        await conn.copy_to_table(
            "room_members",
            source=_single(member_rows.encode()),
            columns=["room_id", "user_id", "role", "joined_at", "last_read_seq"],
            format="text",
        )
        timings["users_rooms_members_s"] = time.perf_counter() - t

        t = time.perf_counter()
        done = 0
        global _PLAN
        _PLAN = plan
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            for msg_bytes, doc_bytes, count in pool.imap(_slice_rows, _slices(plan, args.seed, 400)):
                await conn.copy_to_table(
                    "messages", source=_single(msg_bytes), columns=MESSAGE_COLUMNS, format="text"
                )
                await conn.copy_to_table(
                    "search_documents", source=_single(doc_bytes), columns=DOC_COLUMNS, format="text"
                )
                done += count
                if not args.quiet and (done % 50_000 < count or done == args.messages):
                    print(f"\r{done:,} / {args.messages:,} messages", end="", file=sys.stderr, flush=True)
        if not args.quiet:
            print(file=sys.stderr)
        timings["copy_messages_s"] = time.perf_counter() - t

        t = time.perf_counter()
        for _name, definition in saved:
            await conn.execute(definition)
        timings["build_indexes_s"] = time.perf_counter() - t
        t = time.perf_counter()
        await conn.execute(
            "VACUUM (ANALYZE) tr_users, incident_rooms, room_members, messages, search_documents"
        )
        timings["vacuum_analyze_s"] = time.perf_counter() - t
        sizes = {
            r["name"]: r["size"]
            for r in await conn.fetch(
                """SELECT c.relname AS name, pg_size_pretty(pg_relation_size(c.oid)) AS size
                   FROM pg_class c WHERE c.relname IN ('messages', 'search_documents')
                      OR c.relname LIKE 'ix_search_documents%'"""
            )
        }
    finally:
        await conn.close()
    timings["total_s"] = time.perf_counter() - t0
    return {
        "messages": args.messages,
        "rooms": args.rooms,
        "big_room_messages": args.big_room,
        "users": args.users,
        "rooms_per_user": args.rooms_per_user,
        "seed": args.seed,
        "relation_sizes": sizes,
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="postgresql[+asyncpg]://... of the target database")
    parser.add_argument("--create", action="store_true", help="(re)create the database and migrate it")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--big-room", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rooms-per-user", type=int, default=10)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--workers", type=int, default=max(1, (multiprocessing.cpu_count() or 2)))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.big_room >= args.messages or args.rooms < 2:
        parser.error("need at least two rooms and more messages than the big room holds")
    print(json.dumps(asyncio.run(generate(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
