"""IOD006 thread_exhaustion: refused thread/process creation, on real and hand-written traces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pass_fixtures import DIAGNOSIS_LOGS, STRACE_LOGS, inputs_of

from analyzer.passes import PassConfig
from analyzer.passes.thread_exhaustion import (
    FAILURE_COST_S,
    downsample,
    lifetimes,
    run,
    thread_timeline,
)

THREAD_FLAGS = (
    "flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
    "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"
)
STACK_MMAP = "mmap(NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0)"


def _clone3(tid: int, time: str, child: int | None) -> str:
    head = f"{tid:<5} 10:00:{time} clone3({{{THREAD_FLAGS}, exit_signal=0, stack_size=0x7fff80}}"
    if child is None:
        return f"{head}, 88) = -1 EAGAIN (Resource temporarily unavailable) <0.000030>"
    return f"{head} => {{parent_tid=[{child}]}}, 88) = {child} <0.000090>"


def _trace(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_thread_loop_has_no_failure_and_its_timeline_matches_the_program(tmp_path: Path) -> None:
    measured = json.loads((STRACE_LOGS / "thread_loop.f_tt_T.measured.json").read_text())
    inputs = inputs_of(STRACE_LOGS / "thread_loop.f_tt_T.log")
    assert run(inputs, PassConfig()) == []
    trace = inputs.traces[0]
    born, gone = lifetimes(trace.tasks, trace.first_s)
    times, live = thread_timeline(born, gone)
    # threading.active_count() right after each start() (main thread included)
    created = trace.tasks.sort_by("created_s")["created_s"].to_numpy()[
        : measured["threads_created"]
    ]
    after_start = live[np.searchsorted(times, created, side="right") - 1]
    assert after_start.tolist() == measured["active_count_after_each_start"]
    assert live.max() == measured["peak_live_workers"] + 1
    assert live[-1] == 0  # every task exited


def test_negative_fixtures_have_no_failures() -> None:
    logs = [STRACE_LOGS / name for name in ("pool8.f_tt_T.log", "mt_pipes.f_tt_T.log")]
    logs += [
        DIAGNOSIS_LOGS / name
        for name in (
            "pool_saturation.f_tt_T.log",
            "lock_convoy.f_tt_T.log",
            "fsync_writer.f_tt_T.log",
        )
        if (DIAGNOSIS_LOGS / name).exists()
    ]
    for log in logs:
        assert run(inputs_of(log), PassConfig()) == [], log.name


def test_clone3_eagain_hand_written(tmp_path: Path) -> None:
    """Hand-written: 3 threads started under RLIMIT_NPROC=4 (one exits), then 2 refusals."""
    lines = [
        '100   10:00:00.000000 execve("/usr/bin/python3", ["python3"], 0x7ffd /* 1 var */) = 0 '
        "<0.000100>",
        "100   10:00:00.000500 prlimit64(0, RLIMIT_NPROC, {rlim_cur=4, rlim_max=4}, NULL) = 0 "
        "<0.000010>",
        _clone3(100, "00.500000", 101),
        _clone3(100, "00.600000", 102),
        "101   10:00:00.650000 +++ exited with 0 +++",
        _clone3(100, "00.700000", 103),
        _clone3(100, "01.200000", None),
        _clone3(100, "01.300000", None),
        "102   10:00:01.400000 +++ exited with 0 +++",
        "103   10:00:01.400000 +++ exited with 0 +++",
        "100   10:00:03.000000 exit_group(1)          = ?",
        "100   10:00:03.000100 +++ exited with 1 +++",
    ]
    findings = run(inputs_of(_trace(tmp_path, "nproc.log", lines)), PassConfig())
    assert len(findings) == 1
    finding = findings[0]
    evidence = finding.evidence
    assert (evidence["failed_call"], evidence["errno"], evidence["failures"]) == (
        "clone3",
        "EAGAIN",
        2,
    )
    assert evidence["threads_alive"] == 3  # main + 102 + 103 (101 exited at .65)
    assert evidence["peak_threads"] == 3
    assert evidence["creates"] == "threads"
    assert evidence["cause"].startswith("RLIMIT_NPROC (ulimit -u)")
    assert evidence["limits_seen"] == {"RLIMIT_NPROC": {"value": "4", "how": "set", "line": 2}}
    # all three threads were created in the second before the first failure: 3 in the
    # 0.69991 s from the first creation (clone3 returned at 0.50009) to the failure
    assert evidence["created_in_window"] == 3
    assert evidence["creation_window_s"] == pytest.approx(0.69991)
    assert evidence["creation_rate_per_s"] == pytest.approx(3 / 0.69991)
    assert evidence["first_at"] == pytest.approx(36001.2)
    assert finding.start == evidence["first_at"]
    assert finding.duration_s == pytest.approx(0.1)
    assert (finding.pid, finding.tid, finding.severity) == (100, 100, "error")
    assert finding.lines == (7, 8)
    # 1 s per refusal (2 s) outweighs the 1.8 s the process ran after the first one
    assert finding.cost_s == pytest.approx(2 * FAILURE_COST_S)
    timeline = evidence["timeline"]
    assert [count for _, count in timeline] == [1, 2, 3, 2, 3, 1, 0]
    assert "ThreadPoolExecutor" in finding.fix and "pids.max" in finding.fix
    assert "20 threads" not in finding.message
    assert "3 threads of the process alive" in finding.message
    assert "RLIMIT_NPROC set to 4 (line 2)" in finding.message


def test_stack_mmap_enomem_and_mprotect_hand_written(tmp_path: Path) -> None:
    """Hand-written: an arena mmap refused (not a stack: ignored), a stack mmap refused, and
    an mprotect refused inside a stack mapping the thread had just made."""
    lines = [
        "200   10:00:00.000000 prlimit64(0, RLIMIT_AS, {rlim_cur=300000000, rlim_max=300000000}, "
        "NULL) = 0 <0.000010>",
        "200   10:00:00.100000 mmap(NULL, 134217728, PROT_NONE, "
        "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0) = -1 ENOMEM (Cannot allocate memory) "
        "<0.000015>",
        f"200   10:00:00.200000 {STACK_MMAP} = -1 ENOMEM (Cannot allocate memory) <0.000013>",
        f"200   10:00:00.300000 {STACK_MMAP} = 0x7f0000000000 <0.000020>",
        "200   10:00:00.300100 mprotect(0x7f0000001000, 8388608, PROT_READ|PROT_WRITE) = -1 "
        "ENOMEM (Cannot allocate memory) <0.000010>",
        "200   10:00:00.300200 mprotect(0x5500000000, 4096, PROT_READ) = -1 ENOMEM (Cannot "
        "allocate memory) <0.000010>",
        "200   10:00:00.400000 +++ exited with 1 +++",
    ]
    findings = run(inputs_of(_trace(tmp_path, "as.log", lines)), PassConfig())
    by_call = {f.evidence["failed_call"]: f for f in findings}
    assert set(by_call) == {"mmap (MAP_STACK)", "mprotect of a thread stack"}
    mmap = by_call["mmap (MAP_STACK)"]
    assert (mmap.evidence["errno"], mmap.evidence["failures"]) == ("ENOMEM", 1)
    assert mmap.evidence["stack_bytes"] == 8392704
    assert mmap.evidence["threads_alive"] == 1
    assert mmap.evidence["cause"].startswith("the address-space limit (ulimit -v / RLIMIT_AS)")
    assert mmap.evidence["limits_seen"]["RLIMIT_AS"]["value"] == "300000000"
    assert "286 MiB" in mmap.message
    assert mmap.lines == (3,)
    assert "threading.stack_size" in mmap.fix
    protect = by_call["mprotect of a thread stack"]
    assert protect.evidence["failures"] == 1  # the mprotect outside any stack is not counted
    assert protect.lines == (4, 5)  # the refused mprotect and the stack mmap it followed
    assert protect.evidence["stack_bytes"] == 8392704


def test_fork_eagain_counts_tasks_across_processes_hand_written(tmp_path: Path) -> None:
    """Hand-written: a wrapper sets RLIMIT_NPROC=4 and starts a shell, which forks two
    children; its third fork is refused. The wrapper also changes another process's limit."""
    fork = "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, " + (
        "child_tidptr=0x7f0000000a10)"
    )
    lines = [
        "299   10:00:00.000000 prlimit64(0, RLIMIT_NPROC, {rlim_cur=4, rlim_max=4}, NULL) = 0 "
        "<0.000010>",
        "299   10:00:00.000100 prlimit64(1234, RLIMIT_NPROC, {rlim_cur=99, rlim_max=99}, NULL) "
        "= 0 <0.000010>",
        f"299   10:00:00.000200 {fork} = 300 <0.000100>",
        f"300   10:00:00.001000 {fork} = 301 <0.000100>",
        f"300   10:00:00.010000 {fork} = 302 <0.000100>",
        f"300   10:00:00.020000 {fork} = -1 EAGAIN (Resource temporarily unavailable) <0.000030>",
        "301   10:00:00.300000 +++ exited with 0 +++",
        "302   10:00:00.300000 +++ exited with 0 +++",
        "300   10:00:00.400000 +++ exited with 2 +++",
        "299   10:00:00.400100 +++ exited with 2 +++",
    ]
    findings = run(inputs_of(_trace(tmp_path, "fork.log", lines)), PassConfig())
    assert len(findings) == 1
    evidence = findings[0].evidence
    assert evidence["creates"] == "processes"
    assert evidence["threads_alive"] == 1  # the shell's own process has one thread
    assert evidence["tasks_alive_in_trace"] == 4
    assert evidence["peak_threads"] == 4 and evidence["timeline_scope"] == "trace"
    # inherited from the wrapper; the prlimit on pid 1234 is not this process's limit
    assert evidence["limits_seen"] == {"RLIMIT_NPROC": {"value": "4", "how": "set", "line": 1}}
    assert findings[0].title == "Process creation refused in pid 300: clone = EAGAIN"
    message = findings[0].message
    assert "4 tasks alive in the trace" in message
    assert "RLIMIT_NPROC set to 4 (line 1): the 4 tasks alive had reached it." in message


