"""The lock passes read a long trace's calls a slice at a time and take only the rows they
need: what they read equals what a whole-table read gives (random hand-built tables, tiny
slices; real captures), and reading it holds no whole column. IOD005 sweeps one futex at a
time, as one sweep over all of them would.

The hand-built rows are not captures: they exercise slice boundaries, nulls and the
condition-variable pairing, which the captures show only in a few fixed places.
"""

from __future__ import annotations

import dataclasses
import itertools
import tracemalloc
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pass_fixtures import DIAGNOSIS_LOGS, hand_built, inputs_of

from analyzer.arrays import numbers
from analyzer.derive import strace_locks
from analyzer.derive.strace_calls import call_times
from analyzer.derive.strace_locks import activity, read_futex_calls
from analyzer.derive.strace_rows import (
    lines_at,
    numbers_at,
    process_runtime_of,
    rows_of,
    taken,
)
from analyzer.derive.strace_slices import times_at
from analyzer.derive.strace_tasks import process_runtime
from analyzer.passes.common import in_flight, step_stats, stretches_above

NPROC = DIAGNOSIS_LOGS / "nproc_exhaustion.f_tt_T.log"
LOCK_CONVOY = DIAGNOSIS_LOGS / "lock_convoy.f_tt_T.log"

ADDRESSES = ["0xa5b8f0", "0xa5b8f4", "0x7f00", "0x7f08", "(nil)"]
OPS = [
    "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, FUTEX_BITSET_MATCH_ANY",
    "FUTEX_WAIT_PRIVATE, 2, NULL",
    "FUTEX_WAKE_PRIVATE, 1",
    "FUTEX_TRYLOCK_PI_PRIVATE",
]

_row = st.fixed_dictionaries(
    {
        "tid": st.integers(1, 4),
        "pid": st.one_of(st.none(), st.integers(1, 2)),
        "syscall": st.sampled_from(["futex", "futex", "read", None]),
        "start_s": st.one_of(st.none(), st.floats(0, 5)),
        "duration_s": st.one_of(st.none(), st.floats(0, 1)),
        "args": st.one_of(
            st.none(),
            st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(OPS)).map(", ".join),
            st.just("garbage"),
        ),
        "retval": st.one_of(st.none(), st.integers(-1, 2)),
        "status": st.sampled_from(["complete", "complete", "in-flight", "no-return"]),
        "line_start": st.one_of(st.none(), st.integers(1, 99)),
        "line_end": st.integers(1, 99),
    }
)


def _same(whole: Any, sliced: Any) -> None:
    if whole is None or sliced is None:
        assert whole is sliced
        return
    for field in dataclasses.fields(whole):
        left, right = getattr(whole, field.name), getattr(sliced, field.name)
        if isinstance(left, np.ndarray):
            assert left.tolist() == right.tolist() or np.array_equal(left, right, equal_nan=True)
        else:
            assert left == right, field.name


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, max_size=40), st.integers(1, 7))
def test_futex_calls_read_slice_by_slice_equal_one_whole_read(
    rows: list[dict[str, Any]], size: int
) -> None:
    for row in rows:
        if row["start_s"] is not None and row["duration_s"] is not None:
            row["end_s"] = row["start_s"] + row["duration_s"]
    trace = hand_built(rows).traces[0]
    _same(read_futex_calls(trace, 1 << 20), read_futex_calls(trace, size))


@pytest.mark.parametrize("path", [NPROC, LOCK_CONVOY], ids=["nproc", "lock_convoy"])
def test_futex_calls_of_captures_read_in_tiny_slices(path: Any) -> None:
    trace = inputs_of(path).traces[0]
    whole = read_futex_calls(trace, 1 << 30)
    assert whole is not None and len(whole.rows) > 100
    _same(whole, read_futex_calls(trace, 7))
    # the rows it keeps are the futex calls, with the times call_times gives them
    names = trace.syscalls["syscall"].to_numpy(zero_copy_only=False)
    assert whole.rows.tolist() == np.flatnonzero(names == "futex").tolist()
    starts, ends = call_times(trace.syscalls, whole.rows, trace.last_s)
    assert np.array_equal(whole.starts, starts, equal_nan=True)
    assert np.array_equal(whole.ends, ends, equal_nan=True)


