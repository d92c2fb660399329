"""IOD005 lock_contention on real captures (checked against what the programs measured) and on
hand-built futex rows for the patterns the captures do not show."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pass_fixtures import DIAGNOSIS_LOGS, STRACE_LOGS, hand_built, inputs_of

from analyzer.derive.strace_locks import base_op, futex_calls
from analyzer.passes import PassConfig
from analyzer.passes.lock_contention import run

LOCK_CONVOY = DIAGNOSIS_LOGS / "lock_convoy.f_tt_T.log"
POOL_SATURATION = DIAGNOSIS_LOGS / "pool_saturation.f_tt_T.log"


def _brute_peak(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at once, counted at every start (ends first at equal times)."""
    return max(sum(1 for a, b in intervals if a <= start < b) for start, _ in intervals)


# --- real captures ----------------------------------------------------------------------------


def test_lock_convoy_eight_threads_on_one_lock() -> None:
    measured = json.loads(LOCK_CONVOY.with_suffix(".measured.json").read_text())
    findings = run(inputs_of(LOCK_CONVOY), PassConfig())
    (finding,) = [f for f in findings if f.severity != "info"]
    evidence = finding.evidence
    assert evidence["kind"] == "mutex"
    assert evidence["threads"] == sorted(measured["thread_tids"])
    assert evidence["pid"] == finding.pid == measured["pid"]
    # every acquisition that waited more than a millisecond is one FUTEX_WAIT
    assert evidence["waits"] == measured["acquisitions_waited_over_1ms"]
    events = [event for thread in measured["per_thread"] for event in thread["events"]]
    waited = [
        (event["wait_start_epoch"], event["acquired_epoch"])
        for event in events
        if event["wait_s"] > 0.001
    ]
    assert evidence["peak_waiters"] == _brute_peak(waited)
    # acquire() timed in Python also holds the GIL round trip: a little more than the futex
    assert evidence["wait_total_s"] == pytest.approx(measured["wait_total_s"], rel=0.01)
    assert finding.cost_s == evidence["wait_total_s"]
    slowest = max(thread["wait_max_s"] for thread in measured["per_thread"])
    assert evidence["max_wait_s"] == pytest.approx(slowest, abs=0.005)
    # each release wakes the next waiter: the wakers are the waiters
    assert {waker["tid"] for waker in evidence["wakers"]} == set(measured["thread_tids"])
    assert evidence["share_woken_by_waiters"] == pytest.approx(1.0)
    assert evidence["operations"] == ["FUTEX_WAIT_BITSET"]
    assert finding.severity == "error"  # the threads waited most of their time
    assert evidence["share_of_time_waiting"] > 0.5
    assert "threading.Lock or the GIL" in finding.message
    assert "critical section" in finding.fix and "processes" in finding.fix
    assert max(n for _, n in evidence["timeline"]) == evidence["peak_waiters"]


def test_pool_saturation_is_not_lock_contention() -> None:
    """The workers block in recvfrom (thread_pileup); their futex traffic is the GIL handed
    around and the executor's start-up and shut-down: minor at most."""
    findings = run(inputs_of(POOL_SATURATION), PassConfig())
    assert all(finding.severity == "info" for finding in findings)


@pytest.mark.parametrize(
    "name", ["pool8.f_tt_T.log", "mt_pipes.f_tt_T.log", "thread_loop.f_tt_T.log"]
)
def test_no_contention_in_the_strace_captures(name: str) -> None:
    assert [
        f for f in run(inputs_of(STRACE_LOGS / name), PassConfig()) if f.severity != "info"
    ] == []


def test_join_waits_are_condition_waits() -> None:
    """thread_loop: the main thread joins each worker (one waiter, woken by the worker)."""
    measured = json.loads((STRACE_LOGS / "thread_loop.f_tt_T.measured.json").read_text())
    config = PassConfig(lock_min_waiters=1, lock_min_wait_s=0.0)
    findings = run(inputs_of(STRACE_LOGS / "thread_loop.f_tt_T.log"), config)
    assert findings
    assert {f.evidence["kind"] for f in findings} == {"condition"}
    assert {f.severity for f in findings} == {"info"}
    workers = {thread["tid"] for thread in measured["threads"]}
    for finding in findings:
        assert finding.evidence["threads"] == [measured["main_tid"]]
        assert {w["tid"] for w in finding.evidence["wakers"]} <= workers


# --- hand-built tables ------------------------------------------------------------------------


