"""IOD007 slow_block_io, IOD008 d_state and IOD009 cpu_hotspot on real perf captures.

Expected figures are counted again here from the raw `perf script` text with regexes,
independently of the parser and of the tracepoint pairing; hand-built tables cover what the
research captures do not show (deep queues, D-state waits, cycle events).
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pass_fixtures import DIAGNOSIS_LOGS, ROOT, inputs_of

from analyzer.passes import Finding, PassConfig, PassInputs, block_io, cpu_hotspot, d_state
from analyzer.schema import PERF_BLOCK_IO, PERF_FRAMES, PERF_OFF_CPU, PERF_SAMPLES, PERF_STACKS

RESEARCH = ROOT / "fixtures" / "perf" / "research"
BLOCK = RESEARCH / "block_rq_insert_issue_complete.txt"
CPU_FP = RESEARCH / "cpu_py312_xperf_fp.txt"
CPU_JIT = RESEARCH / "cpu_py313_perfjit_dwarf.txt"
SCHED_ALL = RESEARCH / "sched_switch_wakeup_systemwide_filtered_callchain.txt"
FSYNC_BLOCK = DIAGNOSIS_LOGS / "fsync_writer.perf_block.txt"
ASYNCIO_CPU = DIAGNOSIS_LOGS / "asyncio_server.perf_cpu.txt"

_BLOCK_RE = re.compile(
    r"^\s*(?P<comm>.+?)\s+(?P<tid>\d+) \[\d+\]\s+(?:\S+ \S+ )?(?P<time>[\d.]+):\s+block:block_rq_"
    r"(?P<event>issue|complete): (?P<dev>\d+,\d+) (?P<rwbs>\w+) (?:(?P<bytes>\d+) )?\(\) "
    r"(?P<sector>\d+) \+"
)
_HEADER_RE = re.compile(
    r"^(?P<comm>\S+)\s+(?P<tid>\d+)\s+(?P<time>[\d.]+):\s+(?P<period>\d+) cpu-clock:"
)
_FRAME_RE = re.compile(r"^\s+[0-9a-f]+ (?P<symbol>.+?)(?:\+0x[0-9a-f]+)? \([^)]*\)$")


@functools.cache
def _inputs(path: Path) -> PassInputs:
    """Parsed once per test run: the tables are immutable, so tests can share them."""
    return inputs_of(path)


# --- slow_block_io ---------------------------------------------------------------------------


def _raw_block_requests(path: Path) -> list[dict]:
    """Issue/complete pairs on (dev, sector), as biosnoop pairs them, from the raw text."""
    issued: dict[tuple[str, str], dict] = {}
    pairs = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        match = _BLOCK_RE.match(line)
        if not match:
            continue
        key = (match["dev"], match["sector"])
        if match["event"] == "issue":
            issued[key] = {
                "issue": float(match["time"]),
                "rwbs": match["rwbs"],
                "bytes": int(match["bytes"]),
                "comm": match["comm"],
                "tid": int(match["tid"]),
                "line": line_no,
            }
        elif key in issued:
            request = issued.pop(key)
            request["complete"] = float(match["time"])
            pairs.append(request)
    return pairs


def _brute_queue_depth(requests: list[dict]) -> int:
    """Requests in flight just after each issue, counted one by one."""
    return max(
        sum(1 for other in requests if other["issue"] <= r["issue"] < other["complete"])
        for r in requests
    )


def test_block_io_research_capture_against_the_raw_text() -> None:
    raw = _raw_block_requests(BLOCK)
    latencies = sorted(r["complete"] - r["issue"] for r in raw)
    config = PassConfig(block_io_slow_s=0.0002)
    findings = block_io.run(_inputs(BLOCK), config)
    assert len(findings) == 1
    finding = findings[0]
    evidence = finding.evidence
    assert evidence["device"] == "254,0"
    assert evidence["requests"] == len(raw) == 90
    assert evidence["p50_s"] == pytest.approx(np.percentile(latencies, 50), abs=1e-9)
    assert evidence["p50_s"] == pytest.approx(65e-6, abs=1e-9)  # research: p50 65 µs
    assert evidence["p95_s"] == pytest.approx(np.percentile(latencies, 95), abs=1e-9)
    assert evidence["max_s"] == pytest.approx(297e-6, abs=1e-9)  # research: max 297 µs
    assert evidence["bytes"] == sum(r["bytes"] for r in raw)
    assert evidence["slow_requests"] == sum(1 for x in latencies if x >= 0.0002 - 1e-12)
    kinds = Counter(
        "flush"
        if r["rwbs"].startswith("F")
        else {"R": "read", "W": "write", "D": "discard"}[r["rwbs"][0]]
        for r in raw
    )
    assert {op: v["requests"] for op, v in evidence["by_operation"].items()} == dict(kinds)
    assert kinds == {"read": 40, "write": 30, "discard": 10, "flush": 10}
    assert evidence["queue_depth_peak"] == _brute_queue_depth(raw) == 1
    # depth 1 all along: the busy time is the sum of the latencies
    assert evidence["busy_s"] == pytest.approx(sum(latencies), abs=1e-9)
    assert finding.cost_s == evidence["busy_s"]
    by_thread = defaultdict(float)
    for r in raw:
        by_thread[(r["comm"], r["tid"])] += r["complete"] - r["issue"]
    top = max(by_thread, key=by_thread.__getitem__)
    assert (evidence["waiters"][0]["comm"], evidence["waiters"][0]["tid"]) == top
    slowest = max(raw, key=lambda r: r["complete"] - r["issue"])
    assert finding.start == pytest.approx(slowest["issue"])
    assert finding.duration_s == pytest.approx(297e-6, abs=1e-9)
    assert slowest["line"] in finding.lines
    assert finding.severity == "warning"
    assert finding.input == str(BLOCK)
    assert "p95 0.235 ms" in finding.message and "90 requests" in finding.message


def test_block_io_fast_device_is_not_reported() -> None:
    assert block_io.run(_inputs(BLOCK), PassConfig()) == []  # max 0.3 ms << 10 ms


def _measured(path: Path) -> dict:
    return json.loads(path.with_name(path.name.replace(".txt", ".measured.json")).read_text())


def test_block_io_fsync_writer_against_the_program_and_the_raw_text() -> None:
    measured = _measured(FSYNC_BLOCK)
    raw = _raw_block_requests(FSYNC_BLOCK)
    latencies = np.array([r["complete"] - r["issue"] for r in raw])
    inputs = _inputs(FSYNC_BLOCK)
    slow = np.percentile(latencies, 95) >= 0.01 or latencies.max() >= 0.1
    assert len(block_io.run(inputs, PassConfig())) == int(slow)  # default 10 ms threshold
    findings = block_io.run(inputs, PassConfig(block_io_slow_s=0.00001))
    assert len(findings) == 1
    evidence = findings[0].evidence
    assert evidence["device"] == measured["device"].replace(":", ",")
    assert evidence["requests"] == len(raw)
    # ext4: every fsync of the program ends in one cache flush (FF) of the device
    assert evidence["by_operation"]["flush"]["requests"] == measured["fsync"]["count"]
    assert evidence["p95_s"] == pytest.approx(np.percentile(latencies, 95), abs=1e-9)
    assert evidence["max_s"] == pytest.approx(latencies.max(), abs=1e-9)
    assert evidence["queue_depth_peak"] == _brute_queue_depth(raw)
    waiters = {(w["comm"], w["tid"]): w["requests"] for w in evidence["waiters"]}
    issued = Counter((r["comm"], r["tid"]) for r in raw)
    assert waiters == {key: issued[key] for key in waiters}
    assert ("python3.11", measured["tid"]) in waiters  # the program's own data writes


def _block_table(rows: list[tuple[str, str, int, int, int, str, int]]) -> pa.Table:
    """Hand-built perf_block_io rows: (dev, rwbs, bytes, issue µs, complete µs, comm, tid)."""
    columns: dict[str, list] = {name: [] for name in PERF_BLOCK_IO.names}
    for line, (dev, rwbs, size, issue, complete, comm, tid) in enumerate(rows, 1):
        row = {
            "dev": dev,
            "sector": line * 8,
            "nr_sectors": size // 512,
            "bytes": size,
            "rwbs": rwbs,
            "flush": rwbs.startswith("F"),
            "issue_ns": issue * 1000,
            "complete_ns": complete * 1000,
            "latency_ns": (complete - issue) * 1000,
            "error": 0,
            "comm": comm,
            "tid": tid,
            "issue_line": line,
        }
        for name in PERF_BLOCK_IO.names:
            columns[name].append(row.get(name))
    return pa.table(columns, schema=PERF_BLOCK_IO.schema)


def test_block_io_queue_depth_stall_and_severity_hand_built() -> None:
    """Hand-built: device 8,0 has 4 overlapping 50 ms writes (depth 3 at once, back-to-back
    requests not counted as overlapping); device 8,16 is fast but one flush took 2 s."""
    table = _block_table(
        [
            ("8,0", "WS", 4096, 0, 50_000, "db", 1),
            ("8,0", "WS", 4096, 10_000, 60_000, "db", 1),
            ("8,0", "W", 8192, 20_000, 70_000, "kworker/u8:1", 9),
            ("8,0", "WS", 4096, 50_000, 100_000, "db", 2),  # issued as the first completes
            *[
                ("8,16", "R", 4096, 200_000 + i * 100, 200_000 + i * 100 + 50, "app", 5)
                for i in range(30)
            ],
            ("8,16", "FF", 0, 300_000, 2_300_000, "app", 5),
        ]
    )
    findings = block_io.run(PassInputs(perf={"perf_block_io": table}), PassConfig())
    by_dev = {f.evidence["device"]: f for f in findings}
    assert set(by_dev) == {"8,0", "8,16"}
    slow = by_dev["8,0"]
    assert slow.evidence["queue_depth_peak"] == 3
    assert slow.evidence["queue_depth_peak_at"] == pytest.approx(0.020)
    assert slow.evidence["busy_s"] == pytest.approx(0.100)  # 0 .. 100 ms without a gap
    assert slow.evidence["p95_s"] == pytest.approx(0.050)
    assert slow.severity == "warning"  # p95 50 ms < 100 ms, max < 1 s
    assert slow.evidence["waiters"][0] == {
        "comm": "db",
        "tid": 1,
        "pid": None,
        "requests": 2,
        "total_s": pytest.approx(0.1),
        "max_s": pytest.approx(0.05),
    }
    assert slow.title == "Slow block device 8,0: p95 50 ms"
    assert "larger sequential blocks" in slow.fix
    stall = by_dev["8,16"]
    assert stall.evidence["p95_s"] < 0.01
    assert stall.severity == "error"  # a 2 s request
    assert stall.title == "Block device 8,16 stalled: one request took 2000 ms"
    assert stall.duration_s == pytest.approx(2.0)
    assert "fewer fsync" in stall.fix  # the flush dominates the device time


# --- d_state ---------------------------------------------------------------------------------


def _stack_tables(stacks: list[list[str]]) -> tuple[pa.Table, pa.Table]:
    """Hand-built perf_stacks/perf_frames for these stacks (symbols leaf first)."""
    symbols = sorted({s for stack in stacks for s in stack})
    frame_id = {s: i for i, s in enumerate(symbols)}
    frames = {name: [None] * len(symbols) for name in PERF_FRAMES.names}
    frames["frame_id"] = list(range(len(symbols)))
    frames["symbol"] = symbols
    frames["addr"] = [f"{i:x}" for i in range(len(symbols))]
    frames["inlined"] = [False] * len(symbols)
    stack_table = pa.table(
        {
            "stack_id": list(range(len(stacks))),
            "frame_ids": [[frame_id[s] for s in stack] for stack in stacks],
            "depth": [len(stack) for stack in stacks],
        },
        schema=PERF_STACKS.schema,
    )
    return stack_table, pa.table(frames, schema=PERF_FRAMES.schema)


def _off_cpu(rows: list[tuple[int, str, str, int, int, int | None]]) -> pa.Table:
    """Hand-built perf_off_cpu rows: (tid, comm, state, start µs, end µs, stack_id)."""
    columns: dict[str, list] = {name: [] for name in PERF_OFF_CPU.names}
    for line, (tid, comm, state, start, end, stack) in enumerate(rows, 1):
        row = {
            "tid": tid,
            "comm": comm,
            "state": state,
            "start_ns": start * 1000,
            "end_ns": end * 1000,
            "duration_ns": (end - start) * 1000,
            "stack_id": stack,
            "out_line": line * 10,
            "in_line": line * 10 + 1,
        }
        for name in PERF_OFF_CPU.names:
            columns[name].append(row.get(name))
    return pa.table(columns, schema=PERF_OFF_CPU.schema)


FAULT = [
    "__schedule",
    "schedule",
    "io_schedule",
    "folio_wait_bit_common",
    "filemap_fault",
    "__do_fault",
]
FSYNC = [
    "__schedule",
    "schedule",
    "io_schedule",
    "jbd2_log_wait_commit",
    "ext4_sync_file",
    "__x64_sys_fsync",
]


def test_d_state_threads_stacks_and_reasons_hand_built() -> None:
    """Hand-built: a writer 1.2 s in D (mostly fsync), a reader 0.08 s in D on page faults,
    a thread with 0.04 s of D (under the 50 ms threshold) and long S sleeps (not D)."""
    stacks, frames = _stack_tables([FAULT, FSYNC])
    off_cpu = _off_cpu(
        [
            (10, "writer", "D", 0, 500_000, 1),
            (10, "writer", "D", 600_000, 1_200_000, 1),
            (10, "writer", "D", 1_300_000, 1_400_000, 0),
            (10, "writer", "S", 1_400_000, 5_000_000, None),
            (11, "io reader", "D", 100_000, 140_000, 0),
            (11, "io reader", "D|K", 200_000, 240_000, 0),
            (12, "idle", "D", 0, 40_000, None),
            (12, "idle", "S", 40_000, 9_000_000, None),
        ]
    )
    perf = {"perf_off_cpu": off_cpu, "perf_stacks": stacks, "perf_frames": frames}
    findings = d_state.run(PassInputs(perf=perf), PassConfig())
    assert [f.tid for f in findings] == [10, 11]
    writer, reader = findings
    assert writer.evidence["d_state_s"] == pytest.approx(1.2)
    assert writer.evidence["intervals"] == 3
    assert writer.evidence["max_s"] == pytest.approx(0.6)
    assert writer.evidence["share_of_observed"] == pytest.approx(1.2 / 5.0)
    assert writer.severity == "error" and writer.cost_s == pytest.approx(1.2)
    assert (writer.start, writer.duration_s) == (pytest.approx(0.6), pytest.approx(0.6))
    top = writer.evidence["top_stacks"]
    assert top[0]["stack"] == "jbd2_log_wait_commit <- ext4_sync_file <- __x64_sys_fsync"
    assert (top[0]["total_s"], top[0]["count"]) == (pytest.approx(1.1), 2)
    assert top[0]["reason"] == "flushing to disk (fsync or the filesystem journal)"
    assert top[1]["reason"] == "reading file pages from disk (page-cache miss)"
    assert "fsync less often" in writer.fix
    assert writer.lines == (10, 20, 30)
    assert reader.evidence["d_state_s"] == pytest.approx(0.08)  # D|K counts as D
    assert reader.severity == "warning"
    assert reader.evidence["comm"] == "io reader"
    assert "page cache" in reader.fix
    assert "Thread 11 (io reader) spent 0.080 s in uninterruptible sleep" in reader.message


def test_d_state_real_capture_without_d_intervals() -> None:
    # research §3.2: the filtered system-wide capture pairs only S and R intervals
    inputs = _inputs(SCHED_ALL)
    assert inputs.perf["perf_off_cpu"].num_rows == 251
    assert d_state.run(inputs, PassConfig()) == []
    assert d_state.run(_inputs(BLOCK), PassConfig()) == []  # no sched_switch at all


def test_d_state_stacks_come_from_the_real_callchains() -> None:
    """The real callchains of the capture, with D intervals hand-built on its stack ids."""
    inputs = _inputs(SCHED_ALL)
    real = inputs.perf["perf_off_cpu"].slice(0, 5)
    as_d = real.set_column(
        real.schema.get_field_index("state"), "state", pa.array(["D"] * 5, pa.string())
    )
    perf = dict(inputs.perf, perf_off_cpu=as_d)
    findings = d_state.run(PassInputs(perf=perf), PassConfig(d_state_min_s=0.0))
    stacks = [s["stack"] for f in findings for s in f.evidence["top_stacks"]]
    assert stacks and all(s and not s.startswith(("__schedule", "schedule ")) for s in stacks)


# --- cpu_hotspot -----------------------------------------------------------------------------


def _raw_cpu_samples(path: Path) -> list[dict]:
    """Each cpu-clock sample of the raw text: tid, time, period, leaf symbol, innermost py::."""
    samples: list[dict] = []
    for line in path.read_text().splitlines():
        header = _HEADER_RE.match(line)
        if header:
            samples.append(
                {
                    "tid": int(header["tid"]),
                    "time": float(header["time"]),
                    "period": int(header["period"]),
                    "leaf": None,
                    "python": None,
                }
            )
            continue
        frame = _FRAME_RE.match(line)
        if frame and samples:
            sample = samples[-1]
            if sample["leaf"] is None:
                sample["leaf"] = frame["symbol"]
            if sample["python"] is None and frame["symbol"].startswith("py::"):
                sample["python"] = frame["symbol"][4:]
    return samples


def test_cpu_hotspot_two_busy_threads_against_the_raw_text() -> None:
    raw = _raw_cpu_samples(CPU_FP)
    span = max(s["time"] for s in raw) - min(s["time"] for s in raw)
    findings = cpu_hotspot.run(_inputs(CPU_FP), PassConfig())
    # cpu_work.py: the main thread and py-worker spin 1 s each, sharing the GIL
    assert sorted(f.tid for f in findings) == sorted({s["tid"] for s in raw}) == [8798, 8800]
    for finding in findings:
        mine = [s for s in raw if s["tid"] == finding.tid]
        evidence = finding.evidence
        assert evidence["samples"] == len(mine)
        assert evidence["cpu_s"] == pytest.approx(sum(s["period"] for s in mine) / 1e9)
        assert evidence["share_of_span"] == pytest.approx(evidence["cpu_s"] / span)
        assert 0.4 < evidence["share_of_span"] < 0.6
        leaves = Counter(s["leaf"] for s in mine)
        top = evidence["top_symbols"][0]
        assert top["samples"] == max(leaves.values())
        assert leaves[top["symbol"]] == top["samples"]
        assert finding.severity == "info" and finding.cost_s == evidence["cpu_s"]
        assert evidence["event_loop"] is False
    assert "hottest functions (self): _PyEval_EvalFrameDefault 12%" in findings[0].message


def test_cpu_hotspot_python_functions_from_the_perf_trampoline() -> None:
    raw = _raw_cpu_samples(CPU_JIT)
    findings = cpu_hotspot.run(_inputs(CPU_JIT), PassConfig())
    assert len(findings) == 2
    for finding in findings:
        mine = [s for s in raw if s["tid"] == finding.tid]
        innermost = Counter(s["python"] for s in mine if s["python"])
        listed = finding.evidence["python_functions"]
        ranked = sorted(innermost.items(), key=lambda item: (-item[1], item[0]))
        assert [(f["function"], f["samples"]) for f in listed] == ranked[: len(listed)]
        coverage = sum(innermost.values()) / len(mine)
        assert finding.evidence["python_coverage"] == pytest.approx(coverage)
        assert coverage > 0.5
        assert "hottest Python functions: " in finding.message


def test_cpu_hotspot_marks_the_event_loop_thread() -> None:
    earlier = Finding(
        code="IOD002",
        kind="blocked_loop",
        severity="warning",
        title="hand-built",
        message="",
        evidence={"loop_tid": 8800},
        input="server.log",
        pid=8798,
    )
    inputs = _inputs(CPU_FP)
    findings = cpu_hotspot.run(PassInputs(perf=inputs.perf, earlier=(earlier,)), PassConfig())
    loop = next(f for f in findings if f.tid == 8800)
    assert loop.severity == "warning" and loop.evidence["event_loop"] is True
    assert loop.title == "CPU-bound code on event loop thread 8800"
    assert "ProcessPoolExecutor" in loop.fix
    # the perf input the samples came from; the pid from the loop finding (perf printed none)
    assert (loop.input, loop.pid) == (str(CPU_FP), 8798)
    assert next(f for f in findings if f.tid == 8798).severity == "info"
    assert findings[0] is loop  # loop threads first


def test_cpu_hotspot_quiet_threads_and_other_events() -> None:
    # comm_work.py: 5 threads share 2 CPUs for 0.3 s; none reaches 25% of the span for 0.1 s
    comm = _inputs(RESEARCH / "cpu_awkward_comm_callchain.txt")
    assert cpu_hotspot.run(comm, PassConfig()) == []
    assert cpu_hotspot.run(_inputs(BLOCK), PassConfig()) == []  # tracepoints only


def test_cpu_hotspot_cycles_time_is_estimated_hand_built() -> None:
    """Hand-built: 200 cycles samples of one thread every 1 ms (a busy thread), plus 3 of
    another thread far apart."""
    columns: dict[str, list] = {name: [] for name in PERF_SAMPLES.names}
    rows = [(7, i * 1_000_000) for i in range(200)] + [(8, i * 90_000_000) for i in range(3)]
    for line, (tid, time_ns) in enumerate(rows, 1):
        row = {
            "line_no": line,
            "time_ns": time_ns,
            "tid": tid,
            "comm": "app",
            "event": "cycles:P",
            "period": 2_600_000,
            "cut": False,
        }
        for name in PERF_SAMPLES.names:
            columns[name].append(row.get(name))
    samples = pa.table(columns, schema=PERF_SAMPLES.schema)
    findings = cpu_hotspot.run(PassInputs(perf={"perf_samples": samples}), PassConfig())
    assert [f.tid for f in findings] == [7]
    assert findings[0].evidence["cpu_s_estimated"] is True
    assert findings[0].evidence["cpu_s"] == pytest.approx(0.2)  # 200 samples × 1 ms
    assert findings[0].message.startswith("Thread 7 (app) was on CPU for ~0.200 s")


def test_cpu_hotspot_asyncio_server_loop_thread() -> None:
    """The asyncio server profiled with perf; the blocked_loop finding is hand-built with the
    loop tid the program recorded (that pass needs strace of the same run)."""
    measured = _measured(ASYNCIO_CPU)
    loop_tid = measured["loop_tid"]
    raw = [s for s in _raw_cpu_samples(ASYNCIO_CPU) if s["tid"] == loop_tid]
    earlier = Finding(
        code="IOD002",
        kind="blocked_loop",
        severity="error",
        title="hand-built",
        message="",
        evidence={"loop_tid": loop_tid},
    )
    inputs = _inputs(ASYNCIO_CPU)
    findings = cpu_hotspot.run(PassInputs(perf=inputs.perf, earlier=(earlier,)), PassConfig())
    loop = findings[0]
    assert (loop.tid, loop.severity, loop.evidence["event_loop"]) == (loop_tid, "warning", True)
    assert loop.evidence["samples"] == len(raw)
    assert loop.evidence["cpu_s"] == pytest.approx(sum(r["period"] for r in raw) / 1e9)
    # at least the 0.25 s the program spun on the loop in its "cpu" request
    assert loop.evidence["cpu_s"] >= measured["blocking_episodes"]["cpu"]["duration_s"]
    assert loop.message.startswith(f"Event loop thread {loop_tid} (python3.11) was on CPU")
