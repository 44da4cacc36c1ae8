"""Unit tests of the load generator's pure parts (no network): run with `pytest bench`."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import Counter
from pathlib import Path

import pytest
import ws_load
from ws_load import (
    SequenceChecker,
    assign_connections,
    check_loopback,
    make_content,
    messages_within,
    percentile,
    proc_children,
    read_rss_kib,
    scheduled_offset_ns,
    summarize,
    tree_rss_kib,
)

# -- percentiles ---------------------------------------------------------------------------------------


def test_percentile_of_one_value_is_that_value():
    assert percentile([7.0], 0) == 7.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_interpolates_between_closest_ranks():
    data = [1.0, 2.0, 3.0, 4.0]
    assert percentile(data, 0) == 1.0
    assert percentile(data, 100) == 4.0
    assert percentile(data, 50) == pytest.approx(2.5)
    assert percentile(data, 25) == pytest.approx(1.75)


def test_percentile_matches_statistics_inclusive_quantiles():
    data = sorted(float((i * 37) % 101) for i in range(1, 500))
    q = statistics.quantiles(data, n=100, method="inclusive")
    assert percentile(data, 95) == pytest.approx(q[94])
    assert percentile(data, 99) == pytest.approx(q[98])


def test_percentile_rejects_empty_and_out_of_range():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_scales_and_orders():
    ns = [5_000_000, 1_000_000, 3_000_000]  # 5, 1, 3 ms in ns
    s = summarize(ns, 1_000_000)
    assert s["count"] == 3
    assert s["min"] == 1.0
    assert s["max"] == 5.0
    assert s["p50"] == 3.0
    assert s["mean"] == 3.0
    assert s["p50"] <= s["p95"] <= s["p99"] <= s["max"]


def test_summarize_empty_reports_nones():
    s = summarize([])
    assert s["count"] == 0
    assert s["p99"] is None


# -- integrity checker -------------------------------------------------------------------------------------


def test_in_order_stream_after_baseline_is_clean():
    c = SequenceChecker(baseline=10)
    for seq in range(11, 111):
        c.observe(seq)
    assert c.problems(expected_last=110) == {
        "gaps": 0,
        "duplicates": 0,
        "out_of_order": 0,
        "stale": 0,
        "missing_tail": 0,
    }
    assert c.frames == 100
    assert not c.ahead  # in-order streams keep no per-number state


def test_gap_is_counted_per_missing_number():
    c = SequenceChecker(baseline=0)
    for seq in (1, 2, 5, 6):
        c.observe(seq)
    assert c.gaps() == 2
    assert c.out_of_order == 0


def test_late_frame_fills_the_gap_but_counts_as_out_of_order():
    c = SequenceChecker(baseline=0)
    for seq in (1, 3, 2, 4):
        c.observe(seq)
    assert c.gaps() == 0
    assert c.out_of_order == 1
    assert c.duplicates == 0
    assert c.contiguous == 4


def test_duplicates_below_and_above_the_contiguous_prefix():
    c = SequenceChecker(baseline=0)
    for seq in (1, 2, 2, 5, 5, 1):
        c.observe(seq)
    assert c.duplicates == 3
    assert c.gaps() == 2  # 3 and 4


def test_frames_at_or_below_baseline_are_stale():
    c = SequenceChecker(baseline=5)
    c.observe(5)
    c.observe(3)
    c.observe(6)
    assert c.stale == 2
    assert c.gaps() == 0


def test_first_frame_is_missing_after_baseline():
    c = SequenceChecker(baseline=5)
    c.observe(7)
    assert c.gaps() == 1


def test_without_baseline_the_first_frame_starts_the_stream():
    c = SequenceChecker(baseline=None)
    for seq in (40, 41, 43):
        c.observe(seq)
    assert c.gaps() == 1
    assert c.stale == 0


def test_missing_tail_counts_numbers_never_delivered_at_the_end():
    c = SequenceChecker(baseline=0)
    for seq in (1, 2, 3):
        c.observe(seq)
    assert c.missing_tail(expected_last=5) == 2
    assert c.missing_tail(expected_last=3) == 0
    assert c.missing_tail(None) == 0
    idle = SequenceChecker(baseline=9)
    assert idle.missing_tail(expected_last=12) == 3


def test_random_permutation_with_one_loss_and_one_repeat():
    import random

    rng = random.Random(3)
    seqs = [s for s in range(1, 201) if s != 77]
    rng.shuffle(seqs)
    seqs.append(seqs[10])
    c = SequenceChecker(baseline=0)
    for s in seqs:
        c.observe(s)
    assert c.gaps() == 1
    assert c.duplicates == 1
    assert c.out_of_order > 0


# -- pacing schedule -----------------------------------------------------------------------------------


def test_schedule_interleaves_senders_evenly_at_the_total_rate():
    rate, n = 200.0, 4
    offsets = sorted(scheduled_offset_ns(rate, n, s, k) for s in range(n) for k in range(50))
    steps = {b - a for a, b in itertools.pairwise(offsets)}
    assert steps == {5_000_000}  # 1/200 s between consecutive sends, whoever sends
    assert offsets[0] == 0


def test_schedule_is_absolute_so_errors_do_not_accumulate():
    # the 10,000th message of a sender is exactly where arithmetic says, not a sum of rounded steps
    assert scheduled_offset_ns(3.0, 1, 0, 10_000) == round(10_000 * 1e9 / 3.0)


def test_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError):
        scheduled_offset_ns(0, 1, 0, 0)
    with pytest.raises(ValueError):
        scheduled_offset_ns(10, 2, 2, 0)


@pytest.mark.parametrize(("rate", "n", "duration"), [(200.0, 100, 30.0), (7.0, 3, 2.5), (1000.0, 50, 1.0)])
def test_messages_within_a_window_sum_to_rate_times_duration(rate, n, duration):
    total = sum(messages_within(rate, n, s, duration) for s in range(n))
    assert total == round(rate * duration)
    for s in range(n):
        k = messages_within(rate, n, s, duration)
        assert scheduled_offset_ns(rate, n, s, k) >= duration * 1e9
        if k:
            assert scheduled_offset_ns(rate, n, s, k - 1) < duration * 1e9


# -- plan --------------------------------------------------------------------------------------------


def test_assignment_spreads_connections_rooms_and_senders():
    plan = assign_connections(connections=1000, rooms=50, users=200, senders=100, n_urls=1)
    per_room = Counter(a.room for a in plan)
    assert set(per_room.values()) == {20}
    senders_per_room = Counter(a.room for a in plan if a.sender is not None)
    assert set(senders_per_room.values()) == {2}
    assert sorted(a.sender for a in plan if a.sender is not None) == list(range(100))
    # within a room, users are distinct when the room has no more connections than users
    for room in range(50):
        users = [a.user for a in plan if a.room == room]
        assert len(set(users)) == len(users)
    assert {a.user for a in plan} == set(range(200))


def test_two_urls_put_every_room_on_both_servers():
    plan = assign_connections(connections=1000, rooms=50, users=200, senders=100, n_urls=2)
    for room in range(50):
        urls = Counter(a.url for a in plan if a.room == room)
        assert urls[0] == urls[1] == 10
    for room in range(50):  # and its two senders sit on different servers
        assert {a.url for a in plan if a.room == room and a.sender is not None} == {0, 1}


def test_more_connections_than_users_reuses_users():
    plan = assign_connections(connections=5000, rooms=50, users=200, senders=0, n_urls=1)
    assert {a.user for a in plan} == set(range(200))
    assert all(a.sender is None for a in plan)


def test_scenario_e_has_fifty_senders_and_fifty_receivers_in_one_room():
    plan = assign_connections(connections=100, rooms=1, users=100, senders=50, n_urls=1)
    assert sum(a.sender is not None for a in plan) == 50
    assert len({a.user for a in plan}) == 100


def test_assignment_rejects_more_senders_than_connections():
    with pytest.raises(ValueError):
        assign_connections(connections=2, rooms=1, users=2, senders=3, n_urls=1)


# -- targets, URLs, content ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8001/", "http://[::1]:8000", "http://127.1.2.3"]
)
def test_loopback_urls_are_accepted(url):
    assert not check_loopback(url).endswith("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8000",
        "http://example.com",
        "ftp://127.0.0.1",
        "http://0.0.0.0:8000",
        "http://127.0.0.1/x",
    ],
)
def test_non_loopback_or_odd_urls_are_refused(url):
    with pytest.raises(ValueError):
        check_loopback(url)


def test_ws_url_follows_the_scheme():
    assert ws_load.ws_url("http://127.0.0.1:8000", "r1") == "ws://127.0.0.1:8000/ws/r1"
    assert ws_load.ws_url("https://localhost:8443", "r1") == "wss://localhost:8443/ws/r1"


def test_content_is_json_that_carries_the_send_time():
    text = make_content("abcd1234", 7, 3, 123456789, "")
    assert json.loads(text) == {"b": "abcd1234", "s": 7, "n": 3, "t": 123456789}
    padded = make_content("abcd1234", 7, 3, 1, "xxxx")
    assert json.loads(padded)["p"] == "xxxx"
    assert text.startswith('{"b":"abcd1234"')


def test_check_target_reads_nested_values():
    report = {"fanout_all_latency_ms": {"p99": 12.5}, "persisted_per_second": None}
    assert ws_load.check_target(report, "fanout_all_latency_ms.p99", "<", 25.0)["met"] is True
    assert ws_load.check_target(report, "persisted_per_second", ">=", 1.0)["met"] is None
    assert ws_load.check_target(report, "missing.path", "<", 1.0)["value"] is None


def test_scenario_c_needs_two_urls():
    args = ws_load.parse_args(["--scenario", "c", "--url", "http://127.0.0.1:8000"])
    with pytest.raises(ValueError):
        ws_load.resolve_config(args)
    args = ws_load.parse_args(
        ["--scenario", "c", "--url", "http://127.0.0.1:8000", "--url", "http://127.0.0.1:8001"]
    )
    cfg = ws_load.resolve_config(args)
    assert cfg.mode == "rate"
    assert cfg.connections == 1000


def test_overrides_beat_presets():
    args = ws_load.parse_args(
        ["--scenario", "e", "--connections", "10", "--senders", "4", "--closed-loop", "3"]
    )
    cfg = ws_load.resolve_config(args)
    assert (cfg.connections, cfg.senders, cfg.mode, cfg.messages) == (10, 4, "closed", 3)
    args = ws_load.parse_args(["--scenario", "e", "--rate", "0", "--messages", "5"])
    cfg = ws_load.resolve_config(args)
    assert (cfg.mode, cfg.messages) == ("flood", 5)
    assert "password" not in cfg.public()


# -- /proc reading (against a fake /proc) ------------------------------------------------------------------


def _fake_proc(root: Path, pid: int, rss_kib: int, children: list[int]) -> None:
    task = root / str(pid) / "task" / str(pid)
    task.mkdir(parents=True)
    (task / "children").write_text(" ".join(map(str, children)) + (" " if children else ""))
    (root / str(pid) / "status").write_text(
        f"Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t  {rss_kib} kB\nThreads:\t1\n"
    )


def test_rss_of_a_process_tree_sums_descendants(tmp_path: Path):
    _fake_proc(tmp_path, 100, 1000, [101, 102])
    _fake_proc(tmp_path, 101, 200, [103])
    _fake_proc(tmp_path, 102, 300, [])
    _fake_proc(tmp_path, 103, 40, [])
    assert sorted(proc_children(100, tmp_path)) == [101, 102, 103]
    assert read_rss_kib(101, tmp_path) == 200
    assert read_rss_kib(999, tmp_path) is None
    tree = tree_rss_kib([100], tmp_path)
    assert tree["total_kib"] == 1540
    # giving a child too does not count it twice
    assert tree_rss_kib([100, 103], tmp_path)["total_kib"] == 1540


def test_listening_sockets_are_found_by_port(tmp_path: Path):
    net = tmp_path / "net"
    net.mkdir()
    header = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    )
    (net / "tcp").write_text(
        header
        + "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 4242 1\n"
        + "   1: 0100007F:1F40 0100007F:9C40 01 00000000:00000000 00:00000000 00000000 0 0 4343 1\n"
        + "   2: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 4444 1\n"
    )
    assert ws_load.listening_inodes(8000, tmp_path) == {"4242"}
    assert ws_load.listening_inodes(8001, tmp_path) == {"4444"}
    assert ws_load.listening_inodes(9, tmp_path) == set()


def test_host_cpu_counts_idle_and_iowait_as_not_busy(tmp_path: Path):
    import os

    (tmp_path / "stat").write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n")
    busy, total = ws_load.host_cpu_seconds(tmp_path)
    hz = os.sysconf("SC_CLK_TCK")
    assert busy == pytest.approx(150 / hz)
    assert total == pytest.approx(1000 / hz)


def test_cpu_report_turns_snapshots_into_cores():
    before = {"wall": 10.0, "host_busy": 100.0, "server": 5.0}
    after = {"wall": 12.0, "host_busy": 103.0, "server": 6.0}
    rep = ws_load.cpu_report(before, after)
    assert rep["host_busy_cores"] == 1.5
    assert rep["server_cores"] == 0.5
    assert "aux_cores" not in rep


def test_tree_cpu_includes_reaped_children(tmp_path: Path):
    import os

    _fake_proc(tmp_path, 200, 10, [201])
    _fake_proc(tmp_path, 201, 10, [])
    # pid (comm) state ppid ... fields 14-17 are utime stime cutime cstime
    rest = " ".join(["0"] * 9)  # pgrp .. cmajflt
    (tmp_path / "200" / "stat").write_text(f"200 (post master) S 1 {rest} 10 20 300 400 0 0\n")
    (tmp_path / "201" / "stat").write_text(f"201 (postgres) S 200 {rest} 5 5 0 0 0 0\n")
    hz = os.sysconf("SC_CLK_TCK")
    assert ws_load.tree_cpu_seconds([200], tmp_path) == pytest.approx((10 + 20 + 300 + 400 + 5 + 5) / hz)
