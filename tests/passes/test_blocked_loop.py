"""IOD002 blocked_loop on real captures (checked against what the programs measured) and on
hand-built tables for the cases no capture shows (each marked as hand-built)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pass_fixtures import DIAGNOSIS_LOGS, STRACE_LOGS, inputs_of

from analyzer.derive.strace import StraceTables
from analyzer.passes import PassConfig, PassInputs, blocked_loop
from analyzer.passes.base import Finding
from analyzer.schema import EXITS, PERF_FRAMES, PERF_SAMPLES, PERF_STACKS, SIGNALS, SYSCALLS, TASKS

DAY_S = 86_400.0
"""The fixtures' -tt clock is UTC (fixtures/README.md), so epoch % DAY_S is the -tt time."""


@functools.cache
def _inputs(*paths: Path) -> PassInputs:
    return inputs_of(*paths)


def _measured(path: Path) -> dict[str, Any]:
    return json.loads(path.with_suffix(".measured.json").read_text())


def _on_trace_clock(epoch: float, trace: StraceTables) -> float:
    return epoch % DAY_S if trace.clock == "clock" else epoch


# ------------------------------------------------------------------- real captures


@pytest.mark.parametrize("name", ["asyncio_block.f_tt_T.log", "asyncio_block.f_ttt_T.log"])
def test_time_sleep_in_a_coroutine(name: str) -> None:
    path = STRACE_LOGS / name
    measured = _measured(path)
    inputs = _inputs(path)
    trace = inputs.traces[0]
    (finding,) = blocked_loop.run(inputs, PassConfig())
    assert finding.evidence["loop_tid"] == finding.tid == measured["loop_tid"]
    assert finding.pid == measured["pid"]
    # One episode: the 5 MiB file read took only ~5 ms, under the 100 ms threshold.
    (episode,) = finding.evidence["episodes"]
    assert finding.evidence["episode_count"] == 1
    sleep_start = _on_trace_clock(measured["sleep_start_epoch"], trace)
    sleep_end = sleep_start + measured["sleep_blocked_s"]
    assert episode["start"] <= sleep_start + 0.001
    assert episode["end"] >= sleep_end - 0.001
    assert episode["duration_s"] == pytest.approx(measured["sleep_blocked_s"], abs=0.005)
    # The ticker coroutine's lateness is the loop's own measure of the blocked time.
    assert episode["duration_s"] == pytest.approx(measured["ticker_max_lag_s"], abs=0.003)
    top = episode["top_calls"][0]
    assert (top["syscall"], top["cause"], top["count"]) == ("clock_nanosleep", "sleep", 1)
    assert top["total_s"] == pytest.approx(measured["sleep_blocked_s"], abs=0.002)
    assert [call["total_s"] for call in episode["top_calls"]] == sorted(
        (call["total_s"] for call in episode["top_calls"]), reverse=True
    )
    assert episode["cause"] == finding.evidence["cause"] == "sleep"
    assert episode["cpu_s"] == pytest.approx(
        episode["duration_s"] - sum(c["total_s"] for c in episode["top_calls"]), abs=0.001
    )
    line = path.read_text().splitlines()[top["line"] - 1]
    assert line.startswith(f"{measured['loop_tid']} ") and "clock_nanosleep(" in line
    assert top["line"] in finding.lines
    assert finding.start == episode["start"]
    assert finding.duration_s == finding.cost_s == episode["duration_s"]
    assert finding.title == (
        f"Event loop thread {measured['loop_tid']} blocked 0.30 s, mostly time.sleep in a coroutine"
    )
    assert finding.message.startswith(
        f"Event loop thread {measured['loop_tid']} was blocked once for 0.30 s: 0.30 s sleeping "
        "in clock_nanosleep (time.sleep in a coroutine)."
    )
    assert "asyncio.sleep()" in finding.fix
    # 0.3 s of a trace under a second: more than 10% of the wall time.
    assert finding.severity == "error"
    assert finding.evidence["perf_aligned"] is False