def test_downsample_keeps_peaks() -> None:
    times = np.arange(10_000, dtype=float)
    live = np.zeros(10_000, dtype=np.int64)
    live[4321] = 99
    points = downsample(times, live, 50)
    assert len(points) <= 51
    assert [4321.0, 99] in points
    assert points[-1] == [9999.0, 0]


NPROC = DIAGNOSIS_LOGS / "nproc_exhaustion.f_tt_T.log"
AS = DIAGNOSIS_LOGS / "as_exhaustion.f_tt_T.log"


def _measured(log: Path) -> dict:
    return json.loads(log.with_name(log.name.replace(".log", ".measured.json")).read_text())


def test_nproc_exhaustion_matches_the_program() -> None:
    measured = _measured(NPROC)
    assert measured["hit_limit"]
    findings = run(inputs_of(NPROC), PassConfig())
    assert len(findings) == 1
    finding = findings[0]
    evidence = finding.evidence
    # the program stops at its first RuntimeError: one refused clone3
    assert (evidence["failed_call"], evidence["errno"], evidence["failures"]) == (
        "clone3",
        "EAGAIN",
        1,
    )
    assert evidence["threads_alive"] == measured["live_threads_at_failure"]
    assert evidence["threads_alive"] == measured["tasks_in_proc_self_task_at_failure"]
    assert evidence["peak_threads"] == measured["live_threads_at_failure"]
    assert evidence["tasks_created"] == evidence["created_in_window"] == measured["threads_started"]
    # the program timed its loop from before the first start() to after the failure
    assert evidence["creation_window_s"] == pytest.approx(measured["time_to_failure_s"], abs=0.005)
    soft_limit = measured["rlimit_nproc"][0]
    assert evidence["limits_seen"]["RLIMIT_NPROC"]["value"] == str(soft_limit)
    assert f"the {soft_limit} tasks alive had reached it" in finding.message
    assert (finding.pid, finding.tid) == (measured["pid"], measured["main_tid"])
    assert finding.severity == "error"
    assert finding.cost_s >= FAILURE_COST_S


