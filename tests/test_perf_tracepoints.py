"""Tracepoint tables (block I/O, off-CPU, syscall latency) on the real perf captures.

Expected figures come from ../shared/research/perf.md §3 (checked there with separate
scripts or with `perf sched timehist`) and, where possible, are counted again here straight
from the raw text with regexes, independently of the parser and of the pairing code.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from analyzer.derive.perf_tracepoints import (
    X86_64_SYSCALL_NUMBERS,
    X86_64_SYSCALLS,
    block_io,
    off_cpu,
    syscall_latency,
)
from analyzer.formats.perf import parse
from analyzer.inputs import iter_line_chunks
from analyzer.schema import PERF_BLOCK_IO, PERF_OFF_CPU, PERF_SAMPLES, PERF_SYSCALL_LATENCY

RESEARCH = Path(__file__).resolve().parent.parent / "fixtures" / "perf" / "research"
BLOCK = RESEARCH / "block_rq_insert_issue_complete.txt"
BLOCK_G = RESEARCH / "block_rq_issue_complete_callchain.txt"
SCHED_ALL = RESEARCH / "sched_switch_wakeup_systemwide_filtered_callchain.txt"
SCHED_TASK = RESEARCH / "sched_switch_wakeup_pertask_callchain.txt"
RAW_SYS = RESEARCH / "raw_syscalls_enter_exit.txt"
NAMED_SYS = RESEARCH / "syscalls_named_enter_exit.txt"
MIXED = RESEARCH / "mixed_cpuclock_sched_rawsyscalls.txt"


def _samples(path: Path) -> pa.Table:
    with path.open("rb") as stream:
        return parse(iter_line_chunks(stream), str(path)).samples


def _count(path: Path, pattern: str) -> int:
    regex = re.compile(pattern)
    return sum(1 for line in path.read_text().splitlines() if regex.search(line))


# --- block I/O -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [BLOCK, BLOCK_G])
def test_block_io_research_figures(path: Path) -> None:
    table, counts = block_io(_samples(path))
    assert table.schema.equals(PERF_BLOCK_IO.schema, check_metadata=True)
    issues = _count(path, r" block:block_rq_issue: ")
    completions = _count(path, r" block:block_rq_complete: ")
    sentinel = _count(path, r" block:block_rq_complete: \d+,\d+ FF \(\) 18446744073709551615 \+ 0 ")
    assert (issues, completions, sentinel) == (90, 100, 10)
    assert counts["issues"] == issues
    assert counts["completions"] == completions
    # research §3.1: 90 pairs on (dev, sector); 10 completions without issue, all FF flushes
    assert counts["pairs"] == table.num_rows == 90 == completions - sentinel
    assert counts["unmatched_completions"] == counts["unmatched_flush_completions"] == 10
    assert counts["unmatched_issues"] == 0
    assert counts["unparsed_payloads"] == 0
    # the flush issues (FF at sector 0, 0 sectors) pair with the empty request completing there
    ff_issues = _count(path, r" block:block_rq_issue: \d+,\d+ FF 0 \(\) 0 \+ 0 ")
    assert counts["flush_pairs"] == ff_issues == 10
    flushes = table.filter(table["flush"])
    assert set(flushes["rwbs"].to_pylist()) == {"FF"}
    assert set(flushes["bytes"].to_pylist()) == {0}
    assert pc.min(table["latency_ns"]).as_py() > 0
    # the owner is the issuer, never the task a softirq completion interrupted
    assert set(table["comm"].to_pylist()) == {"python3.11", "kworker/0:0H-kb"}


def test_block_io_latency_percentiles_and_first_pair() -> None:
    table, counts = block_io(_samples(BLOCK))
    latencies = sorted(table["latency_ns"].to_pylist())
    assert latencies[len(latencies) // 2] == 65_000  # research: p50 65 µs
    assert latencies[-1] == 297_000  # research: p99/max 297 µs
    assert counts["inserts"] == _count(BLOCK, r" block:block_rq_insert: ") == 80
    first = table.slice(0, 1).to_pylist()[0]
    # lines 1-3 of the file: insert 446.577295, issue 446.577346, complete 446.577643
    assert first["dev"] == "254,0"
    assert (first["sector"], first["nr_sectors"], first["bytes"]) == (48773632, 512, 262144)
    assert (first["rwbs"], first["ioprio"], first["error"]) == ("WS", "0x2,0,4", 0)
    assert first["insert_ns"] == 446_577_295_000
    assert first["queue_ns"] == 51_000
    assert first["latency_ns"] == 297_000
    assert (first["comm"], first["tid"], first["issue_line"], first["complete_line"]) == (
        "python3.11",
        11213,
        2,
        3,
    )
    assert table.filter(table["flush"])["insert_ns"].null_count == 10  # FF has no insert


def test_block_io_callchain_keeps_issue_stack() -> None:
    samples = _samples(BLOCK_G)
    table, _ = block_io(samples)
    assert table["issue_stack_id"].null_count == 0
    first = table.slice(0, 1).to_pylist()[0]
    # the completion (line 29) was charged to `as`, the issue (line 1) to python3.11
    assert (first["issue_line"], first["complete_line"]) == (1, 29)
    assert first["comm"] == "python3.11"
    completion = samples.filter(pc.equal(samples["line_no"], 29)).to_pylist()[0]
    assert completion["comm"] == "as"


def _sample_table(rows: list[dict]) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in PERF_SAMPLES.names}
    for line_no, row in enumerate(rows, 1):
        full = {"line_no": line_no, "cpu": 0, "pid": None, "stack_id": None, **row}
        for name in PERF_SAMPLES.names:
            columns[name].append(full.get(name))
    return pa.table(columns, schema=PERF_SAMPLES.schema)


def _block(time_us: int, event: str, payload: str, comm: str = "dd", tid: int = 7) -> dict:
    return {
        "time_ns": time_us * 1000,
        "event": f"block:block_rq_{event}",
        "payload": payload,
        "comm": comm,
        "tid": tid,
    }


def test_block_io_pre_2024_format_hand_written() -> None:
    """Hand-written: the pre-ioprio payloads, a re-issue, an unmatched issue, a bad payload."""
    samples = _sample_table(
        [
            _block(100, "insert", "8,0 R 4096 () 123456 + 8 [dd]"),
            _block(110, "issue", "8,0 R 4096 () 123456 + 8 [dd]"),
            _block(120, "issue", "8,0 R 4096 () 123456 + 8 [dd]"),  # re-issue: overwrites
            _block(130, "issue", "8,16 W 8192 () 999 + 16 [io worker 1]", "io worker 1", 9),
            _block(150, "complete", "8,0 R () 123456 + 8 [0]", "swapper", 0),
            _block(160, "complete", "8,0 R () 5 + 8 [-5]", "swapper", 0),  # no issue
            _block(170, "complete", "garbage", "swapper", 0),
        ]
    )
    table, counts = block_io(samples)
    assert counts["pairs"] == 1
    assert counts["reissues"] == 1
    assert counts["unmatched_issues"] == 1  # 8,16 sector 999
    assert counts["unmatched_flush_issues"] == 0
    assert counts["unmatched_completions"] == 1
    assert counts["unmatched_flush_completions"] == 0
    assert counts["unparsed_payloads"] == 1
    row = table.to_pylist()[0]
    assert (row["dev"], row["sector"], row["bytes"], row["ioprio"]) == ("8,0", 123456, 4096, None)
    assert (row["issue_ns"], row["latency_ns"], row["queue_ns"]) == (120_000, 30_000, 20_000)
    assert (row["comm"], row["tid"], row["error"]) == ("dd", 7, 0)


# --- off-CPU ---------------------------------------------------------------------------------

_SWITCH_RE = re.compile(
    r"sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) .* ==> next_comm=.*? next_pid=(\d+)"
)


def _never_switched_in(path: Path) -> dict[int, str]:
    """Threads whose last switch-out has no later switch-in, read from the raw text."""
    away: dict[int, str] = {}
    for line in path.read_text().splitlines():
        match = _SWITCH_RE.search(line)
        if match:
            if match[2] != "0":
                away[int(match[2])] = match[1]
            away.pop(int(match[3]), None)
    return away


def test_off_cpu_systemwide_matches_perf_sched_timehist() -> None:
    table, counts = off_cpu(_samples(SCHED_ALL))
    assert table.schema.equals(PERF_OFF_CPU.schema, check_metadata=True)
    assert counts["switches"] == _count(SCHED_ALL, r" sched:sched_switch: ") == 465
    assert counts["unparsed_payloads"] == 0
    python = table.filter(pc.equal(table["comm"], "python3.11"))
    by_state: dict[str, list[int]] = {}
    for state, duration in zip(
        python["state"].to_pylist(), python["duration_ns"].to_pylist(), strict=True
    ):
        by_state.setdefault(state, []).append(duration)
    # research §3.2 (perf sched timehist): 244 S intervals totalling 809.5 ms, 6 R (0.1 ms)
    assert len(by_state["S"]) == 244
    assert round(sum(by_state["S"]) / 1e6, 1) == 809.5
    assert len(by_state["R"]) == 6
    assert round(sum(by_state["R"]) / 1e6, 1) == 0.1
    assert set(by_state) == {"S", "R"}
    # research: 6 switch-outs of the workload never matched (threads exited: 5 X, 1 Z); the
    # filter also shows 3 other tasks leaving the CPU with no recorded return.
    away = _never_switched_in(SCHED_ALL)
    assert counts["unmatched_switch_outs"] == len(away) == 9
    assert sum(1 for comm in away.values() if comm == "python3.11") == 6
    assert python["stack_id"].null_count == 0  # -g: the stack where the thread blocked
    assert pc.min(table["duration_ns"]).as_py() >= 0
    assert counts["intervals"] == table.num_rows


def test_off_cpu_per_task_only_pairs_recorded_switch_ins() -> None:
    samples = _samples(SCHED_TASK)
    table, counts = off_cpu(samples)
    # research: per-task file, 303 sched_switch, all with prev_comm=python3.11
    assert counts["switches"] == 303 == _count(SCHED_TASK, r"sched_switch: prev_comm=python3.11 ")
    # an interval ends only where one traced thread switched straight to another
    ends = samples.filter(pc.is_in(samples["line_no"], table["in_line"]))
    for payload, tid in zip(ends["payload"].to_pylist(), table["tid"].to_pylist(), strict=True):
        assert f" next_pid={tid} " in payload
    assert counts["unmatched_switch_outs"] == len(_never_switched_in(SCHED_TASK))
    _, mixed = off_cpu(_samples(MIXED))
    assert mixed["intervals"] == 0  # single-threaded per-task recording: switch-outs only
    assert mixed["switches"] == _count(MIXED, r" sched:sched_switch: ") == 99


def _switch(time_us: int, prev: tuple[str, int], state: str, nxt: tuple[str, int]) -> dict:
    return {
        "time_ns": time_us * 1000,
        "event": "sched:sched_switch",
        "comm": prev[0],
        "tid": prev[1],
        "payload": f"prev_comm={prev[0]} prev_pid={prev[1]} prev_prio=120 prev_state={state} "
        f"==> next_comm={nxt[0]} next_pid={nxt[1]} next_prio=120",
    }


def test_off_cpu_hand_written() -> None:
    """Hand-written: comm with spaces, idle task, repeated switch-out, switch-in only."""
    worker = ("io worker 1", 11709)
    idle = ("swapper/0", 0)
    other = ("bash", 42)
    samples = _sample_table(
        [
            _switch(100, idle, "R", other),  # bash in, never seen out: unmatched switch-in
            _switch(200, worker, "S", idle),
            _switch(300, worker, "D", idle),  # missed switch-in: the later switch-out wins
            _switch(450, idle, "R", worker),
            _switch(500, worker, "R+", other),
        ]
    )
    table, counts = off_cpu(samples)
    assert table.to_pylist() == [
        {
            "tid": 11709,
            "pid": None,
            "comm": "io worker 1",
            "state": "D",
            "start_ns": 300_000,
            "end_ns": 450_000,
            "duration_ns": 150_000,
            "cpu_out": 0,
            "cpu_in": 0,
            "stack_id": None,
            "out_line": 3,
            "in_line": 4,
        }
    ]
    assert counts["unmatched_switch_ins"] == 2  # bash twice
    assert counts["repeated_switch_outs"] == 1
    assert counts["unmatched_switch_outs"] == 1  # the worker's R+ at the end


# --- syscall latency -------------------------------------------------------------------------


def test_x86_64_table() -> None:
    # spot checks against arch/x86/entry/syscalls/syscall_64.tbl
    expected = {0: "read", 1: "write", 59: "execve", 74: "fsync", 202: "futex"}
    expected |= {231: "exit_group", 257: "openat", 262: "newfstatat", 334: "rseq"}
    expected |= {435: "clone3", 462: "mseal"}
    for nr, name in expected.items():
        assert X86_64_SYSCALLS[nr] == name
        assert X86_64_SYSCALL_NUMBERS[name] == nr
    assert len(X86_64_SYSCALLS) == len(X86_64_SYSCALL_NUMBERS) == 337 + 47


@pytest.mark.parametrize("path", [RAW_SYS, MIXED])
def test_raw_syscalls(path: Path) -> None:
    table, counts = syscall_latency(_samples(path))
    assert table.schema.equals(PERF_SYSCALL_LATENCY.schema, check_metadata=True)
    enters = _count(path, r" raw_syscalls:sys_enter: NR ")
    exits = _count(path, r" raw_syscalls:sys_exit: NR ")
    assert (counts["enters"], counts["exits"]) == (enters, exits) == (1408, 1408)
    # the first record is the exit of execve (NR 59) and the last the enter of exit_group
    assert counts["unmatched_exits"] == 1
    assert counts["unmatched_enters"] == 1
    assert counts["pairs"] == table.num_rows == 1407
    assert counts["mismatched"] == counts["replaced_enters"] == counts["unparsed_payloads"] == 0
    assert "exit_group" not in table["syscall"].to_pylist()
    named = Counter(table["syscall"].to_pylist())
    numbers = Counter(re.findall(r"raw_syscalls:sys_enter: NR (\d+) ", path.read_text()))
    assert named["fsync"] == numbers["74"] > 0
    assert named["openat"] == numbers["257"] > 0
    assert table["syscall"].null_count == 0
    errors = _count(path, r"raw_syscalls:sys_exit: NR \d+ = -\d+$")
    assert sum(table["error"].to_pylist()) == errors > 0
    assert pc.min(table["duration_ns"]).as_py() >= 0
    assert set(table["source"].to_pylist()) == {"raw_syscalls"}


def test_named_syscalls() -> None:
    table, counts = syscall_latency(_samples(NAMED_SYS))
    text = NAMED_SYS.read_text()
    enters = Counter(re.findall(r" syscalls:sys_enter_(\w+): ", text))
    assert counts["pairs"] == table.num_rows == sum(enters.values()) == 370
    assert counts["unmatched_enters"] == counts["unmatched_exits"] == counts["mismatched"] == 0
    assert Counter(table["syscall"].to_pylist()) == enters
    fsync = table.filter(pc.equal(table["syscall"], "fsync"))
    assert set(fsync["nr"].to_pylist()) == {74}
    enoent = _count(NAMED_SYS, r"syscalls:sys_exit_openat: 0xfffffffffffffffe$")
    assert enoent > 0
    assert table.filter(pc.equal(table["ret"], -2)).num_rows == enoent
    assert sum(table["error"].to_pylist()) == _count(NAMED_SYS, r"sys_exit_\w+: 0xfffffffffff")
    # the 2 fsync lines quoted in the research: enter 473.218487, exit 473.219093
    row = table.filter(pc.equal(table["enter_ns"], 473_218_487_000)).to_pylist()[0]
    assert (row["syscall"], row["exit_ns"], row["ret"], row["args"]) == (
        "fsync",
        473_219_093_000,
        0,
        "fd: 0x00000003",
    )


def test_syscalls_hand_written() -> None:
    """Hand-written: two threads interleaved, a lost exit, a mismatched exit, both sources."""

    def event(time_us: int, tid: int, event: str, payload: str) -> dict:
        return {
            "time_ns": time_us * 1000,
            "tid": tid,
            "comm": "t",
            "event": event,
            "payload": payload,
        }

    enter, leave = "raw_syscalls:sys_enter", "raw_syscalls:sys_exit"
    samples = _sample_table(
        [
            event(1, 10, enter, "NR 0 (3, 7ffe, 340, 0, 0, 0)"),
            event(2, 11, enter, "NR 1 (1, 7ffe, 5, 0, 0, 0)"),
            event(3, 11, leave, "NR 1 = 5"),
            event(4, 10, leave, "NR 0 = -11"),
            event(5, 10, enter, "NR 202 (7f, 80, 0, 0, 0, 0)"),
            event(6, 10, enter, "NR 7 (7f, 1, 0, 0, 0, 0)"),  # the futex exit was lost
            event(7, 10, leave, "NR 7 = 1"),
            event(8, 11, enter, "NR 3 (4, 0, 0, 0, 0, 0)"),
            event(9, 11, leave, "NR 8 = 0"),  # not the pending call
            event(10, 12, "syscalls:sys_enter_fsync", "fd: 0x00000003"),
            event(11, 12, enter, "NR 74 (3, 0, 0, 0, 0, 0)"),
            event(12, 12, leave, "NR 74 = 0"),
            event(13, 12, "syscalls:sys_exit_fsync", "0xfffffffffffffffb"),
            event(14, 13, enter, "NR 999 (0, 0, 0, 0, 0, 0)"),
            event(15, 13, leave, "NR 999 = -38"),
        ]
    )
    table, counts = syscall_latency(samples)
    rows = [(r["tid"], r["syscall"], r["duration_ns"], r["ret"], r["error"], r["source"])
            for r in table.to_pylist()]  # fmt: skip
    assert rows == [
        (11, "write", 1000, 5, False, "raw_syscalls"),
        (10, "read", 3000, -11, True, "raw_syscalls"),
        (10, "poll", 1000, 1, False, "raw_syscalls"),
        (12, "fsync", 1000, 0, False, "raw_syscalls"),
        (12, "fsync", 3000, -5, True, "syscalls"),
        (13, None, 1000, -38, True, "raw_syscalls"),
    ]
    assert counts["replaced_enters"] == 1
    assert counts["mismatched"] == 1
    assert counts["unmatched_enters"] == counts["unmatched_exits"] == 0
    assert table["nr"].to_pylist()[-1] == 999