def test_threshold_is_configurable() -> None:
    inputs = _inputs(STRACE_LOGS / "asyncio_block.f_tt_T.log")
    assert blocked_loop.run(inputs, PassConfig(blocked_loop_s=0.5)) == []
    assert blocked_loop.run(inputs, PassConfig(loop_min_waits=1000)) == []


@pytest.mark.parametrize(
    "name", ["pool8.f_tt_T.log", "mt_pipes.f_tt_T.log", "thread_loop.f_tt_T.log"]
)
def test_no_loop_or_no_blocking(name: str) -> None:
    # pool8's server thread is a selectors/epoll loop that answers on epoll timeouts: never
    # blocked; mt_pipes and thread_loop have no event loop at all.
    assert blocked_loop.run(_inputs(STRACE_LOGS / name), PassConfig()) == []


@pytest.mark.parametrize(
    ("trace_name", "log_name"),
    [
        ("asyncio_server.f_tt_T.log", "asyncio_server.debug.log"),
        ("asyncio_server.f_ttt_T.log", "asyncio_server.f_ttt_T.debug.log"),
    ],
)
def test_asyncio_server_blocked_three_ways(trace_name: str, log_name: str) -> None:
    path = DIAGNOSIS_LOGS / trace_name
    measured = _measured(path)
    inputs = _inputs(path, DIAGNOSIS_LOGS / log_name)
    trace = inputs.traces[0]
    (finding,) = blocked_loop.run(inputs, PassConfig())
    assert finding.tid == measured["loop_tid"]
    host, port = measured["server"]
    # Bound to port 0 and read back with getsockname: without -yy the port is not replayed.
    assert finding.evidence["listening"] in ([f"tcp {host}:{port}"], [f"tcp {host}:0"])
    blocking = sorted(measured["blocking_episodes"].items(), key=lambda kv: kv[1]["start_epoch"])
    episodes = finding.evidence["episodes"]
    assert len(episodes) == finding.evidence["episode_count"] == len(blocking) == 3
    for (request, expected), episode in zip(blocking, episodes, strict=True):
        start = _on_trace_clock(expected["start_epoch"], trace)
        assert episode["start"] <= start + 0.001
        assert episode["end"] >= start + expected["duration_s"] - 0.001
        # The episode is the whole callback: the measured blocking plus a few ms around it.
        assert 0 <= episode["duration_s"] - expected["duration_s"] < 0.01
        assert episode["cause"] == {"sleep": "sleep", "read": "file_io", "cpu": "cpu"}[request]
    # asyncio's own "Executing <Task ...> took X seconds" warnings of the same run (X printed
    # with 3 decimals) time the same steps.
    took = inputs.loop_events.filter(pa.compute.equal(inputs.loop_events["kind"], "slow_callback"))[
        "duration_s"
    ].to_pylist()
    assert [e["duration_s"] for e in episodes] == pytest.approx(took, abs=0.002)

    sleep, read, cpu = episodes
    assert sleep["top_calls"][0]["syscall"] == "clock_nanosleep"
    assert sleep["top_calls"][0]["total_s"] == pytest.approx(
        measured["blocking_episodes"]["sleep"]["duration_s"], abs=0.002
    )
    read_request = next(e for e in measured["episodes"] if e["request"] == "read")
    big_file = measured["big_file"]["path"]
    assert read["top_calls"][0] | {"total_s": None, "with_gaps_s": None, "line": None} == {
        "syscall": "read",
        "target": big_file,
        "target_kind": "file",
        "total_s": None,
        "with_gaps_s": None,
        "count": read_request["read_calls"],
        "cause": "file_io",
        "line": None,
    }
    assert cpu["top_calls"][0]["total_s"] < 0.005  # no syscall worth the name
    assert cpu["cpu_s"] == pytest.approx(cpu["duration_s"], abs=0.005)

    total = sum(e["duration_s"] for e in episodes)
    assert finding.cost_s == pytest.approx(total)
    assert finding.evidence["blocked_total_s"] == pytest.approx(total)
    by_cause = {c["cause"]: c["total_s"] for c in finding.evidence["causes"]}
    assert by_cause == pytest.approx(
        {"sleep": sleep["duration_s"], "file_io": read["duration_s"], "cpu": cpu["duration_s"]}
    )
    longest = max(episodes, key=lambda e: e["duration_s"])
    assert finding.evidence["cause"] == longest["cause"]
    assert finding.duration_s == longest["duration_s"]
    assert f"reading file {big_file}" in finding.message
    assert f"{read_request['read_calls']} read calls took" in finding.message
    assert "sleeping in clock_nanosleep (time.sleep in a coroutine)" in finding.message
    assert "of CPU with no syscalls (CPU-bound code)" in finding.message
    for words in ("asyncio.to_thread", "ProcessPoolExecutor", "asyncio.sleep()"):
        assert words in finding.fix  # every cause holds more than 20% of the blocked time


