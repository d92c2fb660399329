"""IOD016 syn_drops against the incident captures (checked against what the client and the
server measured), and hand-written traces (marked as such) for the edges no capture shows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pass_fixtures import ROOT, inputs_of

from analyzer import analyze
from analyzer.passes import PassConfig, syn_drops
from analyzer.passes.base import Finding, Resource
from analyzer.verdict import consequences

INCIDENTS = ROOT / "fixtures" / "incidents"
BACKLOG = INCIDENTS / "syn_drops_backlog"
SYNC_HTTP = INCIDENTS / "sync_http_batch"


def _truth(folder: Path) -> dict:
    return json.loads((folder / "truth.json").read_text(encoding="utf-8"))


def _strace_inputs(folder: Path) -> list[Path]:
    return [folder / name for name in _truth(folder)["inputs"] if name.startswith("strace")]


# --------------------------------------------------------------- syn_drops_backlog (capture)


@pytest.fixture(scope="module")
def backlog_finding() -> Finding:
    (finding,) = syn_drops.run(inputs_of(*_strace_inputs(BACKLOG)), PassConfig())
    return finding


def test_the_dropped_syns_are_one_finding_on_the_listener(backlog_finding: Finding) -> None:
    measured = _truth(BACKLOG)["measured"]
    assert backlog_finding.kind == "syn_drops" and backlog_finding.severity == "error"
    assert backlog_finding.resource is not None and backlog_finding.culprit is not None
    assert backlog_finding.resource.key == f"tcp {measured['listen']}"
    assert measured["listen"] in backlog_finding.resource.text
    # the server was not traced: no pid to blame, the role says where it is
    assert backlog_finding.culprit.pid is None
    assert measured["listen"] in (backlog_finding.culprit.role or "")
    assert backlog_finding.evidence["connects"] == measured["requests"]
    assert backlog_finding.evidence["pids"] == [measured["client_pid"]]


def test_the_connect_waits_sit_where_the_client_measured_them(backlog_finding: Finding) -> None:
    measured = _truth(BACKLOG)["measured"]
    evidence = backlog_finding.evidence
    histogram = dict(measured["connect_histogram"])
    fast = histogram.pop("0s")
    assert {f"{step['step_s']:g}s": step["connects"] for step in evidence["steps"]} == histogram
    assert evidence["on_step"] == measured["connect_s"]["over_0_5s"]
    assert evidence["gave_up"] == measured["failed"]
    assert evidence["connects"] - evidence["on_step"] - evidence["gave_up"] == fast
    # the client timed connect() from Python; the trace from the connect call to its poll
    on_step_s = evidence["wait_total_s"] - 10.0 * evidence["gave_up"]
    assert on_step_s == pytest.approx(measured["connect_s"]["sum_over_0_5s"], rel=0.01)
    assert evidence["usual_connect_s"] <= measured["connect_s"]["p50"]


def test_the_schedule_is_the_linear_one_of_this_kernel(backlog_finding: Finding) -> None:
    versions = (BACKLOG / "VERSIONS.txt").read_text()
    kernel = versions.split("kernel: ", 1)[1].split()[0]
    assert tuple(int(part) for part in kernel.split(".")[:2]) >= (6, 5)
    assert "net.ipv4.tcp_syn_linear_timeouts = 4" in versions
    assert backlog_finding.evidence["schedule"] == "linear"
    assert "tcp_syn_linear_timeouts" in backlog_finding.message


def test_first_responses_that_waited_too(backlog_finding: Finding) -> None:
    measured = json.loads((BACKLOG / "stock_sync.json").read_text())["per_request"]
    # the client's first-byte time runs from sending the request: a little longer
    seconds = [r["first_byte_s"] for r in measured if (r.get("first_byte_s") or 0) >= 1.0]
    by_second = backlog_finding.evidence["first_byte_by_second"]
    assert sum(n for s, n in by_second.items() if float(s) >= 3) == sum(
        1 for s in seconds if s >= 2.5
    )
    assert backlog_finding.evidence["first_byte_waits"] >= len(seconds)


def test_the_fix_says_how_to_confirm_and_what_to_raise(backlog_finding: Finding) -> None:
    port = _truth(BACKLOG)["measured"]["listen"].rsplit(":", 1)[1]
    assert "nstat -az TcpExtListenOverflows TcpExtListenDrops" in backlog_finding.fix
    assert f"ss -ltn 'sport = :{port}'" in backlog_finding.fix
    assert "somaxconn" in backlog_finding.fix and "backlog" in backlog_finding.fix


def test_the_backlog_verdict_leads_with_syn_drops() -> None:
    report = analyze(_strace_inputs(BACKLOG)).report
    first = report["verdict"]["conclusions"][0]
    assert first["kind"] == "syn_drops"
    assert _truth(BACKLOG)["measured"]["listen"] in first["resource"]["text"]


# ------------------------------------------------------------------- fast connects, no finding


def test_a_fast_connect_is_measured_and_no_finding() -> None:
    inputs = inputs_of(*_strace_inputs(SYNC_HTTP))
    found = syn_drops.connect_waits(inputs.traces[0])
    assert found is not None
    assert list(found["peer"]) == [f"tcp {_truth(SYNC_HTTP)['measured']['peer']}"]
    assert found["wait"][0] < 0.01
    assert syn_drops.run(inputs, PassConfig()) == []


def _other_traces() -> list[list[Path]]:
    found = [
        _strace_inputs(truth.parent)
        for truth in sorted(INCIDENTS.glob("*/truth.json"))
        if truth.parent != BACKLOG
    ]
    logs = ROOT / "fixtures" / "diagnosis" / "logs"
    found += [[path] for path in sorted(logs.glob("*.log")) if "debug" not in path.name]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("paths", _other_traces(), ids=lambda paths: paths[0].parent.name)
def test_no_finding_without_dropped_syns(paths: list[Path]) -> None:
    assert syn_drops.run(inputs_of(*paths), PassConfig()) == []


# ------------------------------------------------------------------ hand-written traces


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"10:{whole // 60:02d}:{whole % 60:02d}.{round((seconds - whole) * 1e6):06d}"


_PEER = '{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("10.1.2.3")}'


def _blocking(tid: int, fd: int, start: float, took: float) -> str:
    """Hand-written: a blocking connect that took `took` seconds."""
    return f"{tid} {_clock(start)} connect({fd}, {_PEER}, 16) = 0 <{took:.6f}>"


def _nonblocking(tid: int, fd: int, start: float, took: float, gave_up: bool = False) -> list[str]:
    """Hand-written in the shape CPython's sock_connect leaves: EINPROGRESS, poll POLLOUT,
    getsockopt SO_ERROR (or a poll that timed out)."""
    lines = [
        f"{tid} {_clock(start)} connect({fd}, {_PEER}, 16) = -1 EINPROGRESS (Operation now in "
        "progress) <0.000050>"
    ]
    poll = f"{tid} {_clock(start + 0.0001)} poll([{{fd={fd}, events=POLLOUT|POLLERR}}], 1, 10000)"
    if gave_up:
        return [*lines, f"{poll} = 0 (Timeout) <{took:.6f}>"]
    return [
        *lines,
        f"{poll} = 1 ([{{fd={fd}, revents=POLLOUT}}]) <{took - 0.0001:.6f}>",
        f"{tid} {_clock(start + took + 0.0001)} getsockopt({fd}, SOL_SOCKET, SO_ERROR, [0], [4])"
        " = 0 <0.000005>",
    ]


def _sockets(tids: range) -> list[str]:
    return [
        f"{tid} {_clock(0.0)} socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = {tid - 96}"
        " <0.000010>"
        for tid in tids
    ]


def _run(tmp_path: Path, lines: list[str]) -> list[Finding]:
    path = tmp_path / "trace.log"
    lines = sorted(lines, key=lambda line: line.split()[1])
    path.write_text("\n".join(lines) + "\n")
    return syn_drops.run(inputs_of(path), PassConfig())


def test_blocking_connects_on_the_classic_schedule(tmp_path: Path) -> None:
    tids = range(100, 108)
    lines = _sockets(tids[2:])  # the first two sockets were made before the trace
    waits = [0.0004, 0.0005, 1.002, 1.004, 3.003, 3.01, 7.005, 15.02]
    for tid, took in zip(tids, waits, strict=True):
        lines.append(_blocking(tid, tid - 96, 0.001, took))
    (finding,) = _run(tmp_path, lines)
    assert finding.evidence["connects"] == len(waits)
    assert finding.evidence["schedule"] == "classic"
    assert [(s["step_s"], s["connects"]) for s in finding.evidence["steps"]] == [
        (1.0, 2),
        (3.0, 2),
        (7.0, 1),
        (15.0, 1),
    ]
    assert finding.resource is not None and finding.resource.key == "tcp 10.1.2.3:8080"
    assert finding.cost_s == pytest.approx(sum(waits[2:]))


def test_an_ipv6_peer_is_named_as_its_resource(tmp_path: Path) -> None:
    six = (
        "{sa_family=AF_INET6, sin6_port=htons(8080), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}'
    )
    tids = range(100, 104)
    lines = [
        f"{tid} {_clock(0.001)} connect({tid - 96}, {six}, 28) = 0 <{took:.6f}>"
        for tid, took in zip(tids, [0.0002, 1.003, 1.004, 3.002], strict=True)
    ]
    (finding,) = _run(tmp_path, lines)
    assert finding.resource is not None and finding.resource.key == "tcpv6 [::1]:8080"
    assert "ss -ltn 'sport = :8080'" in finding.fix


def test_nonblocking_connects_and_one_that_gave_up(tmp_path: Path) -> None:
    tids = range(100, 106)
    lines = _sockets(tids)
    lines += _nonblocking(100, 4, 0.001, 0.0003)
    lines += _nonblocking(101, 5, 0.001, 2.03)
    lines += _nonblocking(102, 6, 0.001, 2.05)
    lines += _nonblocking(103, 7, 0.001, 5.1)
    lines += _nonblocking(104, 8, 0.001, 10.0, gave_up=True)
    lines += _nonblocking(105, 9, 0.001, 0.0004)
    (finding,) = _run(tmp_path, lines)
    assert finding.evidence["on_step"] == 3 and finding.evidence["gave_up"] == 1
    assert finding.evidence["schedule"] == "linear"
    assert finding.cost_s == pytest.approx(2.03 + 2.05 + 5.1 + 10.0, abs=0.01)


def test_slow_connects_off_the_retransmission_steps_are_not_syn_drops(tmp_path: Path) -> None:
    # a congested path (queueing delay): slow, but not at the times a dropped SYN is resent
    waits = [0.01, 0.03, 1.3, 1.75, 2.25, 2.8, 3.45, 4.6]
    tids = range(100, 100 + len(waits))
    lines = _sockets(tids)
    for tid, took in zip(tids, waits, strict=True):
        lines.append(_blocking(tid, tid - 96, 0.001, took))
    assert _run(tmp_path, lines) == []


def test_a_traced_listener_is_the_culprit(tmp_path: Path) -> None:
    tids = range(100, 104)
    lines = _sockets(tids)
    lines.insert(
        0,
        f"90 {_clock(0.0)} bind(3, {_PEER.replace('10.1.2.3', '0.0.0.0')}, 16) = 0 <0.000010>",
    )
    lines.insert(1, f"90 {_clock(0.0)} listen(3, 16) = 0 <0.000010>")
    for tid, took in zip(tids, [0.0003, 1.01, 1.02, 3.01], strict=True):
        lines.append(_blocking(tid, tid - 96, 0.001, took))
    (finding,) = _run(tmp_path, lines)
    assert finding.evidence["listener"]["backlog"] == 16
    assert finding.culprit is not None and finding.culprit.tid == 90
    assert "listen backlog 16" in finding.message


def test_the_steps_of_both_schedules() -> None:
    step, hit = syn_drops.on_step(np.array([0.5, 1.02, 1.6, 2.04, 7.2, 7.5, 15.01]), 0.0)
    assert hit.tolist() == [False, True, False, True, True, False, True]
    assert step[hit].tolist() == [1.0, 2.0, 7.0, 15.0]
    assert syn_drops.schedule_of([1.0, 3.0, 7.0]) == "either"
    assert syn_drops.schedule_of([3.0, 15.0]) == "classic"
    assert syn_drops.schedule_of([2.0, 5.0, 7.0]) == "linear"


def test_it_folds_slow_calls_and_pileups_on_its_peer() -> None:
    cause = Finding(
        code=syn_drops.CODE,
        kind=syn_drops.KIND,
        severity="error",
        title="hand-built",
        message="hand-built",
        evidence={},
        input="trace",
        resource=Resource("tcp", "tcp 10.1.2.3:8080", "TCP listener 10.1.2.3:8080"),
        explains=syn_drops.explains("tcp 10.1.2.3:8080"),
    )

    def consequence(kind: str, key: str) -> Finding:
        return Finding(
            code="IOD000",
            kind=kind,
            severity="error",
            title="hand-built",
            message="hand-built",
            evidence={},
            input="trace",
            resource=Resource("tcp", key, key),
        )

    findings = [
        cause,
        consequence("thread_pileup", "tcp 10.1.2.3:8080"),
        consequence("slow_syscall", "tcp 10.1.2.3:8080"),
        consequence("slow_syscall", "tcp 10.9.9.9:5432"),
    ]
    assert consequences(findings) == {1: (0, False), 2: (0, False)}
