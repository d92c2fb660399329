"""IOD014 lock_holder on real captures (checked against what the programs measured) and on
hand-built rows for the edge cases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pass_fixtures import DIAGNOSIS_LOGS, ROOT, hand_built, inputs_of

from analyzer.passes import PassConfig
from analyzer.passes.lock_holder import run

INCIDENTS = ROOT / "fixtures" / "incidents"


def _incident(name: str) -> tuple[dict[str, Any], Any]:
    folder = INCIDENTS / name
    truth = json.loads((folder / "truth.json").read_text())
    straces = [folder / f for f in truth["inputs"] if f.startswith("strace")]
    return truth, inputs_of(*straces)


def test_flock_compactor_is_the_holder() -> None:
    truth, inputs = _incident("flock_compactor")
    measured = truth["measured"]
    (finding,) = [f for f in run(inputs, PassConfig()) if f.severity != "info"]
    assert finding.culprit is not None and finding.culprit.pid == measured["compactor_pid"]
    assert finding.resource is not None and finding.resource.key == measured["journal"]
    evidence = finding.evidence
    assert evidence["holds"] == len(measured["compactor_holds"])
    # the program timed its hold from after flock returned to after its own bookkeeping
    for hold, seen in zip(measured["compactor_holds"], evidence["hold_list"], strict=True):
        assert seen["duration_s"] == pytest.approx(hold["hold_s"], abs=0.02)
    assert evidence["hold_max_s"] == pytest.approx(measured["hold_max_s"], abs=0.02)
    # most of the workers' flock time was spent behind the compactor
    assert 0.9 * measured["worker_flock_wait_total_s"] <= evidence["wait_total_s"]
    assert evidence["wait_total_s"] <= measured["worker_flock_wait_total_s"]
    assert {w["pid"] for w in evidence["waiters"]} == {w["pid"] for w in measured["workers"]}
    # while holding, it uploaded to the backup peer
    host, port = measured["backup_peer"].split(":")
    assert evidence["peer"] == f"tcp {host}:{port}"
    upload = sum(hold["backup_upload_s"] for hold in measured["compactor_holds"])
    assert evidence["during_holds"][0]["seconds"] == pytest.approx(upload, rel=0.1)
    assert finding.severity == "error"


def test_sqlite_long_reader_is_the_culprit_not_the_writers() -> None:
    truth, inputs = _incident("sqlite_long_reader")
    measured = truth["measured"]
    (finding,) = [f for f in run(inputs, PassConfig()) if f.severity != "info"]
    assert finding.culprit is not None
    assert finding.culprit.pid == measured["report_pid"]
    assert finding.culprit.role == "reader"
    assert finding.resource is not None and finding.resource.key == measured["database"]
    evidence = finding.evidence
    assert evidence["lock"] == "sqlite" and "SHARED" in evidence["locks_held"]
    held = [tx["shared_lock_held_s"] for tx in measured["report_transactions"]]
    assert [h["duration_s"] for h in evidence["hold_list"]] == pytest.approx(held, abs=0.01)
    # the writers' busy sleeps are the waiting, charged to the reader
    sleeps = sum(w["trace_busy_sleep_s"] for w in measured["writers"])
    assert evidence["wait_total_s"] == pytest.approx(sleeps, rel=0.1)
    assert evidence["peer"] == "tcp " + measured["fx_service"].removeprefix("http://")
    assert any(rule.kind == "sleep_retry" for rule in finding.explains)


def test_mutex_cache_refresh_thread_holds_the_lock_across_http() -> None:
    truth, inputs = _incident("mutex_cache_refresh")
    measured = truth["measured"]
    findings = [f for f in run(inputs, PassConfig()) if f.severity != "info"]
    finding = findings[0]
    assert finding.culprit is not None and finding.culprit.tid == measured["refresher_tid"]
    assert finding.evidence["futex"] == measured["lock_futex_word"]
    assert finding.evidence["peer"] == "tcp " + measured["pricing_peer"]
    holds = [hold["hold_s"] for hold in measured["holds"]]
    assert finding.evidence["hold_max_s"] == pytest.approx(max(holds), abs=0.01)
    waited = sum(handler["wait_total_s"] for handler in measured["handlers"])
    assert finding.evidence["wait_total_s"] == pytest.approx(waited, rel=0.1)
    assert finding.resource is not None and measured["lock_futex_word"] in finding.resource.key


@pytest.mark.parametrize("name", ["lock_convoy.f_tt_T.log", "sqlite_writers.f_tt_T.log"])
def test_no_outside_holder_in_a_convoy_or_one_process_sqlite(name: str) -> None:
    """lock_convoy: the holders are the waiters themselves; sqlite_writers: the threads of
    one process share POSIX locks (SQLite serialises them without a failing syscall)."""
    assert [f for f in run(inputs_of(DIAGNOSIS_LOGS / name), PassConfig())] == []


# --- hand-built rows (not captures) ----------------------------------------------------------


def _call(
    tid: int, syscall: str, start: float, duration: float, args: str, **extra: Any
) -> dict[str, Any]:
    return {
        "tid": tid,
        "pid": tid,
        "syscall": syscall,
        "start_s": start,
        "end_s": start + duration,
        "duration_s": duration,
        "args": args,
        "retval": extra.pop("retval", 0),
        "errno": extra.pop("errno", None),
        "status": "complete",
        "line_start": int(start * 1000),
        "fd": extra.pop("fd", 3),
        "target": extra.pop("target", "/db/x.db"),
        **extra,
    }


def _fcntl(kind: str, start: int, length: int, cmd: str = "F_SETLK") -> str:
    return f"3, {cmd}, {{l_type={kind}, l_whence=SEEK_SET, l_start={start}, l_len={length}}}"


def test_hand_built_record_locks_ranges_that_do_not_overlap_do_not_conflict() -> None:
    rows = [
        _call(1, "fcntl", 0.0, 1e-5, _fcntl("F_WRLCK", 0, 100)),
        _call(2, "fcntl", 0.1, 2.0, _fcntl("F_WRLCK", 100, 100, "F_SETLKW")),  # other bytes
        _call(3, "fcntl", 0.2, 1.0, _fcntl("F_WRLCK", 50, 10, "F_SETLKW")),  # conflicts
        _call(1, "fcntl", 1.2, 1e-5, _fcntl("F_UNLCK", 0, 0)),
    ]
    (finding,) = run(hand_built(rows), PassConfig())
    assert finding.culprit is not None and finding.culprit.pid == 1
    assert finding.evidence["waiters"] == [{"pid": 3, "tid": 3}]
    assert finding.evidence["wait_total_s"] == pytest.approx(1.0)


def test_hand_built_close_releases_posix_locks() -> None:
    """Closing any fd of the file drops the process's record locks (fcntl(2))."""
    rows = [
        _call(1, "fcntl", 0.0, 1e-5, _fcntl("F_WRLCK", 0, 0)),
        _call(2, "fcntl", 0.1, 0.5, _fcntl("F_WRLCK", 0, 0, "F_SETLKW")),
        _call(1, "close", 0.6, 1e-5, "4", fd=4),
        _call(2, "fcntl", 1.0, 1e-5, _fcntl("F_UNLCK", 0, 0)),
    ]
    (finding,) = run(hand_built(rows), PassConfig())
    assert finding.evidence["hold_list"][0]["duration_s"] == pytest.approx(0.6, abs=1e-4)