@pytest.mark.parametrize(
    "name", ["pool_saturation.f_tt_T.log", "lock_convoy.f_tt_T.log", "fsync_writer.f_tt_T.log"]
)
def test_diagnosis_captures_without_an_event_loop(name: str) -> None:
    assert blocked_loop.run(_inputs(DIAGNOSIS_LOGS / name), PassConfig()) == []


# ---------------------------------------------------------------------- hand-built


def _row(
    tid: int,
    syscall: str,
    start: float,
    duration: float | None,
    line: int,
    *,
    fd: int | None = None,
    target: str | None = None,
    args: str = "",
    status: str = "complete",
) -> dict[str, Any]:
    return {
        "tid": tid,
        "pid": 1,
        "syscall": syscall,
        "start_s": start,
        "end_s": None if duration is None else start + duration,
        "duration_s": duration,
        "args": args,
        "fd": fd,
        "target": target,
        "status": status,
        "line_start": line,
    }


def _waits(tid: int, starts: list[float], syscall: str = "epoll_wait") -> list[dict[str, Any]]:
    """Loop waits of 1 ms each, on epoll fd 3 (poll and select name no fd)."""
    fd = 3 if syscall.startswith("epoll") else None
    target = "anon_inode:[eventpoll]" if fd is not None else None
    return [_row(tid, syscall, t, 0.001, 0, fd=fd, target=target) for t in starts]


def _trace(
    rows: list[dict[str, Any]],
    last_s: float,
    exited: tuple[int, ...] = (),
    clock: str = "epoch",
    offset: float = 0.0,
) -> StraceTables:
    """Hand-built syscalls rows (not a capture), in time order, numbered as lines."""
    rows = sorted(rows, key=lambda row: row["start_s"])
    full = []
    for line, row in enumerate(rows, 1):
        row = row | {"line_start": line, "start_s": row["start_s"] + offset}
        if row["end_s"] is not None:
            row["end_s"] += offset
        full.append({name: row.get(name) for name in SYSCALLS.names})
    exits = [
        {"tid": tid, "time_s": last_s + offset, "how": "exited", "exit_code": 0} for tid in exited
    ]
    return StraceTables(
        input="hand-built",
        syscalls=pa.Table.from_pylist(full, schema=SYSCALLS.schema),
        signals=SIGNALS.schema.empty_table(),
        exits=pa.Table.from_pylist(
            [{name: e.get(name) for name in EXITS.names} for e in exits], schema=EXITS.schema
        ),
        tasks=TASKS.schema.empty_table(),
        first_s=offset,
        last_s=last_s + offset,
        clock=clock,
        has_durations=True,
        follows_forks=True,
    )


def _run(trace: StraceTables, config: PassConfig | None = None, **perf: pa.Table) -> list[Finding]:
    return blocked_loop.run(PassInputs(traces=(trace,), perf=perf), config or PassConfig())