@given(st.lists(st.tuples(st.integers(-1, 3), st.integers(-1, 5)), min_size=1, max_size=30))
def test_pair_codes_number_pairs_in_the_order_they_first_appear(
    pairs: list[tuple[int, int]],
) -> None:
    pids = np.array([pid for pid, _ in pairs], dtype=np.int64)
    heads = np.array([head for _, head in pairs], dtype=np.int64)
    seen: dict[tuple[int, int], int] = {}
    codes = strace_locks._pair_codes(pids, heads, seen)
    expected: dict[tuple[int, int], int] = {}
    for pair in pairs:
        expected.setdefault(pair, len(expected))
    assert seen == expected
    assert codes.tolist() == [expected[pair] for pair in pairs]
    local, found = strace_locks._pairs_in_order(pids, heads)  # pids beyond 2**31
    assert found == list(expected) and [found[i] for i in local.tolist()] == pairs


def _chunked(values: list[Any], cuts: list[int], kind: pa.DataType) -> pa.ChunkedArray:
    bounds = sorted({0, len(values), *(cut % (len(values) + 1) for cut in cuts)})
    chunks = [pa.array(values[a:b], kind) for a, b in itertools.pairwise(bounds)]
    return pa.chunked_array(chunks or [pa.array([], kind)], kind)


@given(
    st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=1, max_size=30),
    st.lists(st.integers(0, 40), max_size=5),
    st.data(),
)
def test_taken_is_table_take_in_any_order(
    values: list[int | None], cuts: list[int], data: st.DataObject
) -> None:
    table = pa.table(
        {
            "x": _chunked(values, cuts, pa.int64()),
            "s": _chunked([None if v is None else str(v) for v in values], cuts[::-1], pa.string()),
        }
    )
    rows = data.draw(st.lists(st.integers(0, len(values) - 1), max_size=20))
    expected = table.take(pa.array(rows, pa.int64())).to_pylist()
    assert taken(table, ["x", "s"], np.array(rows, np.int64)).to_pylist() == expected
    assert taken(table, ["s"], np.array(rows, np.int64)).column_names == ["s"]
    with pytest.raises(IndexError):
        taken(table, ["x"], np.array([len(values)]))


_POOLS: list[pa.MemoryPool] = []
"""Every pool a test counted on, kept: a buffer it allocated may outlive the test."""


def _counting_pool() -> pa.MemoryPool:
    """A pool that counts what Arrow allocates from now on, made the default."""
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    _POOLS.append(pool)
    pa.set_memory_pool(pool)
    return pool


def _long_table(rows: int = 40_000, text: int = 500) -> pa.Table:
    """Calls with a wide argument text in several chunks, a futex call every 1000th."""
    names = np.where(np.arange(rows) % 1000 == 0, "futex", "read").tolist()
    args = ["0x7f00, FUTEX_WAKE_PRIVATE, 1" if n == "futex" else "x" * text for n in names]
    chunk = rows // 8
    table = pa.table(
        {
            "syscall": names,
            "args": args,
            "tid": np.arange(rows) % 4,
            "pid": np.ones(rows, np.int64),
            "start_s": np.arange(rows) * 1e-3,
            "duration_s": np.full(rows, 1e-4),
            "end_s": np.arange(rows) * 1e-3 + 1e-4,
            "status": ["complete"] * rows,
            "retval": np.zeros(rows, np.int64),
            "line_start": np.arange(rows),
            "line_end": pa.nulls(rows, pa.int64()),
        }
    )
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk))


def test_reading_a_few_rows_copies_no_whole_column() -> None:
    """A few rows of a 20 MB column: neither Arrow (which concatenates the chunks of a
    column it takes from) nor numpy (a whole column as float64) holds a column's worth."""
    calls = _long_table()
    rows = np.array([5, 38_999, 17_001], np.int64)
    previous = pa.default_memory_pool()
    pool = _counting_pool()
    tracemalloc.start()
    try:
        text = taken(calls, ["args"], rows)["args"].to_pylist()
        values = numbers_at(calls, "start_s", rows)
        lines = lines_at(calls, rows)
        starts, ends = times_at(calls, rows, None)
        numpy_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    assert text == ["x" * 500] * 3
    assert values.tolist() == starts.tolist() == (rows * 1e-3).tolist()
    assert ends.tolist() == (rows * 1e-3 + 1e-4).tolist()
    assert lines.tolist() == rows.tolist()
    assert pool.max_memory() < 1 << 20  # the column is 20 MB
    assert numpy_peak < 64 << 10  # a float64 column is 320 KB


