"""Tests of bench/scale_load.py: its pure parts, and one tiny run of all three scenarios against
real `andon serve` processes on a private PostgreSQL and Redis (Debian's binaries; skipped where
they are missing). Run with `pytest bench`; the tiny run takes 30-95 s.
"""

from __future__ import annotations

import json
import random
import shutil

import pytest
import scale_client
import scale_load


def test_backoff_is_the_web_clients_equal_jitter():
    rng = random.Random(1)
    first = [scale_client.backoff_delay(0, rng) for _ in range(200)]
    assert all(0.2 <= d <= 0.4 for d in first)
    assert max(first) - min(first) > 0.1  # jittered, not a constant
    late = [scale_client.backoff_delay(9, rng) for _ in range(200)]
    assert all(1.25 <= d <= 2.5 for d in late)  # capped at 2.5 s, half of it fixed


def test_message_frames_are_parsed_without_json_and_others_are_left_alone():
    frame = b'{"type":"message","message_id":"m","content":"t=123456","sequence_number":42,"reactions":{}}'
    assert scale_client.parse_message(frame) == (42, 123456)
    plain = b'{"type":"message","content":"hello","sequence_number":7}'
    assert scale_client.parse_message(plain) == (7, None)
    assert scale_client.parse_message(b'{"type":"presence","online":[]}') is None
    edited = b'{"type":"message_edited","content":"t=1","sequence_number":7}'
    assert scale_client.parse_message(edited) is None


def test_schedule_is_absolute_and_phased():
    assert scale_load.schedule(5.0, 1.0) == [0, 200_000_000, 400_000_000, 600_000_000, 800_000_000]
    assert scale_load.schedule(1.0, 2.0, 0.5) == [500_000_000, 1_500_000_000]
    assert scale_load.schedule(0.0, 10.0) == []


def test_sources_spread_sockets_over_loopback_addresses():
    assert scale_load.source(0) == "127.0.0.2"
    assert scale_load.source(19999) == "127.0.0.2"
    assert scale_load.source(20000) == "127.0.0.3"


def test_workers_results_merge_and_only_complete_messages_count_for_all():
    merged = scale_load.merge(
        [
            {"lat": {"big": [1], "small": []}, "per_message": [(0, 1, 0, 5_000_000, 2)], "closes": {"1006": 1}, "sent": 2},
            {"lat": {"big": [2], "small": [3]}, "per_message": [(0, 2, 0, 9_000_000, 1)], "closes": {"1006": 2}, "sent": 3},
        ]
    )
    assert merged["lat"] == {"big": [1, 2], "small": [3]}
    assert merged["closes"] == {"1006": 3} and merged["sent"] == 5
    assert scale_load.all_received(merged["per_message"], {0: 2}, {0}) == [5.0]


def test_one_message_seen_by_members_in_two_workers_is_combined():
    merged = scale_load.merge(
        [
            {"lat": {"big": [], "small": []}, "per_message": [(0, 1, 1_000_000, 4_000_000, 2)]},
            {"lat": {"big": [], "small": []}, "per_message": [(0, 1, 1_000_000, 9_000_000, 3)]},
        ]
    )
    assert merged["per_message"] == [(0, 1, 1_000_000, 9_000_000, 5)]
    assert scale_load.all_received(merged["per_message"], {0: 5}, {0}) == [8.0]
    assert scale_load.all_received(merged["per_message"], {0: 6}, {0}) == []  # one member never got it


def test_targets_are_checked_against_measured_values():
    report = {"catch_up_ms": {"p99": 4200.0}}
    assert scale_load.check_targets("storm", report) == [
        {"metric": "catch_up_ms.p99", "limit": "< 5000.0", "value": 4200.0, "met": True}
    ]
    assert scale_load.check_targets("storm", {"catch_up_ms": {"p99": None}})[0]["met"] is False


def test_the_survivors_resume_cpu_is_charged_to_the_window_after_the_kill():
    sampler = scale_load.CpuSampler(pid=0)
    # 0.5 cores until the kill at 4 s, then 1.5 cores until the last client caught up at 6 s.
    sampler.samples = [(0, 10.0), (4_000_000_000, 12.0), (6_000_000_000, 15.0), (8_000_000_000, 16.0)]
    assert sampler.at(2_000_000_000) == 11.0 and sampler.at(9_000_000_000) is None
    got = scale_load.resume_cpu(sampler, 0, 4_000_000_000, [5_000_000_000, 6_000_000_000])
    assert got == {
        "window_s": 2.0,
        "cores_before_kill": 0.5,
        "cores_in_window": 1.5,
        "cpu_ms_per_resume": 1500.0,
        "excess_cpu_ms_per_resume": 1000.0,
    }
    assert scale_load.resume_cpu(sampler, 0, 4_000_000_000, []) == {}


def test_an_unknown_scenario_is_a_usage_error(capsys):
    assert scale_load.main(["--scenario", "nonsense"]) == 2
    assert "unknown scenario" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
@pytest.mark.timeout(300)  # three private stacks; 30-95 s on this machine, depending on its load
def test_a_tiny_run_of_every_scenario(capsys):
    code = scale_load.main(
        [
            "--scenario", "bigroom,idle,storm",
            "--members", "30", "--small-conns", "20", "--small-size", "10", "--small-rate", "4",
            "--duration", "3", "--sockets", "120", "--room-size", "30", "--hold", "2", "--ping-interval", "1",
            "--clients", "40", "--rooms", "4", "--kill-after", "1", "--procs", "1",
        ]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    big, idle, storm = out["bigroom"], out["idle"], out["storm"]
    assert big["integrity"]["all_zero"], big["integrity"]
    assert big["big_all_ms"]["count"] == big["messages"]["big_room_last_seq"] == 15
    assert big["messages"]["acked"] == big["messages"]["sent"] > 15
    assert big["small_all_ms"]["count"] > 0
    assert idle["alive_after_hold"] == 120 and not idle["closes"]
    assert idle["kib_per_socket"] > 0 and idle["nofile"]["soft"] > 0
    assert storm["on_killed_server"] == 20 and storm["caught_up"] == 20
    assert storm["integrity"]["all_zero"], storm["integrity"]
    assert storm["pool_timeouts"] == {"close_1011": 0, "pool_exhausted_logged": 0}
    assert storm["catch_up_ms"]["count"] == 20 and storm["catch_up_ms"]["max"] > 0
    assert "cpu_ms_per_resume" in storm["survivor_resume_cpu"]
    assert code == 0 and out["ok"]