def test_synchronous_dns_is_named_and_its_polls_are_not_loop_waits() -> None:
    # Hand-built: glibc's resolver on the loop thread, 5 times: connect and sendto to port
    # 53, then poll() on its UDP socket for 0.2 s. The thread's loop waits in epoll, so its
    # 5 polls (one key: poll with no fd) are not loop waits, and each lookup is an episode.
    lookups = [float(k) for k in range(5)]
    idle = [i * 0.05 for i in range(120)]
    rows = _waits(7, [t for t in idle if not any(k < t < k + 0.25 for k in lookups)])
    dns_server = 'sin_port=htons(53), sin_addr=inet_addr("10.0.0.2")'
    for k in lookups:
        t = k + 0.01
        rows += [
            _row(7, "socket", t, 0.0001, 0, args="AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_IP"),
            _row(7, "connect", t + 0.001, 0.0001, 0, fd=5, args=f"5, {{{dns_server}}}, 16"),
            _row(7, "sendto", t + 0.002, 0.0001, 0, fd=5, args=f"5, ..., {{{dns_server}}}, 16"),
            _row(7, "poll", t + 0.003, 0.2, 0, args="[{fd=5, events=POLLIN}], 1, 5000"),
            _row(7, "recvfrom", t + 0.204, 0.0001, 0, fd=5, args="5, ..., 2048, 0, ..."),
        ]
    (finding,) = _run(_trace(rows, last_s=6.0, exited=(7,)))
    assert finding.evidence["episode_count"] == 5
    assert finding.evidence["loop_waits"] == 120 - 5 * 4
    for episode in finding.evidence["episodes"]:
        assert episode["cause"] == "dns"
        assert episode["duration_s"] == pytest.approx(0.249)
        poll = episode["top_calls"][0]
        assert (poll["syscall"], poll["cause"]) == ("poll", "dns")
        assert poll["total_s"] == pytest.approx(0.2)
        assert {c["syscall"]: c["cause"] for c in episode["top_calls"]}["connect"] == "dns"
    assert finding.title.endswith("mostly synchronous DNS lookup")
    assert (
        "1.25 s resolving a host name (poll) in 5 episodes (synchronous DNS lookup; 5 poll "
        "calls took 1.00 s of it)" in finding.message
    )
    assert "loop.getaddrinfo()" in finding.fix
    assert finding.severity == "error"  # 1.25 s blocked of 6 s
    assert finding.cost_s == pytest.approx(5 * 0.249)


def test_a_poll_loop_and_a_blocking_futex() -> None:
    # Hand-built: a loop that idles in poll() (no epoll on the thread), blocked 0.3 s once
    # by a futex wait (a threading.Lock or Future.result() in a coroutine).
    rows = _waits(9, [0.0, 0.1, 0.2, 0.3, 0.7, 0.8], syscall="poll")
    rows.append(_row(9, "futex", 0.35, 0.3, 0, args="0x55d0, FUTEX_WAIT_BITSET_PRIVATE, 0"))
    (finding,) = _run(_trace(rows, last_s=10.0, exited=(9,)))
    (episode,) = finding.evidence["episodes"]
    assert (episode["start"], episode["end"]) == pytest.approx((0.301, 0.7))
    assert episode["cause"] == "lock"
    assert "waiting in futex (lock or GIL wait)" in finding.message
    assert "Future.result()" in finding.fix
    assert finding.severity == "warning"  # 0.4 s of a 10 s trace, under 1 s


def test_still_blocked_when_the_trace_ended() -> None:
    # Hand-built: after its last wait the loop calls recvfrom on a database socket that never
    # answers; strace is stopped 3 s later with the call in flight. The thread did not exit.
    rows = _waits(11, [i * 0.05 for i in range(41)])
    peer = "TCP:[10.0.0.1:40000->10.0.0.9:5432]"
    rows.append(_row(11, "recvfrom", 2.01, None, 0, fd=8, target=peer, status="in-flight"))
    (finding,) = _run(_trace(rows, last_s=5.0))
    (episode,) = finding.evidence["episodes"]
    assert episode["ongoing"] is True and finding.evidence["ongoing"] is True
    assert (episode["start"], episode["end"]) == pytest.approx((2.001, 5.0))
    top = episode["top_calls"][0]
    assert (top["syscall"], top["target"], top["cause"]) == (
        "recvfrom",
        "tcp 10.0.0.9:5432",
        "socket_io",
    )
    assert top["total_s"] == pytest.approx(5.0 - 2.01)
    assert "reading TCP peer 10.0.0.9:5432 (blocking socket I/O)" in finding.message
    assert "still blocked when the trace ended (3.00 s since its last wait)" in finding.message
    assert finding.severity == "error"
    # The same thread exiting after its last wait is a shut-down, not a blocked loop.
    rows[-1] = _row(11, "recvfrom", 2.01, 0.0001, 0, fd=8, target=peer)
    assert _run(_trace(rows, last_s=5.0, exited=(11,))) == []


