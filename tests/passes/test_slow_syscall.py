"""IOD001 slow_syscall on real captures, checked against what the programs measured."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pass_fixtures import DIAGNOSIS_LOGS, STRACE_LOGS, hand_built, inputs_of

from analyzer.passes import PassConfig, slow_syscall
from analyzer.passes.targets import (
    _PATH_ARGUMENT,
    _may_name_path,
    _naming_rows,
    describe,
    resources,
    target_classes,
    with_paths,
)
from analyzer.schema import SYSCALLS


def test_pool_workers_slow_recvfrom_on_one_peer() -> None:
    measured = json.loads((STRACE_LOGS / "pool8.f_tt_T.measured.json").read_text())
    findings = slow_syscall.run(inputs_of(STRACE_LOGS / "pool8.f_tt_T.log"), PassConfig())
    assert [f.evidence["syscall"] for f in findings] == ["recvfrom"]
    finding = findings[0]
    host, port = measured["server"]
    assert finding.evidence["target"] == f"tcp {host}:{port}"
    assert finding.evidence["target_kind"] == "tcp"
    assert finding.evidence["count"] == measured["tasks"]
    assert finding.evidence["thread_count"] == measured["distinct_worker_tids"]
    assert set(finding.evidence["threads"]) == {r["tid"] for r in measured["task_records"]}
    blocked = sorted(r["recv_blocked_s"] for r in measured["task_records"])
    assert finding.evidence["max_s"] == pytest.approx(blocked[-1], abs=0.005)
    assert finding.evidence["total_s"] == pytest.approx(sum(blocked), abs=0.005 * len(blocked))
    assert finding.cost_s == finding.evidence["total_s"]
    assert finding.title == f"Slow recvfrom on TCP peer {host}:{port}"
    assert "backend is slow" in finding.fix
    assert len(finding.lines) == measured["tasks"]


def test_blocked_pipe_reads_are_named_by_the_pipe() -> None:
    measured = json.loads((STRACE_LOGS / "mt_pipes.f_tt_T.measured.json").read_text())
    findings = slow_syscall.run(inputs_of(STRACE_LOGS / "mt_pipes.f_tt_T.log"), PassConfig())
    assert {f.evidence["target_kind"] for f in findings} == {"pipe"}
    assert all(f.title.startswith("Slow read on the pipe made at line ") for f in findings)
    by_reader = {f.tid: f for f in findings}
    for reader in measured["readers"]:
        blocked = max(read["blocked_s"] for read in reader["reads"])
        finding = by_reader[reader["tid"]]
        assert finding.evidence["max_s"] == pytest.approx(blocked, abs=0.005)
        assert finding.evidence["count"] == len(reader["reads"])


def test_threshold_is_configurable() -> None:
    inputs = inputs_of(STRACE_LOGS / "pool8.f_tt_T.log")
    strict = PassConfig(slow_syscall_s=1.0, slow_syscall_share=10.0)
    assert slow_syscall.run(inputs, strict) == []


def _call(syscall: str, duration: float, target: str | None, tid: int = 1, line: int = 1):
    return {
        "tid": tid,
        "pid": 1,
        "syscall": syscall,
        "start_s": float(line),
        "end_s": float(line) + duration,
        "duration_s": duration,
        "target": target,
        "fd": 3,
        "line_start": line,
        "status": "complete",
    }


def test_idle_waits_are_not_slow_syscalls() -> None:
    rows = [
        _call("epoll_wait", 5.0, "anon_inode:[eventpoll]"),
        _call("futex", 5.0, None, line=2),
        _call("clock_nanosleep", 5.0, None, line=3),
        _call("accept4", 5.0, "TCP:[127.0.0.1:8080]", line=4),
    ]
    assert slow_syscall.run(hand_built(rows), PassConfig()) == []


def test_fsync_gets_the_disk_story_and_many_small_calls_count_by_share() -> None:
    rows = [_call("fsync", 0.02, "/var/lib/db/wal", line=i) for i in range(1, 101)]
    findings = slow_syscall.run(hand_built(rows, last_s=10.0), PassConfig())
    (finding,) = findings
    assert finding.evidence["count"] == 100
    assert finding.evidence["total_s"] == pytest.approx(2.0)
    assert finding.evidence["slow_calls"] == 0
    assert finding.evidence["share_of_wall"] == pytest.approx(0.2)
    assert finding.evidence["share_of_thread_time"] == pytest.approx(0.2)
    assert "group commit" in finding.fix
    assert finding.severity == "warning"


@pytest.mark.parametrize(("threads", "severity"), [(6, "info"), (1, "warning")])
def test_a_busy_pool_on_a_fast_peer_is_info(threads: int, severity: str) -> None:
    """Hand-built, as in fixtures/blind/healthy_asyncio_executor_peer: 600 quick polls (2 ms)
    on one peer, 1.2 s in all over a 10 s trace. Spread over 6 executor threads each was
    waiting 2% of its time (info: a busy pool on a fast peer); one thread doing them all
    spent 12% of its time there (warning)."""
    rows = [
        _call("poll", 0.002, "TCP:[127.0.0.1:5000->127.0.0.1:6000]", tid=1 + i % threads, line=i)
        for i in range(1, 601)
    ]
    for row in rows:  # spread over the 10 s
        row["start_s"] = row["line_start"] / 60.0
        row["end_s"] = row["start_s"] + 0.002
    (finding,) = slow_syscall.run(hand_built(rows, last_s=10.0), PassConfig())
    assert finding.evidence["share_of_wall"] == pytest.approx(0.12)
    assert finding.evidence["share_of_thread_time"] == pytest.approx(0.12 / threads)
    assert finding.severity == severity


@pytest.mark.parametrize(
    ("writer_waits_in", "target", "severity"),
    [
        ("futex", None, "info"),
        ("recvfrom", "TCP:[127.0.0.1:5000->127.0.0.1:6000]", "info"),
        ("clock_nanosleep", None, "warning"),
        (None, None, "warning"),
    ],
)
def test_a_pipe_read_is_slow_only_when_its_writer_was_producing(
    writer_waits_in: str | None, target: str | None, severity: str
) -> None:
    """Hand-built: thread 2 blocks 0.5 s reading a pipe until thread 1 writes to it. A writer
    that spent that time waiting for its own input (a queue's futex, a socket) had nothing
    to send: the reader was an idle consumer (a multiprocessing.Pool worker waiting for its
    next task, fixtures/blind/healthy_mp_pool_digest). A writer that slept or ran (no call)
    was producing slowly (the slept time may be pacing or work)."""
    rows = [_call("read", 0.5, "pipe:[100]", tid=2, line=1)]
    write = _call("write", 0.0001, "pipe:[100]", tid=1, line=2)
    write["start_s"], write["end_s"] = 1.5, 1.5001
    rows.append(write)
    if writer_waits_in:
        rows.append(_call(writer_waits_in, 0.49, target, tid=1, line=1))
    findings = slow_syscall.run(hand_built(rows), PassConfig())
    (finding,) = [f for f in findings if f.evidence["target"] == "pipe:[100]"]
    assert finding.evidence["writers"] == [1]
    assert finding.evidence["writers_waiting_share"] == pytest.approx(
        0.98 if severity == "info" else 0.0
    )
    assert finding.severity == severity


def test_target_classes_and_resources() -> None:
    targets = pa.array(
        [
            "TCP:[127.0.0.1:43355->127.0.0.1:5432]",
            "TCP:[->10.0.0.5:5432]",
            "UDP:[127.0.0.1:33620]",
            "UNIX-STREAM:[8829->8830]",
            "pipe:[L12]",
            "anon_inode:[eventfd]",
            "/dev/sda",
            "/var/log/app.log",
            None,
        ]
    )
    assert target_classes(targets).to_pylist() == [
        "tcp", "tcp", "udp", "unix", "pipe", "eventfd", "device", "file", None
    ]  # fmt: skip
    assert resources(targets).to_pylist()[:3] == [
        "tcp 127.0.0.1:5432",
        "tcp 10.0.0.5:5432",
        "udp 127.0.0.1:33620",
    ]
    assert describe("tcp", "tcp 10.0.0.5:5432") == "TCP peer 10.0.0.5:5432"
    assert describe("pipe", "pipe:[L12]") == "the pipe made at line 12"


CUT_AT_ITS_START = """\
101 10:00:00.500000 <... read resumed>"x", 1) = 1 <0.400000>
102 10:00:00.600000 <... futex resumed>) = 0 <0.300000>
103 10:00:00.600100 <... futex resumed>) = 0 <0.300100>
101 10:00:00.700000 read(3, "y", 1)   = 1 <0.000010>
101 10:00:00.800000 epoll_wait(4, [], 8, 100) = 0 <0.100000>
"""
"""Hand-written (not a capture): a trace cut at its start, so its first lines are the
resumed halves of calls whose start strace printed before the cut."""


def test_calls_cut_at_the_start_of_the_trace_cite_their_return_line(tmp_path) -> None:
    from analyzer import analyze

    path = tmp_path / "cut.log"
    path.write_text(CUT_AT_ITS_START)
    report = analyze(path).report
    slow = [f for f in report["findings"] if f["code"] == slow_syscall.CODE]
    assert len(slow) == 1
    assert slow[0]["evidence"]["syscall"] == "read"
    assert [o["line"] for o in slow[0]["evidence"]["outliers"]] == [1]
    assert slow[0]["evidence"]["threads"] == [101]


def test_calls_without_an_fd_are_not_on_an_unknown_fd() -> None:
    """Hand-built rows: munmap takes no fd; a read on an fd opened before the trace does."""
    rows = [{**_call("munmap", 0.3, None, line=n), "fd": None} for n in (1, 2)]
    rows.append(_call("read", 0.4, None, line=3))
    findings = {f.evidence["syscall"]: f for f in slow_syscall.run(hand_built(rows), PassConfig())}
    assert findings["munmap"].title == "Slow munmap"
    assert findings["munmap"].message.startswith("2 munmap calls took 0.600 s")
    assert "TLB" in (findings["munmap"].fix or "")
    assert findings["read"].title == "Slow read on an unknown fd"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('3</etc/ld.so.cache>, "", {st_mode=S_IFREG|0644, ...}, AT_EMPTY_PATH', "/etc/ld.so.cache"),
        ('AT_FDCWD</tmp/sq>, "/tmp/sq/db.sqlite", {st_mode=S_IFREG|0644}, 0', "/tmp/sq/db.sqlite"),
        ('AT_FDCWD</tmp/sq>, "db.sqlite-journal", F_OK', "/tmp/sq/db.sqlite-journal"),
        ('AT_FDCWD, "rel/x", 0', "rel/x"),
        ('"/abs/y"', "/abs/y"),
        ('0</dev/null<char 1:3>>, "", {}, AT_EMPTY_PATH', "/dev/null<char 1:3>"),
        ('7, "", {}, AT_EMPTY_PATH', None),
        ("0x7f00, FUTEX_WAKE, 1", None),
    ],
)
def test_path_calls_are_resolved_against_their_dirfd(args: str, expected: str | None) -> None:
    """Argument texts in the shapes strace -yy prints (copied from fixture lines, trimmed)."""
    row = {name: (args if name == "args" else None) for name in SYSCALLS.names}
    calls = pa.Table.from_pylist([row], schema=SYSCALLS.schema)
    assert with_paths(calls).to_pylist() == [expected]


# Hand-written edge cases, then the arguments of every call of every strace fixture.
_PREFILTER_CASES = [
    '"/x"',
    'AT_FDCWD, "a", 0',
    '-100, "a", 0',
    '12<dir>, "a", 0',
    "0x7f00, FUTEX_WAKE, 1",
    "0, 0x1",
    '0, "a"',
    "",
    "NULL, 8192",
    "CLOCK_REALTIME, 0, {tv_sec=0}",
    '9x, "a"',
]


def _fixture_args() -> list[str | None]:
    traces = sorted(STRACE_LOGS.glob("*.log")) + sorted(DIAGNOSIS_LOGS.glob("*.f_tt*_T.log"))
    args: list[str | None] = list(_PREFILTER_CASES)
    for path in traces:
        for trace in inputs_of(path).traces:
            args += trace.syscalls["args"].to_pylist()
    return args


def test_path_prefilter_keeps_every_text_the_regex_matches() -> None:
    """`_may_name_path` may let through texts the regex rejects, never the other way round."""
    args = pa.array(_fixture_args(), pa.string())
    matched = pc.is_valid(pc.extract_regex(args, _PATH_ARGUMENT)).to_numpy(zero_copy_only=False)
    kept = _may_name_path(args)
    texts = args.to_pylist()
    missed = [text for text, m, k in zip(texts, matched, kept, strict=True) if m and not k]
    assert matched.sum() > 1000 and not missed
    assert kept.sum() < len(args)  # it does rule texts out (futex addresses among them)


def test_the_prefilter_at_some_rows_is_the_prefilter_of_every_row() -> None:
    """`_naming_rows` reads the prefilter at the candidate rows alone (every other, every
    third, ...) of the fixtures' argument texts in several chunks: the same as read at every
    row."""
    texts = _fixture_args()
    args = pa.chunked_array(
        [pa.array(texts[i : i + 997], pa.string()) for i in range(0, len(texts), 997)]
    )
    every = _may_name_path(pa.array(texts, pa.string()))
    for step in (1, 2, 3, 7):
        for first in range(step):
            candidates = np.arange(first, len(texts), step, dtype=np.int64)
            assert _naming_rows(args, candidates).tolist() == candidates[every[candidates]].tolist()