def test_as_exhaustion_matches_the_program() -> None:
    measured = _measured(AS)
    assert measured["hit_limit"]
    findings = run(inputs_of(AS), PassConfig())
    # the malloc arenas refused along the way (MAP_NORESERVE, ENOMEM) are not thread stacks
    assert len(findings) == 1
    finding = findings[0]
    evidence = finding.evidence
    assert (evidence["failed_call"], evidence["errno"], evidence["failures"]) == (
        "mmap (MAP_STACK)",
        "ENOMEM",
        1,
    )
    assert evidence["threads_alive"] == measured["live_threads_at_failure"]
    assert evidence["tasks_created"] == measured["threads_started"]
    assert evidence["creation_window_s"] == pytest.approx(measured["time_to_failure_s"], abs=0.005)
    assert evidence["limits_seen"]["RLIMIT_AS"]["value"] == str(measured["rlimit_as"][0])
    # glibc's default stack: RLIMIT_STACK plus one guard page
    assert evidence["stack_bytes"] == measured["rlimit_stack"][0] + 4096
    assert evidence["cause"].startswith("the address-space limit")
    assert finding.pid == measured["pid"]


# --- the limit named, and one finding per limit ------------------------------------------

INCIDENTS = Path(__file__).resolve().parents[2] / "fixtures" / "incidents"


