"""The verdict on each diagnosis capture names the real cause first, with the program's numbers.

Each case runs `analyze` on a real capture from fixtures/diagnosis/ (see its README for what
each program does) and checks the first conclusion against the program's *.measured.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analyzer import analyze

LOGS = Path(__file__).resolve().parents[2] / "fixtures" / "diagnosis" / "logs"


def measured(name: str) -> dict[str, Any]:
    return json.loads((LOGS / f"{name}.measured.json").read_text())


def first_conclusion(*names: str) -> tuple[dict[str, Any], dict[str, Any]]:
    conclusion, finding, _ = analyzed(*names)
    return conclusion, finding


def analyzed(*names: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The first conclusion, its finding, and all findings of these inputs together."""
    report = analyze([LOGS / name for name in names]).report
    conclusion = report["verdict"]["conclusions"][0]
    return conclusion, report["findings"][conclusion["finding"]], report["findings"]


@pytest.mark.parametrize("clock", ["f_tt_T", "f_ttt_T"])
def test_asyncio_server_blocked_loop_first(clock: str) -> None:
    log = "asyncio_server.debug.log" if clock == "f_tt_T" else f"asyncio_server.{clock}.debug.log"
    truth = measured(f"asyncio_server.{clock}")
    conclusion, finding, findings = analyzed(f"asyncio_server.{clock}.log", log)
    assert conclusion["kind"] == "blocked_loop"
    assert "handle() at asyncio_server.py" in conclusion["headline"]
    assert finding["tid"] == truth["loop_tid"]
    blocking = truth["blocking_episodes"]
    episodes = finding["evidence"]["episodes"]
    assert len(episodes) == len(blocking)
    for (name, episode), found in zip(blocking.items(), episodes, strict=True):
        assert found["duration_s"] == pytest.approx(episode["duration_s"], abs=0.01), name
    assert [e["cause"] for e in episodes] == ["sleep", "file_io", "cpu"]
    explained = {findings[index]["kind"] for index in conclusion["explains"]}
    assert explained == {"slow_syscall", "slow_callback"}  # the client's wait, the logged steps


def test_pool_saturation_pileup_first() -> None:
    truth = measured("pool_saturation.f_tt_T")
    conclusion, finding = first_conclusion("pool_saturation.f_tt_T.log")
    assert conclusion["kind"] == "thread_pileup"
    host, port = truth["server"]
    assert finding["evidence"]["resource"] == f"tcp {host}:{port}"
    assert finding["evidence"]["peak_threads"] == truth["peak_concurrent_recv"] == 8
    assert sorted(finding["evidence"]["threads"]) == sorted(truth["worker_tids"])
    assert "size the pool" in conclusion["fix"]


def test_lock_convoy_first() -> None:
    truth = measured("lock_convoy.f_tt_T")
    conclusion, finding = first_conclusion("lock_convoy.f_tt_T.log")
    assert conclusion["kind"] == "lock_contention"
    assert finding["evidence"]["waits"] == truth["acquisitions_waited_over_1ms"]
    assert finding["evidence"]["wait_total_s"] == pytest.approx(truth["wait_total_s"], rel=0.02)


@pytest.mark.parametrize(
    "name,errno", [("nproc_exhaustion.f_tt_T", "EAGAIN"), ("as_exhaustion.f_tt_T", "ENOMEM")]
)
def test_thread_exhaustion_first(name: str, errno: str) -> None:
    truth = measured(name)
    conclusion, finding = first_conclusion(f"{name}.log")
    assert conclusion["kind"] == "thread_exhaustion"
    assert finding["evidence"]["errno"] == errno
    assert finding["evidence"]["failures"] == 1
    assert finding["evidence"]["threads_alive"] == truth["live_threads_at_failure"]


def test_fsync_writer_fsync_first() -> None:
    truth = measured("fsync_writer.f_tt_T")
    conclusion, finding = first_conclusion("fsync_writer.f_tt_T.log")
    # One writer bound by its fsyncs: the storage it writes to is the conclusion (IOD017).
    assert conclusion["kind"] == "slow_storage"
    assert conclusion["culprit"]["pid"] == truth["pid"]
    assert conclusion["resource"]["key"] == truth["dir"]
    evidence = finding["evidence"]
    (fsync,) = [row for row in evidence["operations"] if row["op"] == "flush"]
    assert (fsync["syscalls"], evidence["top_files"][0]["path"]) == (["fsync"], truth["path"])
    assert fsync["calls"] == truth["fsync"]["count"] == truth["records"]
    assert fsync["total_s"] == pytest.approx(truth["fsync"]["total_s"], rel=0.1)
    assert "group commit" in conclusion["fix"]


