"""Tests of the user-stream load generator: its pure parts, its checks on crafted frames, and a
tiny run of both scenarios against a real `andon serve` (own database, own Redis prefix).

Run with `pytest bench` (like test_ws_load.py; the CI suite collects `tests/` only). The
end-to-end part needs PostgreSQL and Redis (this machine's, or ANDON_TEST_PG_ADMIN_URL /
ANDON_TEST_REDIS_URL) and is skipped without them; it takes about 15 s.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import user_stream_load as usl

HERE = Path(__file__).resolve().parent
ADMIN_URL = os.environ.get("ANDON_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ANDON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# -- plans ---------------------------------------------------------------------------------------------


def test_memberships_are_distinct_rooms_and_depend_only_on_the_seed():
    plan = usl.plan_memberships(users=300, rooms=200, per_user=50, seed=13)
    assert all(len(set(rooms)) == 50 and all(0 <= r < 200 for r in rooms) for rooms in plan)
    assert plan == usl.plan_memberships(users=300, rooms=200, per_user=50, seed=13)
    assert plan != usl.plan_memberships(users=300, rooms=200, per_user=50, seed=14)
    per_room = Counter(r for rooms in plan for r in rooms)
    assert len(per_room) == 200  # every room has members at this density
    with pytest.raises(ValueError):
        usl.plan_memberships(users=1, rooms=3, per_user=4, seed=1)


def test_message_schedule_is_absolute_and_spread_over_the_rooms():
    plan = usl.plan_messages(total=400, rooms=200, rate=200.0, spread="even", seed=1)
    assert [off for off, _ in plan[:3]] == [0, 5_000_000, 10_000_000]
    assert plan[399][0] == round(399 * 1e9 / 200)
    assert Counter(r for _, r in plan) == Counter({r: 2 for r in range(200)})
    rnd = usl.plan_messages(total=4000, rooms=200, rate=200.0, spread="random", seed=13)
    assert rnd == usl.plan_messages(total=4000, rooms=200, rate=200.0, spread="random", seed=13)
    assert [off for off, _ in rnd] == [off for off, _ in usl.plan_messages(4000, 200, 200.0, "even", 13)]
    assert len({r for _, r in rnd}) == 200


# -- delivery of a message at a stream --------------------------------------------------------------


def test_each_message_is_delivered_by_the_first_frame_at_or_past_its_number():
    events = [1, 1_000, 2, 2_000, 3, 3_000]
    msgs = [(1, 100), (2, 1_500), (3, 2_900)]
    assert usl.deliveries(events, msgs, baseline=0) == ([(1, 900), (2, 500), (3, 100)], 0)


def test_a_coalesced_frame_delivers_every_earlier_number_at_its_arrival():
    events = [1, 1_000, 4, 5_000]  # 2, 3 and 4 came in one frame
    msgs = [(1, 0), (2, 2_000), (3, 3_000), (4, 4_000)]
    got, missing = usl.deliveries(events, msgs, baseline=0)
    assert got == [(1, 1_000), (2, 3_000), (3, 2_000), (4, 1_000)]
    assert missing == 0


def test_numbers_never_reached_are_missing_and_the_snapshot_ones_are_not_deliveries():
    got, missing = usl.deliveries([6, 10], [(5, 0), (6, 1), (7, 2), (8, 3)], baseline=5)
    assert got == [(6, 9)]
    assert missing == 2
    assert usl.deliveries([], [(1, 0)], baseline=0) == ([], 1)


def test_urls_and_patterns():
    assert usl.user_stream_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/ws"
    assert usl.user_stream_url("https://localhost:8443") == "wss://localhost:8443/ws"
    assert usl.pattern_escape("a*b?[c]") == "a\\*b\\?\\[c\\]"


# -- what a stream checks, on crafted frames ------------------------------------------------------


ROOMS = [f"00000000-0000-0000-0000-{i:012d}" for i in range(4)]


def _stream(run_id: str = "r1") -> tuple[usl.StreamConn, usl.StreamState]:
    run = {"run_id": run_id, "room_ids": ROOMS}
    state = usl.StreamState(run)
    conn = usl.StreamConn({"index": 0, "user_id": "u@x", "token": "t", "rooms": [0, 1]}, run, state)
    return conn, state


def _entry(room_id: str, lsn: int, unread: int) -> dict[str, Any]:
    return {
        "room_id": room_id,
        "title": "t",
        "status": "active",
        "role": "EDITOR",
        "last_sequence_number": lsn,
        "unread_count": unread,
        "unread_mentions": 0,
        "last_message_at": None,
        "preview": None,
    }


def _connected(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "connected",
        "user_id": "u@x",
        "server_time": "2026-12-04T08:00:00.000Z",
        "rooms": list(entries),
    }


def _activity(room_id: str, lsn: int, unread: int, content: str = "x") -> bytes:
    preview = {
        "message_id": "m",
        "sender_id": "s",
        "sender_display_name": "S",
        "message_type": "text",
        "content": content,
        "created_at": "2026-12-04T08:00:00.000Z",
    }
    frame = {
        "type": "room_activity",
        "room_id": room_id,
        "last_sequence_number": lsn,
        "unread_count": unread,
        "unread_mentions": 0,
        "last_message_at": "2026-12-04T08:00:00.000Z",
        "preview": preview,
    }
    return json.dumps(frame).encode()


def test_a_clean_stream_records_one_step_per_new_number():
    conn, state = _stream()
    conn._snapshot(_connected(_entry(ROOMS[0], 3, 1), _entry(ROOMS[1], 0, 0)))
    assert state.snapshot_mismatch == 0 and not state.violations
    conn.on_frames([_activity(ROOMS[0], 4, 2), _activity(ROOMS[0], 6, 4)])
    conn.on_frames([_activity(ROOMS[1], 1, 1)])
    assert conn.events[ROOMS[0]][0::2] == [4, 6]
    assert conn.events[ROOMS[1]][0::2] == [1]
    assert conn.behind({ROOMS[0]: 6, ROOMS[1]: 2}) == [ROOMS[1]]
    assert (state.foreign, state.regressed, state.repeated, state.unread_mismatch) == (0, 0, 0, 0)
    assert state.activity_frames == 3


def test_a_delivery_is_timed_at_the_read_not_at_the_parse():
    conn, _state = _stream()
    conn._snapshot(_connected(_entry(ROOMS[0], 0, 0), _entry(ROOMS[1], 0, 0)))
    conn.on_frames([_activity(ROOMS[0], 1, 1), _activity(ROOMS[0], 2, 2)], 12_345)
    assert conn.events[ROOMS[0]] == [1, 12_345, 2, 12_345]


def test_deferred_parsing_keeps_each_read_and_digests_it_as_live_parsing_would():
    live, live_state = _stream()
    kept, kept_state = _stream()
    snapshot = _connected(_entry(ROOMS[0], 0, 0), _entry(ROOMS[1], 0, 0))
    reads = [
        ([_activity(ROOMS[0], 1, 1), _activity(ROOMS[0], 2, 2)], 100),
        ([_activity(ROOMS[1], 1, 1)], 200),
        ([_activity(ROOMS[0], 2, 2), _activity("elsewhere", 9, 9)], 300),  # a repeat, a foreign room
    ]
    for conn in (live, kept):
        conn._snapshot(snapshot)
    for batch, arrived in reads:
        live.on_frames(batch, arrived)
        kept.keep(batch, arrived)
    assert kept.events == {ROOMS[0]: [], ROOMS[1]: []} and kept.last_arrival == 300
    assert kept.behind({ROOMS[0]: 2}) == [ROOMS[0]]  # nothing parsed before the digest
    kept.digest()
    assert kept.inbox == []
    assert kept.events == live.events == {ROOMS[0]: [1, 100, 2, 100], ROOMS[1]: [1, 200]}
    assert kept.max_lsn == live.max_lsn
    for field in ("foreign", "repeated", "regressed", "unread_mismatch", "activity_frames"):
        assert getattr(kept_state, field) == getattr(live_state, field), field
    assert (kept_state.foreign, kept_state.repeated) == (1, 1)


def test_foreign_rooms_regressions_repeats_and_wrong_counts_are_counted():
    conn, state = _stream()
    conn._snapshot(_connected(_entry(ROOMS[0], 0, 0), _entry(ROOMS[1], 0, 0)))
    conn.on_frames(
        [
            _activity(ROOMS[2], 1, 1),  # not a member
            _activity(ROOMS[0], 2, 2),
            _activity(ROOMS[0], 2, 2),  # nothing new
            _activity(ROOMS[0], 1, 1),  # backwards
            _activity(ROOMS[1], 3, 1),  # unread should be 3
            b"not json",
        ]
    )
    assert state.foreign == 1
    assert state.repeated == 1
    assert state.regressed == 1
    assert state.unread_mismatch == 1
    assert state.violations["invalid_json_from_server"] == 1


def test_a_snapshot_without_exactly_the_users_rooms_is_a_mismatch():
    conn, state = _stream()
    conn._snapshot(_connected(_entry(ROOMS[0], 0, 0), _entry(ROOMS[3], 0, 0)))
    assert state.snapshot_mismatch == 1
    conn, state = _stream()
    conn._snapshot(_connected(_entry(ROOMS[0], 0, 0), _entry(ROOMS[1], 0, 0), _entry(ROOMS[1], 0, 0)))
    assert state.snapshot_mismatch == 1


def test_the_final_preview_must_be_the_last_message():
    conn, state = _stream("abcd")
    conn._snapshot(_connected(_entry(ROOMS[0], 0, 0), _entry(ROOMS[1], 0, 0)))
    conn.on_frames([_activity(ROOMS[0], 2, 2, content='{"b":"abcd","s":0,"n":1,"t":5}')])
    conn.connected = True  # as `open` leaves it
    ok = usl.export_streams(state, [conn], {0: [(1, 0), (2, 0)]}, {ROOMS[0]: 2}, {ROOMS[0]: (0, 1)}, ROOMS)
    assert ok["preview_mismatch"] == 0 and ok["left_behind"] == 0
    assert ok["pair_lat"] and ok["missing_pairs"] == 0
    bad = usl.export_streams(state, [conn], {0: [(1, 0), (2, 0)]}, {ROOMS[0]: 2}, {ROOMS[0]: (0, 0)}, ROOMS)
    assert bad["preview_mismatch"] == 1


# -- end to end, against a real server ------------------------------------------------------------------


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not (_reachable(ADMIN_URL, 5432) and _reachable(REDIS_URL, 6379)):
        pytest.skip("needs PostgreSQL and Redis")
    from tests.support.servers import start_server
    from tests.support.workers import fresh_database

    prefix = f"usbenchtest{uuid.uuid4().hex[:8]}"
    with fresh_database(ADMIN_URL) as db_url:
        env = {
            "DATABASE_URL": db_url,
            "REDIS_URL": REDIS_URL,
            "ANDON_REDIS_PREFIX": prefix,
            "ANDON_DATA_DIR": str(tmp_path_factory.mktemp("andon-data")),
            "RATE_LIMIT_PER_SECOND": "100000",
            "RATE_LIMIT_BURST": "100000",
            "LOG_LEVEL": "INFO",
            "DB_POOL_SIZE": "3",
            "DB_MAX_OVERFLOW": "12",
        }
        server = start_server(env, timeout=60)
        try:
            yield {"server": server, "db_url": db_url, "prefix": prefix}
        finally:
            server.stop()


def _run_bench(live: dict[str, Any], *args: str, timeout: float = 60.0) -> tuple[int, dict[str, Any], str]:
    server = live["server"]
    cmd = [
        sys.executable,
        str(HERE / "user_stream_load.py"),
        "--url",
        server.base_url,
        "--database-url",
        live["db_url"],
        "--redis-url",
        REDIS_URL,
        "--redis-prefix",
        live["prefix"],
        "--server-pid",
        str(server.pid),
        "--settle",
        "0",
        "--connect-timeout",
        "10",
        "--ack-timeout",
        "10",
        "--drain-timeout",
        "10",
        "--max-seconds",
        "45",
        *args,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the generator and its worker processes
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"user_stream_load.py did not finish within {timeout}s:\n{err[-3000:]}")
    lines = out.strip().splitlines()
    assert lines, f"no JSON on stdout (exit {proc.returncode}):\n{err[-3000:]}"
    return proc.returncode, json.loads(lines[-1]), err


def _expected_pairs(users: int, rooms: int, per_user: int, messages: int, rate: float, seed: int = 13) -> int:
    members = Counter(r for rs in usl.plan_memberships(users, rooms, per_user, seed) for r in rs)
    return sum(members[r] for _, r in usl.plan_messages(messages, rooms, rate, "random", seed))


def _check_common(report: dict[str, Any], err: str, messages: int, expected_pairs: int) -> None:
    assert "error" not in report and "aborted" not in report, err[-3000:]
    assert report["send"]["acked"] == messages
    delivery = report["delivery"]
    assert delivery["expected_pairs"] == expected_pairs
    assert delivery["delivered_pairs"] == expected_pairs
    assert delivery["missing_pairs"] == 0 and delivery["messages_not_received_by_all"] == 0
    for key in ("delivery_latency_ms", "delivery_all_latency_ms", "ack_latency_ms"):
        summary = report[key]
        assert set(summary) == {"count", "min", "mean", "p50", "p95", "p99", "max"}
        assert 0 < summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]
    assert report["delivery_latency_ms"]["count"] == expected_pairs
    assert report["delivery_all_latency_ms"]["count"] == messages
    assert sum(s["count"] for s in report["delivery_all_latency_ms_by_second"]) == messages
    integrity = report["integrity"]
    for key in (
        "rooms_left_behind",
        "foreign_room_frames",
        "sequence_regressions",
        "snapshot_room_set_mismatch",
        "unread_count_mismatch",
        "final_preview_mismatch",
    ):
        assert integrity[key] == 0, (key, integrity)
    assert integrity["all_zero"] is True
    cpu = report["cpu_during_run"]
    assert cpu["server_cpu_seconds"] >= 0 and "server_cpu_ms_per_message" in cpu
    redis = report["redis"]
    assert redis["prefix_publishes"]["total"] > 0
    assert redis["prefix_publishes_per_message"] > 0
    assert "publish" in redis["commandstats_delta"]
    assert not report["closes_by_code"] and not report["errors_by_code"]
    assert report["protocol_ok"] is True, report["protocol_violations"]
    assert report["ok"] is True


@pytest.mark.parametrize("parse", ["deferred", "live"])
def test_tiny_streams_scenario_end_to_end(live_server: dict[str, Any], parse: str) -> None:
    users, rooms, per_user, messages, rate = 20, 10, 4, 40, 80.0
    rc, report, err = _run_bench(
        live_server,
        "--scenario",
        "streams",
        "--users",
        str(users),
        "--rooms",
        str(rooms),
        "--rooms-per-user",
        str(per_user),
        "--sender-users",
        "2",
        "--messages",
        str(messages),
        "--rate",
        str(rate),
        "--procs",
        "1",
        "--parse",
        parse,
    )
    _check_common(report, err, messages, _expected_pairs(users, rooms, per_user, messages, rate))
    assert rc == 0
    assert report["connect"]["streams"] == {"requested": users, "connected": users}
    assert report["connect"]["room_sockets"] == {"requested": rooms, "connected": rooms}
    assert report["integrity"]["room_pairs_checked"] == users * per_user
    assert report["config"]["parse"] == parse
    assert [t["metric"] for t in report["targets"]] == [
        "delivery_latency_ms.p99",
        "redis.prefix_publishes_per_message",
    ]


def test_tiny_bigroom_scenario_end_to_end(live_server: dict[str, Any]) -> None:
    users, messages = 50, 3
    rc, report, err = _run_bench(
        live_server, "--scenario", "bigroom", "--users", str(users), "--messages", str(messages),
        "--rate", "10", "--procs", "1",
    )  # fmt: skip
    _check_common(report, err, messages, users * messages)
    assert rc == 0
    assert report["setup"]["members_per_room"] == {"min": users, "mean": float(users), "max": users}
    assert [t["metric"] for t in report["targets"]] == [
        "delivery_all_latency_ms.p99",
        "delivery_latency_ms.p99",
    ]
