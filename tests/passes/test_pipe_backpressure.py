"""IOD018 pipe_backpressure on real captures, checked against what the programs measured, and
on hand-built rows (marked) for the cases the captures do not show."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pass_fixtures import ROOT, hand_built, inputs_of

from analyzer import verdict
from analyzer.derive.strace_pipes import pipe_readers
from analyzer.passes import PassConfig, PassInputs, pipe_backpressure, run_passes
from analyzer.passes.base import Finding, Resource

INCIDENTS = ROOT / "fixtures" / "incidents"
STDERR_PIPE = INCIDENTS / "stderr_pipe_backpressure"
LOOP_PIPE = INCIDENTS / "loop_logging_pipe"


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _named(findings: list[Finding]) -> list[Finding]:
    """Findings of the earlier passes with the resources they name (IOD001: its target;
    IOD005: its futex; IOD012: its resource), as the verdict sees them."""
    named = []
    for f in findings:
        if f.resource is None and f.kind == "slow_syscall":
            f = dataclasses.replace(f, resource=Resource("pipe", f.evidence["target"], ""))
        elif f.resource is None and f.kind == "lock_contention":
            key = f"futex {f.pid}:{f.evidence['futex']}"
            f = dataclasses.replace(f, resource=Resource("futex", key, ""))
        elif f.resource is None and f.kind == "sleep_retry":
            f = dataclasses.replace(f, resource=Resource("file", f.evidence["resource"], ""))
        named.append(f)
    return named


def _rerun(inputs: PassInputs, findings: list[Finding]) -> tuple[list[Finding], Finding]:
    """The earlier findings with resources, and this pass run again after them."""
    index = next(i for i, f in enumerate(findings) if f.kind == "pipe_backpressure")
    earlier = _named(findings[:index])
    (finding,) = pipe_backpressure.run(
        dataclasses.replace(inputs, earlier=tuple(earlier)), PassConfig()
    )
    return earlier, finding


@pytest.fixture(scope="module")
def stderr_pipe() -> tuple[PassInputs, list[Finding]]:
    inputs = inputs_of(STDERR_PIPE / "strace.f_tt_T_yy.log.gz")
    return inputs, run_passes(inputs)


@pytest.fixture(scope="module")
def loop_pipe() -> tuple[PassInputs, list[Finding]]:
    inputs = inputs_of(LOOP_PIPE / "strace.f_tt_T_yy.log.gz")
    return inputs, run_passes(inputs)


def test_the_slow_log_shipper_is_the_culprit(
    stderr_pipe: tuple[PassInputs, list[Finding]],
) -> None:
    measured = _json(STDERR_PIPE / "truth.json")["measured"]
    shipper = _json(STDERR_PIPE / "log_shipper.json")
    _, findings = stderr_pipe
    (finding,) = [f for f in findings if f.kind == "pipe_backpressure"]
    assert finding.code == "IOD018" and finding.severity == "error"
    assert finding.culprit is not None
    assert (finding.culprit.pid, finding.culprit.name) == (shipper["pid"], shipper["program"])
    assert finding.resource is not None and finding.resource.kind == "pipe"
    assert finding.resource.key == measured["pipe"]
    evidence = finding.evidence
    assert evidence["writer_pids"] == [measured["api_pid"]]
    assert evidence["writer_fds"] == [2] and evidence["logging"] is True
    # how the shipper reads: what it measured itself (the trace adds its read of EOF)
    reader = evidence["reader"]
    assert reader["found_by"] == "reads"
    assert reader["bytes"] == shipper["bytes"]
    assert reader["reads"] in (shipper["reads"], shipper["reads"] + 1)
    assert reader["read_size"] == shipper["read_size"]
    assert reader["full_reads"] >= shipper["reads"] - 2
    assert reader["sleep_s"] == pytest.approx(shipper["stalled_s"], abs=0.05)
    assert reader["longest_gap_s"] <= max(shipper["stall_ms"]) / 1e3 + 0.01
    # the writes that blocked: the strace side of the emits the API timed over 5 ms
    assert evidence["blocked_max_s"] == pytest.approx(measured["write_blocked_max_s"], abs=0.005)
    assert 0.9 * measured["writes_over_5ms"] <= evidence["blocked_writes"]
    assert evidence["blocked_writes"] <= measured["writes_over_5ms"]
    assert evidence["blocked_total_s"] <= measured["write_blocked_total_s"]
    # the handler lock the blocked writer held, and the threads queued on it
    lock = evidence["lock"]
    assert lock["wait_total_s"] == pytest.approx(measured["handler_lock_wait_total_s"], rel=0.05)
    assert lock["max_wait_s"] <= measured["handler_lock_wait_max_s"]
    assert lock["woken_after_blocked_writes"] >= 0.9 * evidence["blocked_writes"]
    assert lock["waiter_count"] >= 0.9 * measured["threads_that_logged"]
    assert finding.cost_s == pytest.approx(evidence["write_total_s"] + lock["wait_total_s"])
    assert "QueueHandler" in finding.fix and "subprocess" not in finding.fix


def test_the_write_and_lock_findings_fold_into_the_pipe(
    stderr_pipe: tuple[PassInputs, list[Finding]],
) -> None:
    inputs, findings = stderr_pipe
    earlier, finding = _rerun(inputs, findings)
    lock = finding.evidence["lock"]["futex"]
    folded = verdict.consequences([*earlier, finding])
    causes = {earlier[i].kind: cause for i, (cause, _) in folded.items()}
    assert {"slow_syscall", "lock_contention"} <= set(causes)
    assert set(causes.values()) == {len(earlier)}
    folded_locks = [f for i, f in enumerate(earlier) if i in folded and f.kind != "slow_syscall"]
    assert [f.evidence["futex"] for f in folded_locks] == [lock]
    assert not any(adds for _, adds in folded.values())
    conclusions = verdict.verdict([*earlier, finding])["conclusions"]
    assert conclusions[0]["kind"] == "pipe_backpressure"
    assert conclusions[0]["cost_s"] == pytest.approx(finding.cost_s)


def test_a_blocked_event_loop_stays_the_verdict_and_the_reader_is_named(
    loop_pipe: tuple[PassInputs, list[Finding]],
) -> None:
    measured = _json(LOOP_PIPE / "truth.json")["measured"]
    reader_measured = _json(LOOP_PIPE / "journal_reader.json")
    inputs, findings = loop_pipe
    (finding,) = [f for f in findings if f.kind == "pipe_backpressure"]
    (loop,) = [f for f in findings if f.kind == "blocked_loop"]
    assert finding.severity == "info" and finding.cost_s == 0.0
    assert finding.culprit is not None and finding.culprit.pid == measured["reader_pid"]
    assert finding.resource is not None and finding.resource.key == measured["pipe"]
    evidence = finding.evidence
    assert evidence["loop_writers"] == [measured["loop_tid"]] == [loop.evidence["loop_tid"]]
    assert evidence["blocked_writes"] == measured["emits_over_100ms"]
    assert evidence["blocked_total_s"] == pytest.approx(measured["emit_blocked_total_s"], abs=0.05)
    assert evidence["blocked_max_s"] == pytest.approx(measured["emit_max_s"], abs=0.005)
    assert evidence["reader"]["bytes"] == reader_measured["bytes"]
    assert evidence["reader"]["sleep_s"] == pytest.approx(reader_measured["stalled_s"], abs=0.05)
    assert evidence["lock"] is None
    # its reader's pacing sleeps are no retry loop: a sleep_retry finding on them folds in
    earlier, again = _rerun(inputs, findings)
    everything = [*earlier, again]
    ranked = [everything[i].kind for i, _, _ in verdict.ranked(everything)]
    assert "pipe_backpressure" not in ranked and ranked[0] == "blocked_loop"


def test_readers_are_found_without_y_through_the_replayed_fd_tables(tmp_path: Path) -> None:
    """The same capture with every -y decoration removed: the pipe is named after the
    pipe2() line that made it and followed through fork, dup2 and execve."""
    import gzip
    import re

    decorated = re.compile(r"\b(\d+|AT_FDCWD)<(?:[^<>]|<[^<>]*>)*>")
    plain = tmp_path / "plain.log"
    with gzip.open(STDERR_PIPE / "strace.f_tt_T_yy.log.gz", "rt") as source:
        plain.write_text("".join(decorated.sub(r"\1", line) for line in source))
    shipper = _json(STDERR_PIPE / "log_shipper.json")
    (finding,) = pipe_backpressure.run(inputs_of(plain), PassConfig())
    assert finding.resource is not None and finding.resource.key.startswith("pipe:[L")
    assert finding.culprit is not None and finding.culprit.pid == shipper["pid"]
    assert finding.evidence["reader"]["bytes"] == shipper["bytes"]


# Hand-built rows (not captures) below.


def _call(
    tid: int,
    start: float,
    syscall: str,
    duration: float,
    target: str | None = None,
    args: str = "",
    pid: int = 100,
    fd: int | None = None,
    retval: int | None = None,
) -> dict:
    return {
        "tid": tid,
        "pid": pid,
        "syscall": syscall,
        "start_s": start,
        "end_s": start + duration,
        "duration_s": duration,
        "target": target,
        "target_kind": "pipe" if target and target.startswith("pipe:") else None,
        "fd": fd,
        "args": args,
        "retval": retval,
        "line_start": int(start * 1e4) + tid,
        "status": "complete",
    }


PIPE = "pipe:[777]"


def _blocked_writes(tid: int, starts: list[float], duration: float, data: str) -> list[dict]:
    return [
        _call(tid, s, "write", duration, PIPE, f'5<{PIPE}>, "{data}"..., 512', fd=5, retval=512)
        for s in starts
    ]


def test_hand_built_a_reader_that_only_holds_the_pipe_as_stdin_is_named() -> None:
    rows = [
        _call(200, 0.0, "dup2", 1e-5, PIPE, f"3<{PIPE}>, 0", pid=200, fd=3, retval=0),
        *_blocked_writes(101, [0.1, 0.5, 0.9], 0.3, "\\0\\1binary"),
    ]
    (finding,) = pipe_backpressure.run(hand_built(rows), PassConfig())
    assert finding.culprit is not None and finding.culprit.pid == 200
    assert finding.evidence["reader"]["found_by"] == "stdin"
    assert finding.evidence["logging"] is False
    assert "QueueHandler" not in finding.fix and "reads pipe:[777]" in finding.fix
    assert finding.severity == "warning"


def test_hand_built_quick_pipe_writes_stay_quiet() -> None:
    rows = _blocked_writes(101, [i * 0.01 for i in range(200)], 0.0004, "2026-01-01 INFO x")
    assert pipe_backpressure.run(hand_built(rows), PassConfig()) == []


def test_hand_built_the_lock_held_across_the_blocked_writes_is_found() -> None:
    lock, gil = "0x5500", "0x7f00"
    rows = []
    for n, start in enumerate([0.0, 0.4, 0.8]):
        writer = 101 + n
        rows += _blocked_writes(writer, [start], 0.25, "2026-01-01T00:00:00Z INFO req")
        rows.append(
            _call(writer, start + 0.2501, "futex", 1e-5, args=f"{gil}, FUTEX_WAKE_PRIVATE, 1")
        )
        rows.append(
            _call(writer, start + 0.2503, "futex", 1e-5, args=f"{lock}, FUTEX_WAKE_PRIVATE, 1")
        )
        for waiter in (201, 202):
            rows.append(
                _call(
                    waiter,
                    start + 0.05,
                    "futex",
                    0.2,
                    args=f"{lock}, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL",
                )
            )
        rows.append(
            _call(
                203, start + 0.01, "futex", 0.003, args=f"{gil}, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL"
            )
        )
    (finding,) = pipe_backpressure.run(hand_built(rows), PassConfig())  # fmt: skip
    found = finding.evidence["lock"]
    assert found["futex"] == lock
    assert found["waiters"] == [201, 202] and found["peak_waiters"] == 2
    assert found["wait_total_s"] == pytest.approx(1.2)
    assert found["during_blocked_writes_s"] == pytest.approx(1.2)
    assert finding.cost_s == pytest.approx(0.75 + 1.2)
    assert finding.evidence["logging"] is True and "QueueHandler" in finding.fix


def test_hand_built_reader_pattern() -> None:
    rows = []
    for i in range(5):
        rows.append(
            _call(300, i * 0.5, "read", 1e-5, PIPE, f'0<{PIPE}>, "x"..., 4096', 300, 0, 4096)
        )
        rows.append(_call(300, i * 0.5 + 0.001, "write", 2e-5, "/spool", "4, ...", 300, 4, 4096))
        rows.append(
            _call(300, i * 0.5 + 0.002, "clock_nanosleep", 0.45, None, "CLOCK_REALTIME, 0, {}", 300)
        )
    rows.append(_call(300, 2.6, "read", 1e-5, PIPE, f'0<{PIPE}>, "", 4096', 300, 0, 0))
    (reader,) = pipe_readers(hand_built(rows).traces[0], [PIPE])[PIPE]  # fmt: skip
    assert (reader.pid, reader.found_by, reader.reads) == (300, "reads", 6)
    assert (reader.bytes, reader.read_size, reader.full_reads) == (5 * 4096, 4096, 5)
    assert reader.sleep_s == pytest.approx(5 * 0.45)
    assert reader.between_calls[0]["syscall"] == "clock_nanosleep"
    assert reader.between_calls[0]["kind"] == "sleep"


def test_hand_built_a_unix_socket_is_read_through_its_peer() -> None:
    writer_end, reader_end = "UNIX-STREAM:[10->11]", "UNIX-STREAM:[11->10]"
    rows = [
        _call(101, t, "sendto", 0.2, writer_end, f'7<{writer_end}>, "{{\\"level\\": 1}}"..., 99')
        for t in (0.0, 0.5)
    ]
    rows += [
        _call(
            400,
            0.19 + 0.5 * i,
            "recvfrom",
            1e-5,
            reader_end,
            f'3<{reader_end}>, "x", 8192',
            400,
            3,
            8192,
        )
        for i in range(2)
    ]
    (finding,) = pipe_backpressure.run(hand_built(rows), PassConfig())  # fmt: skip
    assert finding.resource is not None and finding.resource.kind == "unix"
    assert finding.resource.key == writer_end
    assert finding.culprit is not None and finding.culprit.pid == 400
    assert finding.evidence["reader"]["reads"] == 2


def test_hand_built_a_log_daemon_outside_the_trace_still_means_logging_back_pressure() -> None:
    sink = 'UNIX-DGRAM:[20->21,"/dev/log"]'
    rows = [_call(101, t, "sendto", 0.15, sink, f'5<{sink}>, "<14>app: x", 10') for t in (0, 1)]
    (finding,) = pipe_backpressure.run(hand_built(rows), PassConfig())
    assert finding.evidence["reader"] is None and finding.evidence["logging"] is True
    assert finding.culprit is not None and finding.culprit.pid is None
    assert "not in the trace" in (finding.culprit.role or "")
    assert "QueueHandler" in finding.fix