def test_an_unfinished_wait_ends_no_gap_and_few_waits_make_no_loop() -> None:
    # Hand-built: the last wait is still in flight (the loop is idle at the end): no episode.
    rows = _waits(12, [0.0, 0.1, 0.2, 0.3, 0.4])
    rows.append(_row(12, "epoll_wait", 0.45, None, 0, fd=3, status="in-flight"))
    assert _run(_trace(rows, last_s=9.0)) == []
    # Four waits around a 1 s gap: not enough to call the thread a loop (default 5).
    rows = _waits(13, [0.0, 0.1, 0.2, 1.2])
    assert _run(_trace(rows, last_s=2.0, exited=(13,))) == []
    (finding,) = _run(_trace(rows, last_s=2.0, exited=(13,)), PassConfig(loop_min_waits=4))
    assert finding.evidence["episodes"][0]["cause"] == "cpu"
    assert finding.message.startswith(
        "Event loop thread 13 was blocked once for 1.00 s: ~1.00 s of CPU with no syscalls"
    )


def test_logging_to_a_slow_stderr() -> None:
    # Hand-built: write(2, ...) on the inherited stderr blocks 0.25 s (a stalled log reader).
    rows = _waits(14, [0.0, 0.1, 0.2, 0.3, 0.6])
    rows.append(_row(14, "write", 0.31, 0.25, 0, fd=2, args='2, "ERROR ..."..., 512'))
    (finding,) = _run(_trace(rows, last_s=1.0, exited=(14,)))
    top = finding.evidence["episodes"][0]["top_calls"][0]
    assert (top["target"], top["cause"]) == ("stderr", "stdio")
    assert "QueueHandler" in finding.fix


def test_many_episodes_are_capped_and_totals_cover_them_all() -> None:
    # Hand-built: 60 episodes of 0.1 + i ms, each a read of one file, 10 ms apart.
    rows: list[dict[str, Any]] = []
    t = 0.0
    for i in range(60):
        length = 0.1 + i / 1000
        rows += _waits(15, [t, t + 0.001 + length])
        rows.append(_row(15, "read", t + 0.002, length - 0.002, 0, fd=4, target="/data/x"))
        t += 0.002 + length + 0.01
    (finding,) = _run(_trace(rows, last_s=t + 1.0, exited=(15,)))
    episodes = finding.evidence["episodes"]
    assert finding.evidence["episode_count"] == 60
    assert finding.evidence["episodes_listed"] == len(episodes) == blocked_loop.MAX_EPISODES
    assert [e["start"] for e in episodes] == sorted(e["start"] for e in episodes)
    shortest_listed = min(e["duration_s"] for e in episodes)
    assert shortest_listed == pytest.approx(0.1 + 10 / 1000)  # the 10 shortest are left out
    assert finding.cost_s == pytest.approx(sum(0.1 + i / 1000 for i in range(60)))
    assert finding.duration_s == pytest.approx(0.159)
    assert "reading file /data/x in 60 episodes (blocking file I/O; 60 read calls" in (
        finding.message
    )
    assert len(finding.lines) <= blocked_loop.FINDING_LINES