def test_the_cgroup_limit_is_named_when_the_trace_read_pids_max() -> None:
    """fixtures/incidents/pids_limit_prefork: the master read its cgroup's pids.max and ran
    as root, and the program measured the limit itself (truth.json)."""
    folder = INCIDENTS / "pids_limit_prefork"
    truth = json.loads((folder / "truth.json").read_text())
    [finding] = [
        f
        for f in run(inputs_of(*(folder / name for name in truth["inputs"])), PassConfig())
        if f.evidence["errno"] == "EAGAIN"
    ]
    measured = truth["measured"]
    assert finding.pid == measured["master_pid"]
    assert finding.evidence["failures"] == measured["fork_failures"]
    assert finding.evidence["limit_clues"]["pids.max"] == str(measured["pids_max"])
    assert finding.evidence["limit_clues"]["uid"] == measured["uid"] == 0
    assert finding.resource is not None
    assert f"pids.max ({measured['pids_max']}" in finding.resource.text
    assert "RLIMIT_NPROC (ulimit -u)" not in finding.evidence["cause"]


def test_root_rules_out_rlimit_nproc_and_an_unknown_user_does_not() -> None:
    from analyzer.passes.thread_exhaustion import limit_verdict

    as_root, _ = limit_verdict({"uid": 0}, tasks_alive=40)
    assert "RLIMIT_NPROC does not limit" in as_root and "pids.max" in as_root
    unknown, checks = limit_verdict({}, tasks_alive=40)
    assert unknown.startswith("RLIMIT_NPROC") and "pids.max" in checks
    # A pids.max far above the tasks alive is not the limit that was hit.
    far, _ = limit_verdict({"pids.max": "4096", "uid": 1000}, tasks_alive=40)
    assert far.startswith("RLIMIT_NPROC")


def test_refusals_in_several_processes_are_one_finding(tmp_path: Path) -> None:
    """Hand-written: two processes of one trace refused a fork each (EAGAIN)."""
    lines = [
        "100   10:00:00.000000 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|"
        "CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 200 <0.000100>",
        "200   10:00:00.100000 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|"
        "CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = -1 EAGAIN (Resource temporarily "
        "unavailable) <0.000030>",
        "100   10:00:00.200000 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|"
        "CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = -1 EAGAIN (Resource temporarily "
        "unavailable) <0.000030>",
        "100   10:00:00.300000 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|"
        "CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = -1 EAGAIN (Resource temporarily "
        "unavailable) <0.000030>",
        "100   10:00:01.000000 exit_group(0) = ?",
    ]
    findings = run(inputs_of(_trace(tmp_path, "two.log", lines)), PassConfig())
    [finding] = [f for f in findings if f.evidence["errno"] == "EAGAIN"]
    assert finding.evidence["failing_pids"] == [100, 200]
    assert finding.evidence["failures"] == 3
    assert finding.pid == 100  # refused most often