def test_an_executors_short_queue_locks_are_no_alarm() -> None:
    """fixtures/incidents/executor_slow_storage: the loop submits to the default executor
    while its workers queue briefly on the executor's own locks (holds under 0.1 s, some
    waits ended by a thread created after they began): at most info, never a holder to
    chase next to 42 s of storage waits."""
    _, inputs = _incident("executor_slow_storage")
    findings = run(inputs, PassConfig())
    assert findings  # the short holds are still reported, as info
    assert all(finding.severity == "info" for finding in findings)


def _futex_trace(tmp_path: Any, lines: list[str]) -> Any:
    path = tmp_path / "futex.log"
    path.write_text("\n".join(lines) + "\n")
    return inputs_of(path)


def _threads(tids: list[int]) -> list[str]:
    """Threads of process 100 (so that they share its futex words)."""
    return [
        f"100 09:59:59.{tid % 100:06d} clone3({{flags=CLONE_VM|CLONE_FS|CLONE_FILES|"
        f"CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM}}, 88) = {tid} <0.000050>"
        for tid in tids
    ]


def _waits(tids: list[int]) -> list[str]:
    return [
        f"{tid} 10:00:00.{tid % 100:06d} futex(0x1000, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>"
        for tid in tids
    ]


def test_hand_built_one_by_one_wakes_by_an_old_thread_are_a_hold(tmp_path: Any) -> None:
    """Hand-written control for the two tests below: a thread that existed all along wakes
    the three waiters one by one: it held the lock they queued for."""
    lines = [
        *_threads([101, 102, 103, 104]),
        *_waits([101, 102, 103]),
        *(
            f"104 10:00:00.60{i}000 futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 1 <0.000010>"
            for i in range(3)
        ),
        *(
            f"{tid} 10:00:00.60{i}100 <... futex resumed>) = 0 <0.60{i}000>"
            for i, tid in enumerate((101, 102, 103))
        ),
    ]
    [finding] = run(_futex_trace(tmp_path, lines), PassConfig())
    assert finding.culprit is not None and finding.culprit.tid == 104


def test_hand_built_a_broadcast_is_no_hold(tmp_path: Any) -> None:
    """Hand-written: three threads wait on one word; a fourth wakes all of them at once
    (notify_all, Event.set): they were parked on a condition, nobody held a lock."""
    lines = [
        *_threads([101, 102, 103, 104]),
        *_waits([101, 102, 103]),
        "104 10:00:00.600000 futex(0x1000, FUTEX_WAKE_PRIVATE, 2147483647) = 3 <0.000010>",
        *(f"{tid} 10:00:00.600100 <... futex resumed>) = 0 <0.600000>" for tid in (101, 102, 103)),
    ]
    assert run(_futex_trace(tmp_path, lines), PassConfig()) == []


