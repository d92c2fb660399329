"""The strace passes that scan a long trace a slice of rows at a time (`strace_slices`) find
what they find on the whole table: each is run on every incident capture with slices of a
few rows, so that every episode, connect and lookup straddles slice boundaries, and must
give the same findings as with the default slices (one slice: the whole table). And they
stay slice-wise: with small slices, none of their modules converts or matches a column as
long as the whole trace (`numbers`, `is_in`, `call_times` of every call)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pass_fixtures import ROOT, inputs_of

from analyzer.derive import (
    strace_futex_keys,
    strace_loops,
    strace_rows,
    strace_slices,
    strace_tasks,
)
from analyzer.derive.strace_futex_keys import futex_keys_at
from analyzer.derive.strace_locks import futex_calls, futex_key
from analyzer.passes import (
    PassConfig,
    PassInputs,
    blocked_loop,
    slow_dns,
    syn_drops,
    thread_exhaustion,
    thread_pileup,
)
from analyzer.passes.base import Finding
from analyzer.passes.targets import with_paths

INCIDENTS = ROOT / "fixtures" / "incidents"
PASSES = {
    "blocked_loop": blocked_loop,
    "syn_drops": syn_drops,
    "thread_pileup": thread_pileup,
    "thread_exhaustion": thread_exhaustion,
    "slow_dns": slow_dns,
}


def _strace_inputs(folder: Path) -> list[Path]:
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return [folder / name for name in truth["inputs"] if name.startswith("strace")]


CAPTURES = sorted(
    folder
    for folder in INCIDENTS.iterdir()
    if (folder / "truth.json").exists() and _strace_inputs(folder)
)


@pytest.fixture(scope="module", params=CAPTURES, ids=lambda folder: folder.name)
def capture(request: pytest.FixtureRequest) -> PassInputs:
    return inputs_of(*_strace_inputs(request.param))


def test_the_captures_with_strace_inputs_are_found() -> None:
    assert len(CAPTURES) >= 5


def _findings(module: object, inputs: PassInputs) -> list[Finding]:
    return list(module.run(inputs, PassConfig()))  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(PASSES))
@pytest.mark.parametrize("rows_per_slice", [97])
def test_small_slices_find_what_one_slice_finds(
    capture: PassInputs, name: str, rows_per_slice: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = PASSES[name]
    rows = max(trace.syscalls.num_rows for trace in capture.traces)
    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", max(rows, 1))
    whole = _findings(module, capture)
    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", rows_per_slice)
    assert _findings(module, capture) == whole


def test_futex_keys_are_those_of_futex_calls(
    capture: PassInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", 37)
    for trace in capture.traces:
        futexes = futex_calls(trace)
        rows = np.arange(trace.syscalls.num_rows, dtype=np.int64)
        expected = np.full(len(rows), None, dtype=object)
        if futexes is not None:
            keyed = futexes.keys >= 0
            names = [
                futex_key(int(pid), futexes.addresses[int(address)])
                for pid, address in zip(futexes.key_pid, futexes.key_address, strict=True)
            ]
            expected[futexes.rows[keyed]] = np.array(names, dtype=object)[futexes.keys[keyed]]
        # asked about in a shuffled order, as the episodes ask
        shuffled = np.random.default_rng(7).permutation(rows)
        assert futex_keys_at(trace, shuffled).tolist() == expected[shuffled].tolist()


GUARDED = (
    blocked_loop,
    strace_loops,
    strace_futex_keys,
    syn_drops,
    thread_pileup,
    thread_exhaustion,
    slow_dns,
    strace_slices,
)
"""The modules of the slice-wise passes; their helpers from elsewhere are not watched."""


def _watch(monkeypatch: pytest.MonkeyPatch, rows: int) -> list[int]:
    """Make the guarded modules' `numbers`, `is_in` and `call_times` fail on a column (or
    table) of `rows` rows or more; the lengths they were given are listed."""
    seen: list[int] = []

    def watched(function: Any) -> Any:
        def call(column: Any, *args: Any, **kwargs: Any) -> Any:
            length = column.num_rows if isinstance(column, pa.Table) else len(column)
            seen.append(length)
            assert length < rows, f"{function.__name__} over all {rows} calls"
            return function(column, *args, **kwargs)

        return call

    for module in GUARDED:
        for helper in ("numbers", "is_in", "call_times"):
            if hasattr(module, helper):
                monkeypatch.setattr(module, helper, watched(getattr(module, helper)))
    return seen


@pytest.mark.parametrize("name", sorted(PASSES))
def test_no_column_as_long_as_the_trace(
    capture: PassInputs, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = max(trace.syscalls.num_rows for trace in capture.traces)
    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", 97)
    _watch(monkeypatch, rows)
    _findings(PASSES[name], capture)


def test_the_watch_catches_a_whole_trace_read(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = pa.table({"tid": list(range(500))})
    seen = _watch(monkeypatch, calls.num_rows)
    assert thread_pileup.numbers(calls["tid"][:10]).tolist() == list(range(10))
    with pytest.raises(AssertionError, match="numbers over all 500 calls"):
        thread_pileup.numbers(calls["tid"])
    assert seen == [10, 500]


def _dns_masks(part: pa.Table) -> tuple[list[bool], list[bool]]:
    scanned, _ = slow_dns._dns_calls(part, slow_dns._socket_targets(part))
    whole, _ = slow_dns._dns_calls(part, with_paths(part))
    return scanned.tolist(), whole.tolist()


def test_the_resolver_scan_reads_paths_only_where_they_can_name_a_socket(
    capture: PassInputs,
) -> None:
    for trace in capture.traces:
        scanned, whole = _dns_masks(trace.syscalls)
        assert scanned == whole


def test_a_path_that_names_a_nameserver_socket_is_seen() -> None:
    """Hand-written rows: a call without a target or an fd whose (relative) path reads as a
    UDP socket to port 53, and others."""
    args = [
        'AT_FDCWD, "UDP:[10.0.0.1:4000->10.0.0.2:53]", O_RDONLY',
        '3<UDP:[10.0.0.1:4000->10.0.0.2:53]>, "", {st_mode=S_IFSOCK}, AT_EMPTY_PATH',
        'AT_FDCWD, "/etc/resolv.conf", O_RDONLY',
        'AT_FDCWD, "TCP:[10.0.0.1:4000->10.0.0.2:80]", O_RDONLY',
        "0x7f00, FUTEX_WAKE_PRIVATE, 1",
    ]
    part = pa.table(
        {
            "target": pa.array([None] * len(args), pa.string()),
            "fd": pa.array([None] * len(args), pa.int64()),
            "args": pa.array(args),
        }
    )
    scanned, whole = _dns_masks(part)
    assert whole == [True, False, False, False, False]
    assert scanned == whole


def test_process_runtime_is_that_of_strace_tasks(
    capture: PassInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", 97)
    for trace in capture.traces:
        pids = {int(pid) for pid in trace.tasks["pid"].to_pylist() if pid is not None}
        for pid in sorted(pids):
            expected = strace_tasks.process_runtime(trace, pid)
            assert strace_rows.process_runtime_of(trace, pid, 97) == expected


def test_syn_drops_holds_the_closes_of_connected_fds_only(
    capture: PassInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The closes that can end a connect are found a slice at a time: the rows the pass
    reads by number (`strace_slices.take`) are never the closes of other fds or processes
    (a busy trace closes a file every twenty calls)."""
    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", 97)
    taken: list[np.ndarray] = []
    original = strace_slices.take

    def record(calls: pa.Table, columns: Any, rows: np.ndarray) -> pa.Table:
        taken.append(np.asarray(rows))
        return original(calls, columns, rows)

    monkeypatch.setattr(strace_slices, "take", record)
    for trace in capture.traces:
        taken.clear()
        syn_drops.connect_waits(trace)
        calls = trace.syscalls
        syscalls = np.array(calls["syscall"].to_pylist(), dtype=object)
        fds = np.asarray(calls["fd"].fill_null(-1).to_numpy())
        pids = np.asarray(calls["pid"].to_numpy(zero_copy_only=False), dtype=np.float64)
        tids = np.asarray(calls["tid"].to_numpy(zero_copy_only=False), dtype=np.float64)
        owners = np.where(np.isnan(pids), tids, pids)
        connects = syscalls == "connect"
        on_connect = np.isin(fds, fds[connects]) & np.isin(owners, owners[connects])
        other_closes = set(np.flatnonzero((syscalls == "close") & ~on_connect).tolist())
        read = {int(row) for rows in taken for row in rows.tolist()}
        assert not read & other_closes


def test_listeners_of_loop_threads_slice_by_slice_equal_one_slice(
    capture: PassInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`blocked_loop.listening` keeps each slice's distinct (thread, listener) pairs: the
    same listeners, in the same order, as over the whole table, without a resource per
    accept of the trace."""
    for trace in capture.traces:
        tids = np.unique(numbers_of(trace.syscalls["tid"]))
        monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", max(trace.syscalls.num_rows, 1))
        whole = blocked_loop.listening(trace, tids)
        for rows in (7, 61):
            monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", rows)
            lengths: list[int] = []
            original = blocked_loop.resources

            def watched(
                targets: Any, lengths: list[int] = lengths, original: Any = original
            ) -> Any:
                lengths.append(len(targets))
                return original(targets)

            monkeypatch.setattr(blocked_loop, "resources", watched)
            assert blocked_loop.listening(trace, tids) == whole
            assert all(length <= rows for length in lengths)
            monkeypatch.setattr(blocked_loop, "resources", original)


def numbers_of(column: pa.ChunkedArray) -> np.ndarray:
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    return values[~np.isnan(values)]
