"""What poll/select calls waited on (derive/strace_waits), and which waits are idle.

Checked against the incident captures' own measurements (truth.json) and hand-written lines
(marked as such) for the shapes the captures do not have.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from support import FIXTURES

from analyzer import pipeline
from analyzer.config import Config
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_loops import loop_wait_rows
from analyzer.derive.strace_waits import decode, resource_waits, server_side, waits_for_client

INCIDENTS = FIXTURES / "incidents"


def trace_of(incident: str) -> tuple[StraceTables, dict]:
    folder = INCIDENTS / incident
    truth = json.loads((folder / "truth.json").read_text())
    paths = [folder / name for name in truth["inputs"] if name.startswith("strace")]
    inputs = pipeline.parse_inputs(paths, Config())
    [trace] = pipeline.derive(inputs, Config())["strace"].extras["traces"]
    return trace, truth


def decoded(syscall: str, args: str, aux: str | None) -> list[tuple[int, str | None, str, bool]]:
    found = decode(pa.array([syscall]), pa.array([args]), pa.array([aux], pa.string()))
    return list(
        zip(
            found["fd"].tolist(),
            found["decorated"],
            found["want"],
            found["ready"].tolist(),
            strict=True,
        )
    )


# Hand-written lines below, in the shapes strace 6.1 prints.


def test_a_pollfd_decoration_may_hold_arrows_and_brackets() -> None:
    args = (
        "[{fd=5<TCP:[127.0.0.1:58514->127.0.0.1:42583]>, events=POLLOUT|POLLERR}, "
        "{fd=7, events=POLLIN}], 2, 10000"
    )
    assert decoded("poll", args, "[{fd=5, revents=POLLOUT}]") == [
        (5, "TCP:[127.0.0.1:58514->127.0.0.1:42583]", "out", True),
        (7, None, "in", False),
    ]


def test_select_sets_and_their_ready_fds() -> None:
    args = "8, [3 5<TCP:[1.2.3.4:5->6.7.8.9:10]>], [7], NULL, {tv_sec=1, tv_usec=0}"
    assert decoded("select", args, "in [5], left {tv_sec=0, tv_usec=5}") == [
        (3, None, "in", False),
        (5, "TCP:[1.2.3.4:5->6.7.8.9:10]", "in", True),
        (7, None, "out", False),
    ]


def test_a_select_with_empty_sets_is_a_sleep_and_has_no_fd() -> None:
    assert decoded("pselect6", "0, NULL, NULL, NULL, {tv_sec=0, tv_nsec=5}, NULL", "Timeout") == []


# Real captures.


def test_a_synchronous_clients_polls_name_its_backend() -> None:
    trace, truth = trace_of("sync_http_batch")
    [upstream] = truth["root_cause"]["resource"]["match"]
    calls = trace.syscalls
    polls = calls.filter(pc.equal(calls["syscall"], "poll"))
    assert polls.num_rows > 0
    assert all(upstream in target for target in polls["target"].to_pylist())
    waits = resource_waits(calls, trace.wait_fds)
    assert waits[np.flatnonzero(pc.equal(calls["syscall"], "poll").to_numpy(False))].all()
    # ... and a thread polling one socket is no event loop.
    assert len(loop_wait_rows(calls, 5, trace.wait_fds)) == 0


def test_a_resolver_without_yy_names_its_nameserver() -> None:
    trace, truth = trace_of("slow_dns_pool")
    calls = trace.syscalls
    polls = calls.filter(pc.equal(calls["syscall"], "poll"))
    assert set(polls["target"].to_pylist()) == {"UDP:[->127.0.0.1:53]"}
    # glibc sends A and AAAA on one socket and polls once for both: every lookup's first
    # wait timed out (the server dropped the first query of each name).
    timeouts = int(pc.sum(pc.equal(polls["aux"], "Timeout")).as_py())
    assert timeouts == truth["measured"]["lookups"] == truth["measured"]["dns_names"]


def test_a_server_reading_its_client_is_waiting_for_the_client() -> None:
    trace, _ = trace_of("healthy_idle_pool")
    calls = trace.syscalls
    reads = np.flatnonzero(pc.equal(calls["syscall"], "recvfrom").to_numpy(False))
    assert len(reads) > 0
    assert server_side(calls)[reads].all()
    assert waits_for_client(calls, trace.wait_fds)[reads].all()


def test_a_supervisors_self_pipe_is_its_own() -> None:
    trace, truth = trace_of("pids_limit_prefork")
    master = truth["measured"]["master_pid"]
    waits = trace.wait_fds
    mine = waits.filter(pc.equal(waits["tid"], master))
    assert mine.num_rows > 0 and all(mine["own_pipe"].to_pylist())
    assert not resource_waits(trace.syscalls, waits)[mine["row"].to_numpy()].any()


@pytest.mark.parametrize(
    "incident", ["flock_compactor", "sqlite_long_reader", "mutex_cache_refresh"]
)
def test_synchronous_servers_are_not_event_loops(incident: str) -> None:
    """Pre-fork workers, a report process and a threaded HTTP server poll one listener or
    one socket at a time: none of them multiplexes."""
    trace, _ = trace_of(incident)
    assert len(loop_wait_rows(trace.syscalls, 5, trace.wait_fds)) == 0


def test_an_asyncio_loop_is_an_event_loop() -> None:
    trace, truth = trace_of("http_in_coroutine")
    rows = loop_wait_rows(trace.syscalls, 5, trace.wait_fds)
    tids = set(trace.syscalls["tid"].take(pa.array(rows)).to_pylist())
    assert tids == {truth["root_cause"]["culprit"]["tid"]}


def test_periodic_polls_on_one_fd_are_idle(tmp_path: Path) -> None:
    """Hand-written: a thread polls a connected socket every second and always times out
    (a keep-alive check), another waits once for an answer."""
    lines = [
        "7 10:00:00.000000 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3 <0.00001>",
        "7 10:00:00.000100 connect(3, {sa_family=AF_INET, sin_port=htons(80), "
        'sin_addr=inet_addr("10.0.0.1")}, 16) = 0 <0.0001>',
    ]
    for second in range(6):
        lines.append(
            f"7 10:00:{second + 1:02d}.000000 poll([{{fd=3, events=POLLIN}}], 1, 1000) = 0 "
            "(Timeout) <1.000100>"
        )
    lines.append(
        "7 10:00:08.000000 poll([{fd=3, events=POLLIN}], 1, 5000) = 1 ([{fd=3, "
        "revents=POLLIN}]) <0.400000>"
    )
    path = tmp_path / "keepalive.log"
    path.write_text("\n".join(lines) + "\n")
    inputs = pipeline.parse_inputs([path], Config())
    [trace] = pipeline.derive(inputs, Config())["strace"].extras["traces"]
    calls = trace.syscalls
    waits = resource_waits(calls, trace.wait_fds)
    polls = np.flatnonzero(pc.equal(calls["syscall"], "poll").to_numpy(False))
    assert not waits[polls[:-1]].any()
    # The one answered wait is among many periodic ones on the same socket: still idle.
    assert not waits[polls[-1]]


def test_a_pool_polling_its_pipes_is_no_event_loop() -> None:
    """fixtures/blind/healthy_mp_pool_digest: multiprocessing.Pool's worker-handler thread
    waits in `multiprocessing.connection.wait` (poll) over the workers' sentinels and its
    change-notifier pipe, 350 times; only pipes, so it waits for the program's own
    processes, not for clients: no event loop."""
    folder = FIXTURES / "blind" / "healthy_mp_pool_digest"
    inputs = pipeline.parse_inputs([folder / "strace.f_tt_T_yy.log.gz"], Config())
    [trace] = pipeline.derive(inputs, Config())["strace"].extras["traces"]
    waits = trace.wait_fds.to_pandas()
    only_pipes = waits.groupby("row")["target_kind"].agg(lambda kinds: set(kinds) == {"pipe"})
    pipe_pollers = set(waits[waits["row"].isin(only_pipes[only_pipes].index)]["tid"])
    frequent = waits.groupby("tid")["row"].nunique()
    assert any(frequent[tid] >= 100 for tid in pipe_pollers)  # the handler polls often
    rows = loop_wait_rows(trace.syscalls, 5, trace.wait_fds)
    loop_tids = set(trace.syscalls["tid"].take(pa.array(rows)).to_pylist())
    assert not loop_tids & pipe_pollers