def _futex(
    tid: int,
    start: float,
    duration: float | None,
    args: str,
    retval: int = 0,
    pid: int = 1,
    status: str = "complete",
) -> dict[str, Any]:
    return {
        "tid": tid,
        "pid": pid,
        "syscall": "futex",
        "start_s": start,
        "end_s": None if duration is None else start + duration,
        "duration_s": duration,
        "args": args,
        "retval": retval,
        "errno": "ETIMEDOUT" if retval < 0 else None,
        "line_start": int(start * 1000),
        "status": status,
    }


WAIT = (
    "0x7f00000010, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, FUTEX_BITSET_MATCH_ANY"
)
WAKE = "0x7f00000010, FUTEX_WAKE_PRIVATE, 1"


def _convoy(threads: int, rounds: int, hold: float, pid: int = 1) -> list[dict[str, Any]]:
    """Threads 100, 101, ... take the lock in turn for `hold` seconds each: slot k belongs to
    thread k % threads, which waited since its previous slot ended (or since 0); just
    before a slot ends its holder wakes the next one."""
    rows = []
    slots = threads * rounds
    for slot in range(slots):
        tid = 100 + slot % threads
        if slot:
            since = max(0.0, (slot - threads + 1) * hold)
            rows.append(_futex(tid, since, slot * hold - since, WAIT, pid=pid))
        if slot < slots - 1:
            rows.append(_futex(tid, (slot + 1) * hold - 1e-4, 5e-5, WAKE, retval=1, pid=pid))
    return rows


def test_threads_that_hand_the_lock_on_are_a_convoy() -> None:
    (finding,) = run(hand_built(_convoy(threads=4, rounds=5, hold=0.05), last_s=1.0), PassConfig())
    evidence = finding.evidence
    assert evidence["kind"] == "mutex"
    assert evidence["share_woken_by_waiters"] == pytest.approx(1.0)
    assert evidence["peak_waiters"] == 3
    assert evidence["threads"] == [100, 101, 102, 103]
    assert evidence["waits"] == 4 * 5 - 1
    assert evidence["futex"] == "0x7f00000010"
    assert evidence["operations"] == ["FUTEX_WAIT_BITSET"]
    assert finding.severity == "error"  # waited 3/4 of the time
    assert "a mutex (in a Python process: a lock or the GIL)" in finding.message


def test_idle_workers_woken_by_a_producer_are_a_condition_wait() -> None:
    rows = [_futex(200 + i, 0.5, 2.0 + i, WAIT) for i in range(4)]
    rows += [_futex(1, 2.5 + i - 1e-4, 5e-5, WAKE, retval=1) for i in range(4)]
    (finding,) = run(hand_built(rows), PassConfig())
    assert finding.evidence["kind"] == "condition"
    assert finding.severity == "info"
    assert finding.evidence["wakers"] == [{"tid": 1, "wakes": 4}]
    assert finding.evidence["share_woken_by_waiters"] == pytest.approx(0.0)
    assert finding.evidence["peak_waiters"] == 4
    assert "not lock contention" in finding.message


def test_priority_inheritance_waits_are_a_mutex_and_in_flight_waits_last_to_the_end() -> None:
    pi = "0x5000, FUTEX_LOCK_PI_PRIVATE, NULL"
    rows = [_futex(300 + i, 1.0 + i, None, pi, status="in-flight") for i in range(3)]
    (finding,) = run(hand_built(rows, last_s=10.0), PassConfig())
    assert finding.evidence["kind"] == "mutex"
    assert finding.evidence["wait_total_s"] == pytest.approx(9.0 + 8.0 + 7.0)
    assert finding.evidence["max_wait_s"] == pytest.approx(9.0)
    assert finding.severity == "error"


def test_same_address_in_two_processes_is_two_futexes() -> None:
    rows = _convoy(threads=2, rounds=5, hold=0.05, pid=1)
    rows += [{**row, "pid": 2, "tid": row["tid"] + 100} for row in rows]
    assert run(hand_built(rows, last_s=1.0), PassConfig()) == []  # one waiter at a time each
    merged = [{**row, "pid": 1} for row in rows]
    (finding,) = run(hand_built(merged, last_s=1.0), PassConfig())
    assert finding.evidence["peak_waiters"] == 2