@pytest.mark.parametrize(
    ("syscall", "target_class", "dns", "resource", "cause"),
    [
        ("clock_nanosleep", None, False, None, "sleep"),
        ("nanosleep", None, False, None, "sleep"),
        ("read", "file", False, "/var/lib/x", "file_io"),
        ("openat", None, False, None, "file_io"),
        ("connect", "udp", True, "udp 127.0.0.53:53", "dns"),
        ("futex", None, False, None, "lock"),
        ("fdatasync", "file", False, "/var/lib/wal", "disk_flush"),
        ("recvfrom", "tcp", False, "tcp 10.0.0.9:5432", "socket_io"),
        ("read", "pipe", False, "pipe:[123]", "pipe_io"),
        ("wait4", None, False, None, "child_wait"),
        ("poll", None, False, None, "blocking_wait"),
        ("write", "other", False, "stdout", "stdio"),
        ("mmap", None, False, None, "other"),
    ],
)
def test_causes(
    syscall: str, target_class: str | None, dns: bool, resource: str | None, cause: str
) -> None:
    assert blocked_loop.cause_of(syscall, target_class, dns, resource) == cause


# ---------------------------------------------------------------------------- perf


def _perf(
    times_ns: list[int], tids: list[int], stack_ids: list[int], tods: list[str] | None = None
) -> dict[str, pa.Table]:
    """Hand-built perf tables: cpu-clock samples, two stacks over three frames."""
    samples = [
        {name: None for name in PERF_SAMPLES.names}
        | {
            "line_no": i + 1,
            "time_ns": time_ns,
            "tod": None if tods is None else tods[i],
            "tid": tid,
            "comm": "python3",
            "event": "cpu-clock",
            "period": 1_000_000,
            "stack_id": stack_id,
            "cut": False,
        }
        for i, (time_ns, tid, stack_id) in enumerate(zip(times_ns, tids, stack_ids, strict=True))
    ]
    frames = [
        {name: None for name in PERF_FRAMES.names} | {"frame_id": i, "addr": f"{i:x}", "symbol": s}
        for i, s in enumerate(["main", "burn", "sum_squares"])
    ]
    stacks = [  # leaf first, as perf prints them
        {"stack_id": 0, "frame_ids": [2, 1, 0], "depth": 3},
        {"stack_id": 1, "frame_ids": [1, 0], "depth": 2},
    ]
    return {
        "perf_samples": pa.Table.from_pylist(samples, schema=PERF_SAMPLES.schema),
        "perf_frames": pa.Table.from_pylist(frames, schema=PERF_FRAMES.schema),
        "perf_stacks": pa.Table.from_pylist(stacks, schema=PERF_STACKS.schema),
    }


def _cpu_episode_rows() -> list[dict[str, Any]]:
    """Hand-built: a loop on thread 21 busy on CPU from 0.301 to 0.7."""
    return _waits(21, [0.0, 0.1, 0.2, 0.3, 0.7, 0.8])


EPOCH = 1_795_700_000.0


def test_hot_stacks_from_an_epoch_aligned_profile() -> None:
    # Hand-built: strace -ttt and perf record -k CLOCK_REALTIME: 30 samples of the loop
    # thread inside the episode (20 in stack 0, 10 in stack 1), 5 before and 5 after it, and
    # 7 of another thread inside it.
    inside = [EPOCH + 0.31 + i * 0.01 for i in range(30)]
    outside = [EPOCH + 0.05 + i * 0.01 for i in range(5)] + [
        EPOCH + 0.71 + i * 0.01 for i in range(5)
    ]
    times = inside + outside + inside[:7]
    tids = [21] * 40 + [22] * 7
    stacks = [0] * 20 + [1] * 10 + [0] * 10 + [0] * 7
    perf = _perf([round(t * 1e9) for t in times], tids, stacks)
    trace = _trace(_cpu_episode_rows(), last_s=1.0, exited=(21,), offset=EPOCH)
    (finding,) = _run(trace, **perf)
    (episode,) = finding.evidence["episodes"]
    assert finding.evidence["perf_aligned"] is True
    assert episode["perf_samples"] == 30
    assert episode["hot_stacks"] == [
        {"stack": "main;burn;sum_squares", "samples": 20},
        {"stack": "main;burn", "samples": 10},
    ]