def test_futex_calls_hold_one_slice_of_the_trace_at_a_time() -> None:
    calls = _long_table()
    trace = dataclasses.replace(hand_built([]).traces[0], syscalls=calls)
    previous = pa.default_memory_pool()
    pool = _counting_pool()
    tracemalloc.start()
    try:
        found = read_futex_calls(trace, 2000)
        numpy_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    assert found is not None and found.rows.tolist() == list(range(0, 40_000, 1000))
    assert pool.max_memory() < 2 << 20  # a slice of 2000 rows, not the 20 MB column
    # a float64 column is 320 KB; alone the read peaks at 109 KB, after other tests in the same
    # worker at 131 KB (caches and first-use imports they left half-filled)
    assert numpy_peak < 192 << 10


def test_the_threads_calls_are_found_slice_by_slice() -> None:
    calls = _long_table(rows=5000, text=10)
    tids = numbers(calls["tid"])
    assert (
        rows_of(calls, "tid", [1, 3], 7).tolist()
        == np.flatnonzero(np.isin(tids, [1.0, 3.0])).tolist()
    )


def test_activity_in_tiny_slices_equals_one_slice() -> None:
    trace = inputs_of(LOCK_CONVOY).traces[0]
    tids = np.unique(numbers(trace.syscalls["tid"]))[:2].astype(int).tolist()
    lo, hi = float(np.nanmin(numbers(trace.syscalls["start_s"]))), trace.last_s or 0.0
    whole = activity(trace, tids, np.array([lo]), np.array([hi]), rows_per_slice=1 << 30)
    sliced = activity(trace, tids, np.array([lo]), np.array([hi]), rows_per_slice=5)
    assert whole.syscall_s > 0 and len(whole.rows) > 10
    assert whole.by_resource == sliced.by_resource
    assert (whole.span_s, whole.syscall_s, whole.futex_wait_s) == (
        sliced.span_s,
        sliced.syscall_s,
        sliced.futex_wait_s,
    )
    assert whole.rows.tolist() == sliced.rows.tolist()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.floats(0, 2), st.floats(0, 0.5)), min_size=1, max_size=40
    )
)
def test_sweeping_one_key_at_a_time_equals_one_sweep(
    calls: list[tuple[int, float, float]],
) -> None:
    """IOD005 sweeps the waits of one futex at a time (the change points of one key held,
    not of every key): with the whole sweep's origin, each key's steps and figures are that
    sweep's rows for the key."""
    groups = np.array([group for group, _, _ in calls], dtype=np.int64)
    starts = np.array([start for _, start, _ in calls])
    ends = starts + np.array([length for _, _, length in calls])
    whole = in_flight(groups, starts, ends)
    stats = step_stats(whole, stretches_above(whole, 2), 2)
    origin = float(starts.min())
    parts = []
    for index, group in enumerate(whole.group_ids.tolist()):
        mine = groups == group
        steps = in_flight(groups[mine], starts[mine], ends[mine], origin)
        span = slice(whole.bounds[index], whole.bounds[index + 1])
        assert steps.times.tolist() == whole.times[span].tolist()
        assert steps.counts.tolist() == whole.counts[span].tolist()
        assert steps.spans.tolist() == whole.spans[span].tolist()
        parts.append(step_stats(steps, stretches_above(steps, 2), 2))
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), stats)


@pytest.mark.parametrize("path", [NPROC, LOCK_CONVOY], ids=["nproc", "lock_convoy"])
def test_the_runtime_read_slice_by_slice_is_the_runtime(path: Any) -> None:
    trace = inputs_of(path).traces[0]
    pids = {int(pid) for pid in numbers(trace.syscalls["pid"]) if pid == pid}
    pids |= {int(tid) for tid in trace.tasks["tid"].to_pylist()}
    found = {pid: process_runtime(trace, pid) for pid in sorted(pids)}
    assert "python" in found.values()
    assert {pid: process_runtime_of(trace, pid, 5) for pid in sorted(pids)} == found