def test_strace_perf_and_log_of_one_run_combine() -> None:
    """strace -ttt, perf with CLOCK_REALTIME times and the debug log of the same run: the loop's
    CPU episode gets the perf samples of the loop thread inside it."""
    truth = measured("asyncio_server.combined")
    conclusion, finding, findings = analyzed(
        "asyncio_server.combined.f_ttt_T.log",
        "asyncio_server.combined.debug.log",
        "asyncio_server.combined.perf_cpu.txt",
    )
    assert conclusion["kind"] == "blocked_loop" and finding["tid"] == truth["loop_tid"]
    assert finding["evidence"]["perf_aligned"] is True
    cpu = next(e for e in finding["evidence"]["episodes"] if e["cause"] == "cpu")
    measured_cpu = truth["blocking_episodes"]["cpu"]
    assert cpu["duration_s"] == pytest.approx(measured_cpu["duration_s"], abs=0.01)
    # perf samples at 999 Hz on the loop thread over ~0.25 s of pure CPU
    assert cpu["perf_samples"] >= 0.6 * 999 * measured_cpu["duration_s"]
    assert any("_PyEval_EvalFrameDefault" in hot["stack"] for hot in cpu["hot_stacks"])
    hot_loop = [f for f in findings if f["kind"] == "cpu_hotspot"]
    assert hot_loop and hot_loop[0]["evidence"]["event_loop"] is True


def test_fsync_writer_d_state_from_the_scheduler() -> None:
    """sched_switch with prev_state: the writer's uninterruptible sleep is its fsync waits."""
    truth = measured("fsync_writer.perf_sched")
    conclusion, finding = first_conclusion("fsync_writer.perf_sched.txt")
    assert conclusion["kind"] == "d_state"
    evidence = finding["evidence"]
    assert evidence["tid"] == truth["tid"]
    assert "fsync" in evidence["reason"]
    # D time is the part of the fsync calls spent asleep: most of them, never more.
    fsync_total = truth["fsync"]["total_s"]
    assert 0.5 * fsync_total <= evidence["d_state_s"] <= fsync_total + 0.005
    assert evidence["max_s"] <= truth["fsync"]["max_s"] + 0.001


def test_fsync_writer_syscall_latency_from_raw_syscalls() -> None:
    """perf's raw_syscalls enter/exit pairs give the writer's 200 fsyncs, each a little shorter
    than the os.fsync() call the program timed around it."""
    truth = measured("fsync_writer.perf_raw_syscalls")
    report = analyze([LOGS / "fsync_writer.perf_raw_syscalls.txt"]).report
    fsync = report["perf"]["syscall_latency"]["by_syscall"]["fsync"]
    assert fsync["count"] == truth["fsync"]["count"] == 200
    assert fsync["total_s"] <= truth["fsync"]["total_s"]
    assert fsync["total_s"] >= truth["fsync"]["total_s"] - 200 * 0.0002  # < 200 µs per call
    assert fsync["max_s"] <= truth["fsync"]["max_s"]


def test_sqlite_writers_sleep_retry_first() -> None:
    truth = measured("sqlite_writers.f_tt_T")
    conclusion, finding = first_conclusion("sqlite_writers.f_tt_T.log")
    assert conclusion["kind"] == "sleep_retry"
    evidence = finding["evidence"]
    assert evidence["resource"] == truth["database"] and evidence["sqlite"] is True
    assert evidence["escalating"] is True
    # a commit that took 50 ms or more waited for the lock (the fdatasyncs take < 10 ms)
    waited = {t["tid"] for t in truth["threads"] if t["commit_max_s"] >= 0.05}
    assert waited <= set(evidence["threads"]) <= {t["tid"] for t in truth["threads"]}
    # the sleeps are inside the commits the program timed, and most of their time
    commits_s = sum(
        t["commit_total_s"] for t in truth["threads"] if t["tid"] in evidence["threads"]
    )
    assert 0.5 * commits_s <= evidence["sleep_total_s"] <= commits_s
    assert "journal_mode=WAL" in conclusion["fix"]
