"""Small Arrow helpers that the stages share."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array with the values of `array`: the only chunk of a single-chunk column as it
    is (`ChunkedArray.combine_chunks` copies even then: 10-30 ms for a million strings),
    the chunks concatenated otherwise."""
    if isinstance(array, pa.ChunkedArray):
        return array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    return array


def numbers(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as float64 with NaN for nulls."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def is_in(column: pa.ChunkedArray | pa.Array, names: frozenset[str]) -> np.ndarray:
    """Boolean mask: the column's value is one of `names` (nulls are False)."""
    mask = pc.fill_null(pc.is_in(column, value_set=pa.array(sorted(names))), False)
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


ROWS_PER_SLICE = 1 << 20
"""Rows of one slice of a slice-by-slice scan: 8 MiB per float64 column."""


def row_slices(
    table: pa.Table, columns: Sequence[str], rows_per_slice: int = ROWS_PER_SLICE
) -> Iterator[tuple[int, pa.Table]]:
    """The table's `columns`, a slice of rows at a time, with the row of each slice's first
    row: a scan of every call of a long trace holds one slice's arrays, not the trace's."""
    narrow = table.select(list(columns))
    for offset in range(0, table.num_rows, rows_per_slice):
        yield offset, narrow.slice(offset, rows_per_slice)


def selected_rows(
    table: pa.Table,
    columns: Sequence[str],
    keep: Callable[[pa.Table], np.ndarray],
    rows_per_slice: int = ROWS_PER_SLICE,
) -> np.ndarray:
    """The rows of `table` (int64, ascending) for which `keep`, given a slice of `columns`,
    returns True, computed slice by slice: only the kept rows' numbers are held."""
    parts = [
        offset + np.flatnonzero(np.asarray(keep(part), dtype=bool))
        for offset, part in row_slices(table, columns, rows_per_slice)
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