def test_hand_built_a_thread_born_after_the_waits_held_nothing(tmp_path: Any) -> None:
    """Hand-written: three threads wait on one word from t=0; a thread created at 0.5 s
    wakes them one by one at 0.6 s (a semaphore posted by a new thread)."""
    lines = [
        *_threads([101, 102, 103]),
        *_waits([101, 102, 103]),
        "100 10:00:00.500000 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|"
        "CLONE_THREAD|CLONE_SYSVSEM}, 88) = 104 <0.000050>",
        *(
            f"104 10:00:00.60{i}000 futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 1 <0.000010>"
            for i in range(3)
        ),
        *(
            f"{tid} 10:00:00.60{i}100 <... futex resumed>) = 0 <0.60{i}000>"
            for i, tid in enumerate((101, 102, 103))
        ),
    ]
    assert run(_futex_trace(tmp_path, lines), PassConfig()) == []


def test_hand_built_an_event_loop_posting_work_between_events_held_nothing(
    tmp_path: Any,
) -> None:
    """Hand-written, the control above with the waker an event loop: between its wakes it
    sat in epoll_wait (an executor's idle workers woken by the loop submitting work, as in
    fixtures/blind/healthy_aiohttp_audit): idle consumers, no holder."""
    lines = [
        *_threads([101, 102, 103, 104]),
        "104 10:00:00.000050 epoll_wait(3, [], 64, 599) = 0 <0.599000>",
        *_waits([101, 102, 103]),
        *(
            f"104 10:00:00.60{i}000 futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 1 <0.000010>"
            for i in range(3)
        ),
        *(
            f"{tid} 10:00:00.60{i}100 <... futex resumed>) = 0 <0.60{i}000>"
            for i, tid in enumerate((101, 102, 103))
        ),
    ]
    assert run(_futex_trace(tmp_path, lines), PassConfig()) == []


@pytest.mark.parametrize(("queued_at", "named"), [(0.1, True), (0.65, False)])
def test_hand_built_a_waiter_is_judged_hold_by_hold(
    tmp_path: Any, queued_at: float, named: bool
) -> None:
    """Hand-written: thread 104 once queued on the word itself (woken by 101's release); later
    101-103 queue while 104 holds the lock and wakes them one by one at 0.70 s. Held 0.6 s,
    that hold is work under the lock (a rollover inside logging's handler lock, as in
    fixtures/blind/log_rollover_fsync_lock): 104 is named although it waits there at other
    times. Held 0.05 s, it is a convoy's quick hand-off: nobody is named."""
    queued = [
        f"{tid} 10:00:00.{round(queued_at * 1e6) + tid % 100:06d} futex(0x1000, "
        "FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>"
        for tid in (101, 102, 103)
    ]
    lines = [
        *_threads([101, 102, 103, 104]),
        "104 10:00:00.000010 futex(0x1000, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>",
        "101 10:00:00.019000 futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 1 <0.000010>",
        "104 10:00:00.019100 <... futex resumed>) = 0 <0.019090>",
        *queued,
        *(
            f"104 10:00:00.70{i}000 futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 1 <0.000010>"
            for i in range(3)
        ),
        *(
            f"{tid} 10:00:00.70{i}100 <... futex resumed>) = 0 "
            f"<{0.7 + i / 1000 + 0.0001 - queued_at - (tid % 100) / 1e6:.6f}>"
            for i, tid in enumerate((101, 102, 103))
        ),
    ]
    findings = run(_futex_trace(tmp_path, lines), PassConfig())
    assert [f.culprit.tid for f in findings if f.culprit is not None] == ([104] if named else [])


@pytest.mark.parametrize(("parked_in", "named"), [("accept4(3, ", False), ("recvfrom(5, ", True)])
def test_hand_built_a_server_waiting_for_clients_held_nothing(
    tmp_path: Any, parked_in: str, named: bool
) -> None:
    """Hand-written, the event-loop control above with the waker a server's main thread that
    waits in accept4 for the next client between submissions (as in
    fixtures/blind/healthy_threadpool_blobstore): it was being fed, not holding a lock. In
    recvfrom, waiting for a peer's reply, it held the lock across a network call."""
    lines = [
        *_threads([101, 102, 103, 104]),
        f"104 10:00:00.000050 {parked_in}NULL, NULL, 0) = 7 <0.599000>",
        *_waits([101, 102, 103]),
        *(
            f"104 10:00:00.60{i}000 futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 1 <0.000010>"
            for i in range(3)
        ),
        *(
            f"{tid} 10:00:00.60{i}100 <... futex resumed>) = 0 <0.60{i}000>"
            for i, tid in enumerate((101, 102, 103))
        ),
    ]
    findings = run(_futex_trace(tmp_path, lines), PassConfig())
    assert [f.culprit.tid for f in findings if f.culprit is not None] == ([104] if named else [])
