"""IOD004 thread_pileup on real captures (checked against what the programs measured) and on
hand-built tables for the edge cases the captures do not show."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from pass_fixtures import DIAGNOSIS_LOGS, STRACE_LOGS, hand_built, inputs_of

from analyzer.passes import PassConfig
from analyzer.passes.thread_pileup import (
    BLOCKED_MIN_S,
    MAX_TIMELINE_POINTS,
    downsample,
    in_flight,
    run,
    step_stats,
    stretches_above,
)

POOL_SATURATION = DIAGNOSIS_LOGS / "pool_saturation.f_tt_T.log"


def _brute_force(intervals: list[tuple[float, float]], threshold: int) -> dict[str, float]:
    """Peak, time at or above `threshold`, time at the peak and thread-seconds at or above
    it, counted one elementary interval at a time (independent of the pass's sweep)."""
    edges = sorted({t for interval in intervals for t in interval})
    counts = [sum(1 for a, b in intervals if a <= left < b) for left in edges[:-1]]
    widths = np.diff(edges)
    peak = max(counts)
    return {
        "peak": peak,
        "held_s": sum(w for w, n in zip(widths, counts, strict=True) if n >= threshold),
        "peak_held_s": sum(w for w, n in zip(widths, counts, strict=True) if n == peak),
        "cost_s": sum(w * n for w, n in zip(widths, counts, strict=True) if n >= threshold),
        "peak_at": edges[counts.index(peak)],
    }


# --- real captures ----------------------------------------------------------------------------


def test_pool8_all_workers_blocked_on_the_slow_server() -> None:
    measured = json.loads((STRACE_LOGS / "pool8.f_tt_T.measured.json").read_text())
    (finding,) = run(inputs_of(STRACE_LOGS / "pool8.f_tt_T.log"), PassConfig())
    evidence = finding.evidence
    host, port = measured["server"]
    assert evidence["resource"] == f"tcp {host}:{port}"
    assert evidence["syscall"] == "recvfrom"
    assert [row["syscall"] for row in evidence["syscalls"]] == ["recvfrom"]
    assert evidence["syscalls"][0]["calls"] == measured["tasks"]
    assert evidence["family"] == "receive"
    assert evidence["peak_threads"] == measured["max_concurrent_recv"] == 8
    assert set(evidence["threads"]) == {task["tid"] for task in measured["task_records"]}
    assert evidence["threads_using"] == measured["distinct_worker_tids"]
    assert evidence["saturated"] is True
    assert evidence["process_threads"] == 10  # main, server and 8 workers

    # the program's own recv() intervals (epoch), swept independently of the pass
    recvs = [
        (task["recv_start_epoch"], task["recv_start_epoch"] + task["recv_blocked_s"])
        for task in measured["task_records"]
    ]
    expected = _brute_force(recvs, PassConfig().pileup_min_threads)
    first_recv = min(start for start, _ in recvs)
    assert evidence["peak_at"] - evidence["timeline"][0][0] == pytest.approx(
        expected["peak_at"] - first_recv, abs=0.002
    )
    assert evidence["peak_held_s"] == pytest.approx(expected["peak_held_s"], abs=0.005)
    assert evidence["held_s"] == pytest.approx(expected["held_s"], abs=0.005)
    assert evidence["longest_s"] == evidence["held_s"]  # one stretch
    assert finding.cost_s == pytest.approx(expected["cost_s"], abs=8 * 0.005)
    assert evidence["max_call_s"] == pytest.approx(
        max(task["recv_blocked_s"] for task in measured["task_records"]), abs=0.005
    )
    assert finding.severity == "error"  # the whole pool, for half of the trace
    assert finding.pid == measured["pid"]
    assert "8 threads" in finding.title and "127.0.0.1" in finding.title
    assert "all 8 threads" in finding.message
    assert "size the pool" in finding.fix
    assert len(finding.lines) == 8
    assert evidence["timeline"][-1][1] == 0
    assert max(n for _, n in evidence["timeline"]) == 8


def test_pipe_readers_each_on_their_own_pipe_are_no_pileup() -> None:
    measured = json.loads((STRACE_LOGS / "mt_pipes.f_tt_T.measured.json").read_text())
    inputs = inputs_of(STRACE_LOGS / "mt_pipes.f_tt_T.log")
    assert run(inputs, PassConfig()) == []
    # with a threshold of one thread each reader's wait shows up, as long as it measured
    findings = {f.tid: f for f in run(inputs, PassConfig(pileup_min_threads=1))}
    assert set(findings) == {reader["tid"] for reader in measured["readers"]}
    for reader in measured["readers"]:
        evidence = findings[reader["tid"]].evidence
        assert evidence["family"] == "pipe read"
        assert evidence["peak_threads"] == 1
        blocked = max(read["blocked_s"] for read in reader["reads"])
        assert evidence["longest_s"] == pytest.approx(blocked, abs=0.005)


@pytest.mark.parametrize("name", ["thread_loop.f_tt_T.log", "asyncio_block.f_tt_T.log"])
def test_no_pileup_without_shared_waits(name: str) -> None:
    assert run(inputs_of(STRACE_LOGS / name), PassConfig()) == []


def test_pool_saturation_four_waves_of_eight() -> None:
    measured = json.loads(POOL_SATURATION.with_suffix(".measured.json").read_text())
    (finding,) = run(inputs_of(POOL_SATURATION), PassConfig())
    evidence = finding.evidence
    host, port = measured["server"]
    assert evidence["resource"] == f"tcp {host}:{port}"
    assert evidence["syscall"] == "recvfrom"
    assert evidence["peak_threads"] == measured["peak_concurrent_recv"] == measured["workers"]
    assert evidence["threads"] == measured["worker_tids"]
    assert evidence["threads_using"] == measured["distinct_worker_tids"]
    assert evidence["saturated"] is True
    assert evidence["blocked_calls"] == measured["jobs"]
    recvs = [
        (job["recv_start_epoch"], job["recv_start_epoch"] + job["recv_blocked_s"])
        for job in measured["job_records"]
    ]
    expected = _brute_force(recvs, PassConfig().pileup_min_threads)
    assert evidence["held_s"] == pytest.approx(expected["held_s"], abs=0.02)
    assert evidence["peak_held_s"] == pytest.approx(expected["peak_held_s"], abs=0.02)
    assert finding.cost_s == pytest.approx(expected["cost_s"], rel=0.03)
    assert evidence["mean_call_s"] == pytest.approx(
        np.mean([job["recv_blocked_s"] for job in measured["job_records"]]), abs=0.005
    )
    assert finding.severity == "error"


# --- hand-built tables ------------------------------------------------------------------------


def _call(
    syscall: str,
    tid: int,
    start: float,
    duration: float | None,
    target: str | None,
    status: str = "complete",
    args: str = "",
) -> dict[str, Any]:
    return {
        "tid": tid,
        "pid": 1,
        "syscall": syscall,
        "start_s": start,
        "end_s": None if duration is None else start + duration,
        "duration_s": duration,
        "args": args,
        "target": target,
        "fd": 3,
        "line_start": int(start * 10),
        "status": status,
    }


DB = "TCP:[10.0.0.1:{port}->10.0.0.2:5432]"


def test_workers_on_different_local_ports_share_the_peer() -> None:
    rows = [
        _call("recvfrom", 10 + i, 1.0 + i * 0.01, 0.5, DB.format(port=40000 + i)) for i in range(4)
    ]
    (finding,) = run(hand_built(rows), PassConfig())
    assert finding.evidence["resource"] == "tcp 10.0.0.2:5432"
    assert finding.evidence["peak_threads"] == 4
    assert finding.evidence["threads"] == [10, 11, 12, 13]
    assert finding.evidence["peak_at"] == pytest.approx(1.03)
    assert finding.evidence["peak_held_s"] == pytest.approx(0.47)
    assert finding.severity == "warning"  # 0.5 s of a 10 s trace
    assert finding.start == pytest.approx(1.02)  # the third thread joins


def test_dns_lookups_get_the_resolver_fix() -> None:
    dns = "UDP:[10.0.0.1:{port}->10.0.0.53:53]"
    rows = [_call("recvfrom", 10 + i, 1.0, 0.3, dns.format(port=50000 + i)) for i in range(5)]
    (finding,) = run(hand_built(rows), PassConfig())
    assert finding.evidence["resource"] == "udp 10.0.0.53:53"
    assert "DNS" in finding.fix and "cache" in finding.fix


def test_calls_in_flight_at_the_end_last_to_the_end_and_no_return_calls_are_ignored() -> None:
    rows = [_call("read", 10 + i, 1.0 + i, None, "pipe:[77]", status="in-flight") for i in range(3)]
    rows.append(_call("read", 20, 2.5, 3.0, "pipe:[77]", status="no-return"))
    (finding,) = run(hand_built(rows, last_s=10.0), PassConfig())
    assert finding.evidence["peak_threads"] == 3
    assert finding.evidence["longest_s"] == pytest.approx(7.0)
    assert finding.cost_s == pytest.approx(21.0)
    assert finding.evidence["family"] == "pipe read"
    assert finding.severity == "error"  # held for more than a second


def test_back_to_back_calls_do_not_overlap() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 in floating point: the call ending there must not
    # overlap the two that start at 0.3
    rows = [
        _call("recvfrom", 10, 0.1, 0.2, DB.format(port=1)),
        _call("recvfrom", 11, 0.3, 1.0, DB.format(port=2)),
        _call("recvfrom", 12, 0.3, 1.0, DB.format(port=3)),
    ]
    assert run(hand_built(rows), PassConfig()) == []
    (finding,) = run(hand_built(rows), PassConfig(pileup_min_threads=2))
    assert finding.evidence["peak_threads"] == 2
    assert finding.to_json()["evidence"]["timeline"] == [[0.1, 1], [0.3, 2], [1.3, 0]]


def test_loop_waits_futexes_and_short_calls_are_not_pileups() -> None:
    rows = [_call("epoll_wait", 10 + i, 1.0, 2.0, "anon_inode:[eventpoll]") for i in range(4)]
    rows += [_call("futex", 20 + i, 1.0, 2.0, None) for i in range(4)]
    rows += [
        _call("write", 30 + i, 1.0 + j * BLOCKED_MIN_S, BLOCKED_MIN_S / 2, "/var/log/app.log")
        for i in range(4)
        for j in range(200)
    ]
    assert run(hand_built(rows), PassConfig()) == []


def test_accept_pileup_is_idle_workers() -> None:
    rows = [_call("accept4", 10 + i, 1.0, 5.0, "TCP:[0.0.0.0:8080]") for i in range(6)]
    (finding,) = run(hand_built(rows), PassConfig())
    assert finding.severity == "info"
    assert finding.evidence["family"] == "accept"
    assert "idle workers" in finding.message


def test_file_lock_waits_only_when_blocking() -> None:
    blocking = [
        _call("fcntl", 10 + i, 1.0, 1.0, "/var/lock/app.lock", args="3, F_SETLKW, {l_type=F_WRLCK}")
        for i in range(3)
    ]
    polling = [
        _call("flock", 20 + i, 1.0, 1.0, "/var/lock/other.lock", args="4, LOCK_EX|LOCK_NB")
        for i in range(3)
    ]
    (finding,) = run(hand_built(blocking + polling), PassConfig())
    assert finding.evidence["family"] == "file lock"
    assert finding.evidence["resource"] == "/var/lock/app.lock"


def test_sweep_matches_brute_force_on_random_intervals() -> None:
    rng = np.random.default_rng(7)
    groups = rng.integers(0, 5, 400)
    starts = np.round(rng.uniform(0, 10, 400), 3)
    ends = starts + np.round(rng.exponential(0.5, 400), 3)
    steps = in_flight(groups, starts, ends)
    stats = step_stats(steps, stretches_above(steps, 3), 3).set_index("group")
    for group in range(5):
        member = groups == group
        expected = _brute_force(list(zip(starts[member], ends[member], strict=True)), 3)
        row = stats.loc[group]
        assert row["peak"] == expected["peak"]
        assert row["peak_at"] == pytest.approx(expected["peak_at"])
        assert row["held_s"] == pytest.approx(expected["held_s"])
        assert row["peak_held_s"] == pytest.approx(expected["peak_held_s"])
        assert row["cost_s"] == pytest.approx(expected["cost_s"])


def test_downsample_keeps_peaks_and_the_end() -> None:
    times = np.arange(10_000, dtype=float)
    counts = np.zeros(10_000, dtype=np.int64)
    counts[1:-1] = 1 + (np.arange(9_998) % 3)
    counts[4_321] = 40
    points = downsample(times, counts, MAX_TIMELINE_POINTS)
    assert len(points) <= MAX_TIMELINE_POINTS
    assert [4_321.0, 40] in points
    assert points[-1] == [9_999.0, 0]
    assert [t for t, _ in points] == sorted(t for t, _ in points)


def test_waiters_in_several_processes_are_not_a_pool() -> None:
    """fixtures/blind/fcntl_ledger_compactor: three poster processes wait in
    fcntl(F_SETLKW) for the compactor's lock. The pile-up says they are processes taking
    turns (not a pool short of workers) and carries the lock file as its resource, so the
    lock holder's finding explains it."""
    from pass_fixtures import ROOT

    folder = ROOT / "fixtures" / "blind" / "fcntl_ledger_compactor"
    truth = json.loads((folder / "truth.json").read_text())
    (finding,) = run(inputs_of(folder / truth["inputs"][0]), PassConfig())
    pids = sorted(waiter["pid"] for waiter in truth["root_cause"]["waiters"])
    assert f"threads of 3 processes ({', '.join(map(str, pids))})" in finding.message
    assert "whole pool" not in finding.message
    assert finding.resource is not None
    assert finding.resource.key == truth["measured"]["lock_file"]