def test_operations_are_read_without_flags() -> None:
    assert base_op("FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME") == "FUTEX_WAIT_BITSET"
    assert base_op("FUTEX_WAKE_PRIVATE") == "FUTEX_WAKE"
    assert base_op("FUTEX_WAIT") == "FUTEX_WAIT"
    rows = [
        _futex(1, 0.0, 0.1, "0xa5b8f0, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL"),
        _futex(1, 0.2, 0.1, "0xa5b8f0, FUTEX_WAIT, 0, NULL"),
        _futex(2, 0.3, 0.0, "0xa5b8f0, FUTEX_WAKE_OP_PRIVATE, 1, 1, 0xa5b8f4, FUTEX_OP_SET<<28"),
        _futex(2, 0.4, 0.0, "0x7ffe12345678, FUTEX_CMP_REQUEUE_PRIVATE, 1, 2147483647, 0x1, 2"),
        _futex(3, 0.5, 0.1, "0x7ffe12345678, FUTEX_WAIT_REQUEUE_PI_PRIVATE, 0, NULL, 0x1"),
        _futex(3, 0.6, 0.0, "0x7ffe12345678, FUTEX_TRYLOCK_PI_PRIVATE"),
    ]
    futexes = futex_calls(hand_built(rows).traces[0])
    assert futexes is not None
    assert futexes.op.tolist() == [1, 1, 2, 2, 1, 0]
    assert futexes.keys[0] == futexes.keys[1] == futexes.keys[2] != futexes.keys[3]
    assert futexes.keys[3] == futexes.keys[4] == futexes.keys[5]


NPROC = DIAGNOSIS_LOGS / "nproc_exhaustion.f_tt_T.log"


def test_the_two_words_of_a_glibc_condition_variable_are_one_futex() -> None:
    """nproc_exhaustion: the Python threads wait for the GIL on the condition variable in
    _PyRuntime, alternately on 0xa5b8f0 and 0xa5b8f4 (its two waiter groups)."""
    futexes = futex_calls(inputs_of(NPROC).traces[0])
    assert futexes is not None
    addresses = {futexes.addresses[int(code)] for code in futexes.key_address}
    assert "0xa5b8f0" in addresses and "0xa5b8f4" not in addresses
    findings = run(inputs_of(NPROC), PassConfig())
    (gil,) = [f for f in findings if f.evidence["futex"] == "0xa5b8f0"]
    assert gil.evidence["condition_variable"] is True
    assert gil.evidence["futex_words"] == ["0xa5b8f0", "0xa5b8f4"]
    assert "likely the GIL" in gil.title and "glibc condition variable" in gil.message
    single = run(inputs_of(LOCK_CONVOY), PassConfig())
    assert [f.evidence["condition_variable"] for f in single] == [False]


def _waits_on(address: str, op: str, tid0: int, pid: int = 1) -> list[dict[str, Any]]:
    return [_futex(tid0 + i, 0.1 * i, 2.0, f"{address}, {op}, 0, NULL") for i in range(3)]


BITSET = "FUTEX_WAIT_BITSET_PRIVATE"


@pytest.mark.parametrize(
    ("first", "second", "op_second", "pid_second", "paired"),
    [
        ("0x7f10", "0x7f14", BITSET, 1, True),
        ("0x7f14", "0x7f18", BITSET, 1, False),  # the pair starts on an 8-byte boundary
        ("0x7f10", "0x7f14", "FUTEX_WAIT_PRIVATE", 1, False),  # a condvar waits with BITSET
        ("0x7f10", "0x7f14", BITSET, 2, False),  # one process's words only
        ("0x7f10", "0x7f18", BITSET, 1, False),  # neighbours, 4 bytes apart
    ],
)
def test_condition_variable_pairs_need_both_words_waited_alike(
    first: str, second: str, op_second: str, pid_second: int, paired: bool
) -> None:
    """Hand-built rows (not a capture): three threads on each word."""
    rows = _waits_on(first, BITSET, 100) + [
        {**row, "pid": pid_second} for row in _waits_on(second, op_second, 200)
    ]
    config = PassConfig(lock_min_waiters=1, lock_min_wait_s=0.0)
    findings = run(hand_built(rows), config)
    assert len(findings) == (1 if paired else 2)
    assert [f.evidence["condition_variable"] for f in findings] == [paired] * len(findings)
    if paired:
        assert findings[0].evidence["peak_waiters"] == 6


INCIDENTS = DIAGNOSIS_LOGS.parents[1] / "incidents"