def test_hot_stacks_from_tod_on_a_clock_trace_and_unaligned_profiles_are_skipped() -> None:
    # Hand-built: strace -tt (seconds since midnight) and perf script -F +tod.
    after_midnight = 50_000.0  # 13:53:20
    tods = [f"2026-11-26 13:53:{20.31 + i * 0.01:07.4f}" for i in range(10)]
    perf = _perf([i for i in range(10)], [21] * 10, [1] * 10, tods=tods)
    trace = _trace(
        _cpu_episode_rows(), last_s=1.0, exited=(21,), clock="clock", offset=after_midnight
    )
    (finding,) = _run(trace, **perf)
    (episode,) = finding.evidence["episodes"]
    assert episode["perf_samples"] == 10
    assert episode["hot_stacks"] == [{"stack": "main;burn", "samples": 10}]
    # perf's own clock (no tod) next to a -tt trace cannot be aligned: no stacks, no error.
    perf = _perf([int(50_000.31e9) + i for i in range(10)], [21] * 10, [1] * 10)
    (finding,) = _run(trace, **perf)
    assert finding.evidence["perf_aligned"] is False
    assert "hot_stacks" not in finding.evidence["episodes"][0]
    # An epoch profile of another day next to an epoch trace does not overlap it: skipped.
    trace = _trace(_cpu_episode_rows(), last_s=1.0, exited=(21,), offset=EPOCH)
    perf = _perf([round((EPOCH - DAY_S + 0.31) * 1e9)] * 3, [21] * 3, [0] * 3)
    (finding,) = _run(trace, **perf)
    assert finding.evidence["perf_aligned"] is False


def test_the_fix_speaks_the_loop_runtime(tmp_path) -> None:
    """Hand-edited from a real capture (node 20 under strace -f -tt -T -yy): a libuv loop
    blocked by fs.readFileSync; the same lines with a python execve get the asyncio words."""
    from analyzer import analyze

    lines = [
        '700 10:00:00.000000 execve("/usr/bin/node", ["node", "server.js"], 0x7ffd /* 9 vars */)'
        " = 0 <0.000300>",
        "700 10:00:00.001000 epoll_create1(EPOLL_CLOEXEC) = 3<anon_inode:[eventpoll]> <0.000020>",
    ]
    clock = 0.002
    for wait in range(6):
        lines.append(
            f"700 10:00:{clock:09.6f} epoll_pwait(3<anon_inode:[eventpoll]>, [], 1024, 100, NULL,"
            " 8) = 0 <0.050000>"
        )
        clock += 0.0501
        if wait == 2:
            lines.append(
                f'700 10:00:{clock:09.6f} read(17</tmp/big.dat>, "\\x00"..., 134217728) = '
                "134217728 <0.400000>"
            )
            clock += 0.4001
    node = tmp_path / "node.log"
    node.write_text("\n".join(lines) + "\n")
    (loop,) = [f for f in analyze(node).report["findings"] if f["code"] == "IOD002"]
    assert loop["evidence"]["runtime"] == "node"
    assert "fs.promises" in loop["fix"] and "asyncio" not in loop["fix"]
    python = tmp_path / "python.log"
    python.write_text(
        node.read_text().replace('"/usr/bin/node", ["node"', '"/usr/bin/python3", ["python3"')
    )
    (loop,) = [f for f in analyze(python).report["findings"] if f["code"] == "IOD002"]
    assert loop["evidence"]["runtime"] == "python"
    assert "asyncio.to_thread" in loop["fix"]
    native = tmp_path / "native.log"
    native.write_text(
        node.read_text().replace('"/usr/bin/node", ["node"', '"/usr/sbin/nginx", ["nginx"')
    )
    (loop,) = [f for f in analyze(native).report["findings"] if f["code"] == "IOD002"]
    assert loop["evidence"]["runtime"] == "native"
    assert "worker thread" in loop["fix"] and "asyncio" not in loop["fix"]


# --- what the loop waited for, on the incident captures ----------------------------------

_INCIDENTS = Path(__file__).resolve().parents[2] / "fixtures" / "incidents"


