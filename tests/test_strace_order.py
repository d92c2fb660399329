"""`derive.strace_order`: the calls in (tid, start, row) order a bounded bucket at a time equal
one sort of the whole table, whatever the bucket and slice sizes (threads larger than a
bucket, in order or not, repeated starts, nulls)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.derive.strace_order import thread_ordered_rows

starts = st.one_of(
    st.none(),
    st.sampled_from([0.0, 1.0, 1.5, 2.0, 1e9, math.nextafter(1.0, 2.0)]),
    st.floats(min_value=-10, max_value=10, allow_nan=False),
)
calls = st.lists(st.tuples(st.one_of(st.none(), st.integers(1, 4)), starts), max_size=80)


def whole_sort(rows: list[tuple[int | None, float | None]]) -> list[int]:
    kept = [i for i, (tid, start) in enumerate(rows) if tid is not None and start is not None]
    return sorted(kept, key=lambda i: (rows[i][0], rows[i][1], i))


@settings(max_examples=300, deadline=None)
@given(
    calls,
    st.integers(1, 9),
    st.integers(1, 7),
    st.integers(1, 5),
    st.booleans(),
)
def test_bucketed_order_is_the_whole_sort(
    rows: list[tuple[int | None, float | None]],
    bucket: int,
    scan: int,
    piece: int,
    sort_first: bool,
) -> None:
    if sort_first:  # threads whose starts never go back take the row-order path
        rows = sorted(rows, key=lambda r: (r[1] is None, r[1] or 0.0))
    table = pa.table(
        {
            "tid": pa.array([r[0] for r in rows], pa.int64()),
            "start_s": pa.array([r[1] for r in rows], pa.float64()),
        }
    )
    parts = list(thread_ordered_rows(table, piece, bucket, scan))
    assert all(0 < len(part) <= piece for part in parts)
    got = np.concatenate(parts).tolist() if parts else []
    assert got == whole_sort(rows)


def test_one_thread_out_of_order_beyond_a_bucket_is_cut_by_start() -> None:
    """10,000 calls of one thread, starts shuffled with many repeats, buckets of 97 rows."""
    generator = np.random.default_rng(7)
    values = generator.integers(0, 300, 10_000) / 7.0
    table = pa.table({"tid": pa.array(np.full(10_000, 5)), "start_s": pa.array(values)})
    got = np.concatenate(list(thread_ordered_rows(table, 1000, 97, 333)))
    assert got.tolist() == np.lexsort((np.arange(10_000), values)).tolist()
