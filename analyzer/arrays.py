"""Small Arrow helpers that the stages share."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

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


def take_rows(values: pa.Table | pa.ChunkedArray, rows: np.ndarray) -> Any:
    """`values.take(rows)` (rows in any order), gathered chunk by chunk. Arrow's `take` on a
    table or chunked array of several chunks (a mapped trace has one per batch) first
    concatenates every chunk: a copy of the whole column to read a few rows (190 MiB for
    the targets at 10M lines, pyarrow 26)."""
    rows = np.asarray(rows, dtype=np.int64)
    chunks: list[Any] = values.to_batches() if isinstance(values, pa.Table) else values.chunks
    if len(chunks) <= 1:
        return values.take(pa.array(rows, pa.int64()))
    bounds = np.cumsum([0] + [len(chunk) for chunk in chunks])
    if len(rows) and (rows.min() < 0 or rows.max() >= bounds[-1]):
        raise IndexError(f"rows outside the {bounds[-1]} rows of the table")
    chunk_of = np.searchsorted(bounds, rows, side="right") - 1
    order = np.argsort(chunk_of, kind="stable")
    pieces = []
    for index in np.unique(chunk_of).tolist():
        local = rows[order][chunk_of[order] == index] - bounds[index]
        pieces.append(chunks[index].take(pa.array(local, pa.int64())))
    if isinstance(values, pa.Table):
        result: Any = pa.Table.from_batches(pieces, schema=values.schema)
    else:
        result = pa.chunked_array(pieces, type=values.type)
    if len(rows) and np.any(np.diff(chunk_of) < 0):
        result = result.take(pa.array(np.argsort(order, kind="stable"), pa.int64()))
    return result