def _incident_loop(incident: str) -> tuple[Finding, dict]:
    folder = _INCIDENTS / incident
    truth = json.loads((folder / "truth.json").read_text())
    paths = [folder / name for name in truth["inputs"] if name.startswith("strace")]
    [finding] = [f for f in blocked_loop.run(inputs_of(*paths), PassConfig())]
    return finding, truth


def test_a_subprocess_run_on_the_loop_names_the_child() -> None:
    finding, truth = _incident_loop("subprocess_in_coroutine")
    assert finding.tid == truth["root_cause"]["culprit"]["tid"]
    assert finding.evidence["cause"] == "subprocess"
    assert finding.resource is not None and finding.resource.kind == "process"
    children = [m for m in truth["root_cause"]["resource"]["match"] if m.isdigit()]
    assert any(child in finding.resource.text for child in children)
    assert "thumbnailer" in finding.resource.text
    assert "create_subprocess_exec" in finding.fix


def test_a_log_write_blocked_by_a_full_pipe_is_logging_back_pressure() -> None:
    finding, truth = _incident_loop("loop_logging_pipe")
    assert finding.evidence["cause"] == "stdio"
    [pipe] = truth["root_cause"]["resource"]["match"]
    assert finding.resource is not None and finding.resource.key == pipe
    assert "QueueHandler" in finding.fix and "create_subprocess_exec" not in finding.fix
    blocked = finding.evidence["blocked_total_s"]
    # The loop blocked in the log writes (the program timed them, 4.41 s) and around them.
    assert blocked == pytest.approx(truth["measured"]["emit_total_s"], rel=0.05)


def test_a_synchronous_http_call_on_the_loop_names_the_upstream() -> None:
    finding, truth = _incident_loop("http_in_coroutine")
    [upstream] = truth["root_cause"]["resource"]["match"]
    assert finding.resource is not None and upstream in finding.resource.key
    assert upstream in finding.fix


def test_sleeps_between_refused_lock_tries_are_the_lock_not_a_time_sleep() -> None:
    # Hand-built: SQLite's busy handler on the loop thread (as in
    # fixtures/blind/uvicorn_sqlite_busy): fcntl(F_SETLK) on the database refused with
    # EAGAIN, then clock_nanosleep, ten times. The loop waited for the lock's file.
    db = "/srv/orders.db"
    tries = "F_SETLK, {l_type=F_RDLCK, l_whence=SEEK_SET, l_start=1073741824, l_len=1}"
    rows = _waits(7, [i * 0.05 for i in range(20)] + [1.6 + i * 0.05 for i in range(20)])
    for k in range(10):
        t = 1.0 + k * 0.06
        refused = _row(7, "fcntl", t, 0.00001, 0, fd=6, target=db, args=f"6, {tries}")
        rows.append(refused | {"retval": -1, "errno": "EAGAIN"})
        rows.append(_row(7, "clock_nanosleep", t + 0.0001, 0.05, 0, args="CLOCK_REALTIME, 0"))
    (finding,) = _run(_trace(rows, last_s=3.0, exited=(7,)))
    assert finding.evidence["episodes"][0]["cause"] == "lock_retry"
    assert finding.resource is not None and finding.resource.key == db
    assert "held by another process" in finding.resource.text
    assert "time.sleep" not in finding.title
    assert "aiosqlite" in finding.fix


def test_plain_sleeps_stay_sleeps() -> None:
    # Hand-built control of the test above: the same sleeps, the lock tries succeeding.
    db = "/srv/orders.db"
    rows = _waits(7, [i * 0.05 for i in range(20)] + [1.6 + i * 0.05 for i in range(20)])
    for k in range(10):
        t = 1.0 + k * 0.06
        rows.append(_row(7, "fcntl", t, 0.00001, 0, fd=6, target=db, args="6, F_SETLK, {}"))
        rows.append(_row(7, "clock_nanosleep", t + 0.0001, 0.05, 0, args="CLOCK_REALTIME, 0"))
    (finding,) = _run(_trace(rows, last_s=3.0, exited=(7,)))
    assert finding.evidence["episodes"][0]["cause"] == "sleep"
    assert finding.resource is not None and finding.resource.kind == "sleep"
