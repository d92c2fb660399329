"""The futex passes (IOD005 lock_contention, IOD014 lock_holder, IOD013 gil_contention) hold
a batch of futex keys' calls at a time, never every futex call of the trace, and IOD013
holds a few numbers per thread, never every call of the process: with tiny slices and
batches they find what they find with one slice and one batch, on every capture with an
strace input, without reading the futex calls whole.

The hand-built rows of the thread figures' test are not captures: they put a thread's
calls out of start order, without a start or an end, across slice boundaries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pass_fixtures import DIAGNOSIS_LOGS, ROOT, hand_built, inputs_of

from analyzer.derive import strace_locks, strace_slices, strace_thread_time
from analyzer.derive.strace_locks import WAIT, WAKE, read_futex_calls
from analyzer.derive.strace_thread_time import Gaps, in_calls, spans_and_gaps, time_in_calls
from analyzer.passes import PassConfig, PassInputs, gil_contention, lock_contention, lock_holder
from analyzer.passes.base import Finding

INCIDENTS = ROOT / "fixtures" / "incidents"
PASSES = {
    "lock_contention": lock_contention,
    "lock_holder": lock_holder,
    "gil_contention": gil_contention,
}


def _strace_inputs(folder: Path) -> list[Path]:
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return [folder / name for name in truth["inputs"] if name.startswith(("strace", "perf"))]


CAPTURES = [
    *sorted(
        folder
        for folder in INCIDENTS.iterdir()
        if (folder / "truth.json").exists()
        and any(path.name.startswith("strace") for path in _strace_inputs(folder))
    ),
    DIAGNOSIS_LOGS / "lock_convoy.f_tt_T.log",
    DIAGNOSIS_LOGS / "nproc_exhaustion.f_tt_T.log",
]


@pytest.fixture(scope="module", params=CAPTURES, ids=lambda path: path.name)
def capture(request: pytest.FixtureRequest) -> PassInputs:
    path: Path = request.param
    return inputs_of(*_strace_inputs(path)) if path.is_dir() else inputs_of(path)


def _findings(module: Any, inputs: PassInputs) -> list[Finding]:
    return list(module.run(inputs, PassConfig()))


def _largest_key(inputs: PassInputs) -> int:
    """The most waits and wakes one futex key of the inputs has."""
    largest = 0
    for trace in inputs.traces:
        futexes = read_futex_calls(trace)
        if futexes is None:
            continue
        keyed = ((futexes.op == WAIT) | (futexes.op == WAKE)) & (futexes.keys >= 0)
        if keyed.any():
            largest = max(largest, int(np.bincount(futexes.keys[keyed]).max()))
    return largest


@pytest.mark.parametrize("name", sorted(PASSES))
def test_a_batch_of_keys_at_a_time_finds_what_all_at_once_finds(
    capture: PassInputs, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = PASSES[name]
    rows = max(trace.syscalls.num_rows for trace in capture.traces)
    monkeypatch.setattr(strace_locks, "FUTEX_ROWS_PER_SLICE", max(rows, 1))
    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", max(rows, 1))
    monkeypatch.setattr(strace_locks, "BATCH_CALLS", 1 << 40)
    whole = _findings(module, capture)
    largest = _largest_key(capture)

    def whole_read(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("every futex call read at once")

    sizes: list[int] = []
    joined = strace_locks.joined

    def watched(index: Any, pieces: Any) -> Any:
        found = joined(index, pieces)
        sizes.append(len(found.rows))
        return found

    monkeypatch.setattr(strace_locks, "futex_calls", whole_read)
    monkeypatch.setattr(strace_locks, "read_futex_calls", whole_read)
    monkeypatch.setattr(strace_locks, "joined", watched)
    monkeypatch.setattr(strace_locks, "FUTEX_ROWS_PER_SLICE", 13)
    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", 97)
    monkeypatch.setattr(strace_locks, "BATCH_CALLS", 5)
    assert _findings(module, capture) == whole
    # a batch is one key's calls, or keys with 5 calls in all
    assert all(size <= max(5, largest) for size in sizes)


def test_the_captures_hold_futex_findings() -> None:
    """The comparison above is not between empty lists only."""
    found = {
        name: sum(
            len(
                _findings(
                    module,
                    inputs_of(*_strace_inputs(path)) if path.is_dir() else inputs_of(path),
                )
            )
            for path in CAPTURES
            if path.name in ("gil_regex_indexer", "mutex_cache_refresh", "lock_convoy.f_tt_T.log")
        )
        for name, module in PASSES.items()
    }
    assert all(count > 0 for count in found.values()), found


@pytest.mark.parametrize(
    "folder", ["gil_regex_indexer", "slow_volume_gil_compactor"], ids=lambda name: name
)
def test_gil_contention_reads_no_column_of_every_call_of_the_process(
    folder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = inputs_of(*_strace_inputs(INCIDENTS / folder))
    expected = _findings(gil_contention, inputs)
    assert expected
    slice_rows = 97
    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", slice_rows)
    monkeypatch.setattr(strace_locks, "FUTEX_ROWS_PER_SLICE", slice_rows)
    seen: list[int] = []

    def watched(function: Any) -> Any:
        def call(table: Any, *args: Any, **kwargs: Any) -> Any:
            length = table.num_rows if isinstance(table, pa.Table) else len(table)
            seen.append(length)
            assert length <= slice_rows, f"{function.__name__} over {length} calls"
            return function(table, *args, **kwargs)

        return call

    for module in (strace_slices, strace_thread_time, strace_locks):
        monkeypatch.setattr(module, "call_times", watched(module.call_times))
    assert _findings(gil_contention, inputs) == expected
    assert seen


_call = st.tuples(
    st.sampled_from([7, 7, 8, 9]),  # thread
    st.sampled_from([1, 1, 2]),  # process
    st.one_of(st.none(), st.floats(0, 5)),  # start
    st.one_of(st.none(), st.floats(0, 0.5)),  # duration
    st.sampled_from(["complete", "complete", "in-flight", "no-return"]),
)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(_call, max_size=40),
    st.booleans(),
    st.lists(st.floats(-1, 7), min_size=1, max_size=6),
    st.integers(1, 7),
)
def test_thread_figures_read_slice_by_slice_equal_those_of_the_whole_calls(
    calls: list[tuple[int, int, float | None, float | None, str]],
    in_order: bool,
    moments: list[float],
    size: int,
) -> None:
    if in_order:  # as strace writes a thread's calls
        calls = sorted(calls, key=lambda call: (call[2] is None, call[2] or 0.0))
    rows = [
        {"tid": tid, "pid": pid, "syscall": "read", "start_s": start, "duration_s": length}
        | {"status": status, "line_end": 1}
        for tid, pid, start, length, status in calls
    ]
    trace = hand_built(rows).traces[0]
    # the whole calls of each thread of process 1, sorted by start, as IOD013 held them
    whole: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for tids, starts, ends in strace_thread_time.process_calls(trace, 1):
        for tid in np.unique(tids).tolist():
            mine = tids == tid
            old = whole.get(tid, (np.empty(0), np.empty(0)))
            whole[tid] = (np.append(old[0], starts[mine]), np.append(old[1], ends[mine]))
    for tid, (starts, ends) in whole.items():
        order = np.argsort(starts, kind="stable")
        whole[tid] = (starts[order], ends[order])
    sliced_rows = strace_slices.ROWS_PER_SLICE
    times = np.array(moments)
    try:
        strace_slices.ROWS_PER_SLICE = size
        gaps = {tid: Gaps(times[:-1], times[1:]) for tid in (7, 8)}
        spans = spans_and_gaps(trace, 1, gaps)
        inside = time_in_calls(trace, 1, spans, {tid: times for tid in spans})
    finally:
        strace_slices.ROWS_PER_SLICE = sliced_rows
    assert list(spans) == sorted(whole)
    for tid, (starts, ends) in whole.items():
        span = spans[tid]
        assert np.array_equal([span.first, span.end], [starts[0], ends.max()], equal_nan=True)
        expected = in_calls(starts, ends, times)
        assert np.array_equal(inside[tid], expected, equal_nan=True), (tid, in_order)
    for tid, gap in gaps.items():
        starts = whole.get(tid, (np.empty(0), np.empty(0)))[0]
        between = np.searchsorted(starts, times[1:], side="left") - np.searchsorted(
            starts, times[:-1], side="right"
        )
        assert gap.between.tolist() == between.tolist()


def _merged_one_by_one(starts: np.ndarray, ends: np.ndarray) -> list[list[float]]:
    """IOD014's union of holds as it was written: a Python list grown one interval at a
    time (some 100 bytes per interval, for a convoy's hundreds of thousands)."""
    order = np.argsort(starts, kind="stable")
    merged: list[list[float]] = []
    for start, end in zip(starts[order].tolist(), ends[order].tolist(), strict=True):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 6)), max_size=30))
def test_the_union_of_holds_is_the_interval_by_interval_union(
    intervals: list[tuple[int, int]],
) -> None:
    starts = np.array([start / 4 for start, _ in intervals], dtype=np.float64)
    ends = starts + np.array([length / 4 for _, length in intervals], dtype=np.float64)
    merged_starts, merged_ends = lock_holder._merge(starts, ends)
    assert [[s, e] for s, e in zip(merged_starts.tolist(), merged_ends.tolist(), strict=True)] == (
        _merged_one_by_one(starts, ends)
    )
