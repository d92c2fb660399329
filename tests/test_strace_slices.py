"""`strace_slices`: what its slice-wise and batch-wise reads give is what whole-table reads give."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.arrays import numbers
from analyzer.derive import strace_slices
from analyzer.derive.strace_calls import call_times

STATUSES = ["complete", "in-flight", "detached", "no-return", None]


def _chunked(values: list, sizes: list[int], kind: pa.DataType) -> pa.ChunkedArray:
    chunks, at = [], 0
    for size in sizes:
        chunks.append(pa.array(values[at : at + size], kind))
        at += size
    chunks.append(pa.array(values[at:], kind))
    return pa.chunked_array(chunks, kind)


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 40))
    times = st.one_of(st.none(), st.floats(0, 100, allow_nan=False))
    starts = draw(st.lists(times, min_size=n, max_size=n))
    durations = draw(st.lists(times, min_size=n, max_size=n))
    ends = draw(st.lists(times, min_size=n, max_size=n))
    status = draw(st.lists(st.sampled_from(STATUSES), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(0, 9), max_size=6))
    return pa.table(
        {
            "start_s": _chunked(starts, sizes, pa.float64()),
            "duration_s": _chunked(durations, sizes, pa.float64()),
            "end_s": _chunked(ends, sizes, pa.float64()),
            "status": _chunked(status, sizes, pa.string()),
            "name": _chunked([f"call{i}" for i in range(n)], sizes, pa.string()),
        }
    )


@given(tables(), st.data())
def test_take_is_table_take(table: pa.Table, data: st.DataObject) -> None:
    n = table.num_rows
    rows = data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=30)) if n else []
    rows = np.array(rows, dtype=np.int64)
    expected = table.select(["name", "end_s"]).take(pa.array(rows, pa.int64()))
    assert strace_slices.take(table, ["name", "end_s"], rows).to_pylist() == expected.to_pylist()
    assert strace_slices.take(table, ["name"], np.sort(rows)).to_pylist() == (
        table.select(["name"]).take(pa.array(np.sort(rows), pa.int64())).to_pylist()
    )


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


@given(tables(), st.integers(1, 5), st.sampled_from([None, 50.0]), st.sampled_from([None, 1.0]))
def test_timed_rows_are_call_times_of_the_whole_table(
    table: pa.Table, size: int, last_s: float | None, min_duration: float | None
) -> None:
    strace_slices_size = strace_slices.ROWS_PER_SLICE
    strace_slices.ROWS_PER_SLICE = size
    try:
        rows, starts, ends = strace_slices.timed_rows(
            table,
            ["name"],
            lambda part: np.array([int(v[4:]) % 3 != 0 for v in part["name"].to_pylist()]),
            last_s,
            min_duration,
        )
    finally:
        strace_slices.ROWS_PER_SLICE = strace_slices_size
    wanted = np.array([i for i in range(table.num_rows) if i % 3 != 0], dtype=np.int64)
    all_starts, all_ends = call_times(table, wanted, last_s)
    if min_duration is not None:
        long = all_ends - all_starts >= min_duration
        wanted, all_starts, all_ends = wanted[long], all_starts[long], all_ends[long]
    assert rows.tolist() == wanted.tolist()
    assert _same(starts, all_starts) and _same(ends, all_ends)
    at_starts, at_ends = strace_slices.times_at(table, wanted[::-1], last_s)
    assert _same(at_starts, all_starts[::-1]) and _same(at_ends, all_ends[::-1])
    assert _same(strace_slices.values_at(table, "end_s", wanted), numbers(table["end_s"])[wanted])


def test_take_reads_no_whole_column() -> None:
    """Arrow's own take copies the whole column of a chunked table first (8 MiB here); ours
    allocates about what it returns."""
    chunk = 1 << 16
    column = pa.chunked_array([pa.array(np.arange(i * chunk, (i + 1) * chunk)) for i in range(16)])
    table = pa.table({"x": column})
    rows = np.array([5, chunk * 15 + 2, chunk * 3 + 1], dtype=np.int64)
    default = pa.default_memory_pool()
    counted = pa.proxy_memory_pool(default)
    pa.set_memory_pool(counted)
    try:
        taken = strace_slices.take(table, ["x"], rows)["x"].to_pylist()
        ours = counted.max_memory()
        table.take(pa.array(rows))
        arrows = counted.max_memory()
    finally:
        pa.set_memory_pool(default)  # before the pool goes: what it allocated is freed
    assert taken == rows.tolist()
    assert arrows >= 8 * chunk * 16  # what this guards against
    assert ours < 1 << 16


@pytest.mark.parametrize("size", [1, 3])
def test_rows_where_uses_the_module_slice_size(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    table = pa.table({"x": list(range(10))})
    seen: list[int] = []

    def keep(part: pa.Table) -> np.ndarray:
        seen.append(part.num_rows)
        return numbers(part["x"]) % 2 == 0

    monkeypatch.setattr(strace_slices, "ROWS_PER_SLICE", size)
    assert strace_slices.rows_where(table, ["x"], keep).tolist() == [0, 2, 4, 6, 8]
    assert max(seen) == size
