"""Unit checks of the vectorised helpers in analyzer/derive against the plain versions they
replace (merge_asof, per-string parsing, pandas clock arithmetic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analyzer.derive import strace_fds
from analyzer.formats import strace_clock


def test_as_of_matches_merge_asof() -> None:
    rng = np.random.default_rng(7)
    events = pd.DataFrame(
        {
            "key": rng.integers(0, 5, 300),
            "position": rng.integers(0, 100, 300) * 2 + 1,
            "order": np.arange(300),
            "event": np.arange(300),
        }
    )
    queries = pd.DataFrame(
        {"key": rng.integers(0, 6, 200), "position": rng.integers(0, 110, 200) * 2}
    )
    found = strace_fds._as_of(
        events["key"].to_numpy(),
        events["position"].to_numpy(),
        events["order"].to_numpy(),
        queries["key"].to_numpy(),
        queries["position"].to_numpy(),
    )
    expected = pd.merge_asof(
        queries.reset_index().sort_values("position"),
        events.sort_values("position", kind="stable"),
        on="position",
        by="key",
        direction="backward",
    ).set_index("index")["event"]
    assert found.tolist() == expected.sort_index().fillna(-1).astype(int).tolist()


@pytest.mark.parametrize(
    "args",
    ["3", "3, 4", "-1", "0", "007", "12</etc/passwd>", "0x10, 1", " 5 ", "AT_FDCWD, x", "", "+4"],
)
def test_first_fds_agree_with_first_fd(args: str) -> None:
    assert strace_fds._first_fds(pa.array([args])) == [strace_fds._first_fd(args)]


def test_trace_clock_rolls_over_midnight() -> None:
    day = strace_clock.NS_PER_DAY
    ts = pa.array([day - 10, None, 5, 20], pa.int64())
    kinds = pa.array(["clock", None, "clock", "clock"])
    clock = strace_clock.trace_clock_ns(ts, kinds)
    assert np.isnan(clock[1])
    assert clock[[0, 2, 3]].tolist() == [day - 10, day + 5, day + 20]


def test_sockaddr_regex_equals_the_grammar_on_every_fixture_address() -> None:
    """The hot-path sockaddr regex reads every address in the fixtures as the grammar does."""
    import pyarrow.compute as pc

    from analyzer.derive.strace_fds import grammar_sockaddr_text, sockaddr_text
    from analyzer.formats import strace
    from analyzer.inputs import iter_line_chunks, open_input

    logs = Path(__file__).resolve().parent.parent / "fixtures" / "strace"
    checked = 0
    for path in sorted(logs.rglob("*.log")):
        source = open_input(path)
        try:
            lines = strace.parse(iter_line_chunks(source.stream), str(path)).lines
        finally:
            source.close()
        with_address = pc.fill_null(pc.match_substring(lines["args"], "sa_family=AF_"), False)
        for args in lines.filter(with_address)["args"].to_pylist():
            assert sockaddr_text(args) == grammar_sockaddr_text(args), args
            checked += 1
    assert checked > 100


def test_getsockname_gives_a_port_0_listener_its_real_port() -> None:
    """A server bound to port 0 learns its port from getsockname; without that, clients'
    sockets (TCP:[->127.0.0.1:PORT]) and the listener would not name the same address."""
    import json

    from analyzer import analyze

    logs = Path(__file__).resolve().parents[1] / "fixtures" / "diagnosis" / "logs"
    measured = json.loads((logs / "asyncio_server.f_tt_T.measured.json").read_text())
    host, port = measured["server"]
    calls = analyze([logs / "asyncio_server.f_tt_T.log"]).tables["syscalls"].to_pandas()
    accepts = calls[(calls.syscall == "accept4") & (calls.tid == measured["loop_tid"])]
    accepts = accepts[accepts.retval >= 0]
    assert len(accepts) == len(measured["client"]["requests"])
    assert set(accepts.target) == {f"TCP:[{host}:{port}]"}
    bind = calls[calls.syscall == "bind"].iloc[0]
    assert bind.target == f"TCP:[{host}:0]"  # before getsockname the port is not known
    client = calls[(calls.tid == measured["client"]["tid"]) & (calls.syscall == "recvfrom")]
    assert set(client.target) == {f"TCP:[->{host}:{port}]"}
