"""IOD012 sleep_retry on hand-built syscall rows (not captures) for the patterns the SQLite
capture (tests/passes/test_verdicts.py) does not show alone."""

from __future__ import annotations

import pytest
from pass_fixtures import hand_built

from analyzer.passes import PassConfig, sleep_retry


def _call(tid: int, start: float, syscall: str, duration: float, target: str | None) -> dict:
    return {
        "tid": tid,
        "pid": 1,
        "syscall": syscall,
        "start_s": start,
        "end_s": start + duration,
        "duration_s": duration,
        "target": target,
        "fd": 3 if target else None,
        "args": "",
        "line_start": int(start * 1000) + tid,
        "status": "complete",
    }


def _retry_loop(tid: int, sleeps: list[float], target: str, start: float = 0.0) -> list[dict]:
    """An attempt on `target`, then each sleep followed by another attempt."""
    rows, clock = [], start
    for sleep in sleeps:
        rows.append(_call(tid, clock, "fcntl", 1e-5, target))
        clock += 2e-5
        rows.append(_call(tid, clock, "clock_nanosleep", sleep, None))
        clock += sleep + 1e-5
    return rows


def test_one_thread_with_escalating_sleeps_is_a_retry_loop() -> None:
    rows = _retry_loop(7, [0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1], "/db.sqlite")
    (finding,) = sleep_retry.run(hand_built(rows), PassConfig(sleep_retry_min_s=0.5))
    assert finding.evidence["escalating"] is True and finding.evidence["sqlite"] is True
    assert finding.evidence["sleeps"] == 10
    assert finding.cost_s == pytest.approx(0.068 + 0.5)
    assert finding.title == "1 thread sleep-retrying on file /db.sqlite"


def test_one_thread_with_a_steady_period_is_a_poll_not_contention() -> None:
    rows = _retry_loop(7, [0.1] * 20, "TCP:[10.0.0.1:5000->10.0.0.2:80]")
    assert sleep_retry.run(hand_built(rows), PassConfig()) == []


def test_several_threads_sleeping_on_one_resource_are_reported() -> None:
    rows = []
    for tid in (1, 2, 3):
        rows += _retry_loop(tid, [0.05] * 10, "/var/lock/app.lock", start=0.001 * tid)
    (finding,) = sleep_retry.run(hand_built(rows), PassConfig())
    assert finding.evidence["threads"] == [1, 2, 3]
    assert finding.evidence["peak_sleepers"] == 3
    assert finding.evidence["escalating"] is False and finding.evidence["sqlite"] is False
    assert "blocking wait" in finding.fix


def test_sleeps_long_after_the_last_call_are_not_attributed() -> None:
    rows = []
    for tid in (1, 2, 3):
        rows.append(_call(tid, 0.0, "read", 1e-5, "/etc/app.conf"))
        rows += [_call(tid, 1.0 + 0.2 * i, "clock_nanosleep", 0.15, None) for i in range(5)]
    assert sleep_retry.run(hand_built(rows), PassConfig()) == []


def test_a_databases_journal_counts_as_the_database() -> None:
    rows = _retry_loop(1, [0.1] * 4, "/srv/app.db") + _retry_loop(
        2, [0.1] * 4, "/srv/app.db-journal", start=0.0005
    )
    (finding,) = sleep_retry.run(hand_built(rows), PassConfig())
    assert finding.evidence["resource"] == "/srv/app.db"
    assert finding.evidence["threads"] == [1, 2]