def test_pool_workers_released_at_shutdown_are_idle_not_a_convoy() -> None:
    """syn_drops_backlog: 32 ThreadPoolExecutor workers park on the work queue while the
    main thread waits for their futures; at shutdown each worker that gets the None wakes
    the next. They waited behind the main thread, which was parked on other futexes."""
    folder = INCIDENTS / "syn_drops_backlog"
    measured = json.loads((folder / "truth.json").read_text())["measured"]
    findings = run(inputs_of(folder / "strace.f_tt_T_yy.log.gz"), PassConfig())
    assert all(f.severity == "info" for f in findings)
    (queue,) = [f for f in findings if f.evidence["thread_count"] == measured["workers"]]
    assert queue.evidence["kind"] == "condition"
    assert queue.evidence["holder"] == measured["client_main_tid"]
    assert queue.evidence["share_behind_waiters"] < 0.05
    assert queue.evidence["holder_share_parked"] > 0.9


def test_threads_queued_behind_a_busy_holder_are_held() -> None:
    """mutex_cache_refresh: the waits are spent behind the cache-refresh thread."""
    folder = INCIDENTS / "mutex_cache_refresh"
    measured = json.loads((folder / "truth.json").read_text())["measured"]
    findings = run(inputs_of(folder / "strace.f_tt_T_yy.log.gz"), PassConfig())
    (held,) = [f for f in findings if f.evidence["futex"] == measured["lock_futex_word"]]
    assert held.evidence["kind"] == "held"
    assert held.evidence["holder"] == measured["refresher_tid"]
    assert held.culprit is not None and held.culprit.tid == measured["refresher_tid"]
    assert held.resource is not None
    assert held.resource.key == f"futex {measured['pid']}:{measured['lock_futex_word']}"


def test_the_convoy_waits_behind_its_own_waiters() -> None:
    (finding,) = [f for f in run(inputs_of(LOCK_CONVOY), PassConfig()) if f.severity != "info"]
    assert finding.evidence["share_behind_waiters"] > 0.9


def _simple_queue(rounds: int, producer_waits_in: str | None) -> list[dict[str, Any]]:
    """Hand-built, CPython 3.12's ThreadPoolExecutor work queue (a SimpleQueue: `get` waits
    on the queue's lock, `put` releases it, and a getter that took an item releases it for
    the next getter, which finds the queue empty and waits again), as in
    fixtures/blind/healthy_aiohttp_audit: two idle workers 201 and 202, and an event loop
    (thread 1) that submits one job a second and between submissions sits in
    `producer_waits_in` (epoll_wait; accept4 for a server's main thread handing each
    connection to the pool, as in fixtures/blind/healthy_threadpool_blobstore; recvfrom for
    a thread waiting for a peer's reply; None: it runs on the CPU)."""
    rows: list[dict[str, Any]] = [_futex(201, 0.0, 1.0, WAIT), _futex(202, 0.0, 1.0003, WAIT)]
    for r in range(1, rounds + 1):
        rows.append(_futex(1, r - 1e-4, 5e-5, WAKE, retval=1))  # put: wakes 201
        rows.append(_futex(201, r + 2e-4, 5e-5, WAKE, retval=1))  # took it: wakes 202
        last = r == rounds
        rows.append(
            _futex(
                202,
                r + 4e-4,
                None if last else 1.0 - 1e-4,
                WAIT,
                status="in-flight" if last else "complete",
            )
        )
        rows.append(
            _futex(
                201,
                r + 0.01,
                None if last else 0.99,
                WAIT,
                status="in-flight" if last else "complete",
            )
        )
        if producer_waits_in:
            rows.append(
                {
                    "tid": 1,
                    "pid": 1,
                    "syscall": producer_waits_in,
                    "start_s": r + 1e-3,
                    "end_s": r + 1.0 - 2e-4,
                    "duration_s": 1.0 - 1.2e-3,
                    "args": "3, [], 64, 1000",
                    "retval": 0,
                    "line_start": int((r + 1e-3) * 1000),
                    "status": "complete",
                }
            )
    return rows


@pytest.mark.parametrize(
    ("producer_waits_in", "kind"),
    [("epoll_wait", "condition"), ("accept4", "condition"), ("recvfrom", "held"), (None, "held")],
)
def test_a_producer_posting_to_an_executors_queue_is_no_lock_holder(
    producer_waits_in: str | None, kind: str
) -> None:
    """Parked in an event loop's epoll_wait or a listener's accept4 between submissions, the
    producer is fed, not holding a lock; in recvfrom (the reply to its own request) or on the
    CPU it is doing work while the others wait."""
    rows = _simple_queue(rounds=6, producer_waits_in=producer_waits_in)
    (finding,) = run(hand_built(rows, last_s=7.5), PassConfig())
    assert finding.evidence["share_woken_by_waiters"] >= 0.5  # the getters' hand-offs
    assert finding.evidence["kind"] == kind
    if kind == "condition":
        assert finding.severity == "info"
