"""The few calls a pass needs from a long trace, found a slice of rows at a time.

A long trace's calls table is memory-mapped (`store.map_table`): reading its columns costs
little, but a whole-trace numpy copy of one (a float64 per call) costs 65 MiB at 10M lines
and ten times that at 100M. The passes built on these helpers scan the table
`ROWS_PER_SLICE` rows at a time, keep the rows they select (and a few values of each), and
read everything else at those rows only (`times_at`, `values_at`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from analyzer.arrays import numbers, row_slices, selected_rows, take_rows
from analyzer.derive.strace_calls import call_times

ROWS_PER_SLICE = 1 << 20
"""Rows of one slice (read at each call: tests make it tiny to check that a slice-wise
result is the whole table's)."""

TIME_COLUMNS = ("start_s", "duration_s", "end_s", "status")
"""What `call_times` reads."""


def rows_where(
    table: pa.Table, columns: Sequence[str], keep: Callable[[pa.Table], np.ndarray]
) -> np.ndarray:
    """`arrays.selected_rows` with this module's slice size."""
    return selected_rows(table, columns, keep, ROWS_PER_SLICE)


def slices(table: pa.Table, columns: Sequence[str]) -> Iterator[tuple[int, pa.Table]]:
    """`arrays.row_slices` with this module's slice size (the slices are views; a mapped
    table's pages are given back slice by slice, so iterate once, in order)."""
    return row_slices(table, columns, ROWS_PER_SLICE)


def take(calls: pa.Table, columns: Sequence[str], rows: np.ndarray) -> pa.Table:
    """The `columns` of `calls` at `rows` (in that order), reading only those rows
    (`arrays.take_rows`: Arrow's `Table.take` copies every column taken whole first, 65 MiB
    per int64 column of a 10M-line trace)."""
    result: pa.Table = take_rows(calls.select(list(columns)), rows)
    return result


def values_at(calls: pa.Table, column: str, rows: np.ndarray) -> np.ndarray:
    """`numbers(calls[column])[rows]` without converting (or copying) the whole column."""
    return numbers(take(calls, [column], rows)[column])


def times_at(
    calls: pa.Table, rows: np.ndarray, last_s: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """`call_times(calls, rows, last_s)`, reading only the rows asked for."""
    taken = take(calls, TIME_COLUMNS, rows)
    return call_times(taken, np.arange(len(rows), dtype=np.int64), last_s)


def timed_rows(
    calls: pa.Table,
    columns: Sequence[str],
    keep: Callable[[pa.Table], np.ndarray],
    last_s: float | None,
    min_duration_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows that `keep` selects (given a slice of `columns` plus `TIME_COLUMNS`), with
    their `call_times`; with `min_duration_s`, only those whose end - start reaches it.
    Rows ascending; what is held is the kept rows' row, start and end."""
    wanted = list(dict.fromkeys([*columns, *TIME_COLUMNS]))
    rows, starts, ends = [], [], []
    for offset, part in row_slices(calls, wanted, ROWS_PER_SLICE):
        local = np.flatnonzero(np.asarray(keep(part), dtype=bool))
        if len(local) == 0:
            continue
        start, end = call_times(part, local, last_s)
        if min_duration_s is not None:
            long = end - start >= min_duration_s
            local, start, end = local[long], start[long], end[long]
        rows.append(offset + local)
        starts.append(start)
        ends.append(end)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return (
        np.concatenate(rows).astype(np.int64),
        np.concatenate(starts),
        np.concatenate(ends),
    )
