"""Small Arrow helpers that the stages share."""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import re
import sys
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


def filled_numpy(array: pa.Array | pa.ChunkedArray, fill: Any) -> np.ndarray:
    """The values of `array` as numpy's, its nulls replaced by `fill` (a value of the array's
    type: False for a mask, -1 for codes, so that no null turns the result into floats or
    objects). Of the array's own dtype; a read-only view of the Arrow buffer when there can
    be one (a single chunk of numbers), else a copy."""
    return pc.fill_null(array, fill).to_numpy(zero_copy_only=False)


def is_in(column: pa.ChunkedArray | pa.Array, names: frozenset[str]) -> np.ndarray:
    """Boolean mask: the column's value is one of `names` (nulls are False)."""
    return filled_numpy(pc.is_in(column, value_set=pa.array(sorted(names))), False)


ROWS_PER_SLICE = 1 << 20
"""Rows of one slice of a slice-by-slice scan: 8 MiB per float64 column."""


def row_slices(
    table: pa.Table, columns: Sequence[str], rows_per_slice: int = ROWS_PER_SLICE
) -> Iterator[tuple[int, pa.Table]]:
    """The table's `columns`, a slice of rows at a time, with the row of each slice's first
    row: a scan of every call of a long trace holds one slice's arrays, not the trace's.
    When the table is a mapped file (a long trace's calls), the pages of the chunks a slice
    read are given back after it (`MappedChunks`): the scan holds one slice's pages too."""
    narrow = table.select(list(columns))
    mapped = MappedChunks(narrow) if table.num_rows > rows_per_slice else None
    for offset in range(0, table.num_rows, rows_per_slice):
        yield offset, narrow.slice(offset, rows_per_slice)
        if mapped is not None:
            mapped.release_before(offset + rows_per_slice)


MADV_DONTNEED = 4


_FILE_MAPPING = re.compile(rb"^([0-9a-f]+)-([0-9a-f]+) +.[^w\n]\S* +\S+ +\S+ +\S+ +/", re.MULTILINE)
"""A line of /proc/self/maps of a file (its path starts with a slash) not mapped writable."""


def _file_mappings() -> list[tuple[int, int]]:
    """(start, end) of the process's read-only mappings of files (Linux; else none)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        with open("/proc/self/maps", "rb") as maps:
            text = maps.read()
    except OSError:
        return []
    return file_mappings_in(text)


def file_mappings_in(maps: bytes) -> list[tuple[int, int]]:
    """(start, end) of the file mappings not mapped writable in the text of a maps file:
    one regex over the whole text (the scans read it once each, some 80 times a run)."""
    return [(int(low, 16), int(high, 16)) for low, high in _FILE_MAPPING.findall(maps)]


class _Mappings:
    """File mappings sorted by start, for many lookups of buffers in them."""

    def __init__(self, files: list[tuple[int, int]]) -> None:
        ordered = sorted(files)
        self.lows = np.array([low for low, _ in ordered], dtype=np.uint64)
        self.highs = [high for _, high in ordered]

    def pages(self, arrays: Sequence[pa.Array]) -> list[tuple[int, int]]:
        found = []
        for array in arrays:
            for buffer in array.buffers():
                if buffer is None or buffer.size == 0:
                    continue
                start, end = buffer.address, buffer.address + buffer.size
                at = int(np.searchsorted(self.lows, np.uint64(start), side="right")) - 1
                if at >= 0 and end <= self.highs[at]:
                    page = start - start % mmap.PAGESIZE
                    found.append((page, end - page))
        return found


def _read_only(arrays: Sequence[pa.Array]) -> bool:
    """Whether any buffer of `arrays` is read-only, as those of a file mapped read-only are:
    only then is /proc/self/maps worth reading (1-2 ms a time, a scan of a trace in memory
    read it for nothing)."""
    return any(
        buffer is not None and not buffer.is_mutable
        for array in arrays
        for buffer in array.buffers()
    )


def mapped_pages(
    arrays: Sequence[pa.Array], files: list[tuple[int, int]] | None = None
) -> list[tuple[int, int]]:
    """(address, length) of the buffers of `arrays` that lie in file mappings mapped
    read-only (the mapped calls of a long trace): dropping their pages is safe, they are
    clean and read again from the file when touched (never anonymous or writable memory,
    which dropping would zero or undo). `files`: the mappings (`_file_mappings`), when
    already read."""
    if not _read_only(arrays):
        return []
    files = _file_mappings() if files is None else files
    if not files:
        return []
    return _Mappings(files).pages(arrays)


def release_pages(pages: Sequence[tuple[int, int]]) -> None:
    """Give the resident pages of these (file-mapped, read-only: `mapped_pages`) ranges back
    to the system (``MADV_DONTNEED``): the data stays, read again from the file cache."""
    if not pages:
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        for address, length in pages:
            libc.madvise(address, length, MADV_DONTNEED)


class MappedChunks:
    """The file-mapped chunks of a table's columns by the row they start at, so that a scan
    in row order gives back the pages of the chunks it is done with (`release_before`). A
    table in memory has none, and nothing is released."""

    def __init__(self, table: pa.Table) -> None:
        chunks: list[tuple[int, pa.Array]] = []
        for column in table.columns:
            start = 0
            for chunk in column.chunks:
                chunks.append((start, chunk))
                start += len(chunk)
        chunks.sort(key=lambda item: item[0])
        self._firsts = [first for first, _ in chunks]
        read_only = _read_only([chunk for _, chunk in chunks])
        files = _Mappings(_file_mappings()) if read_only else None
        self._pages = [files.pages([chunk]) if files else [] for _, chunk in chunks]
        self._any = any(self._pages)
        self._done = 0

    def release_before(self, row: int) -> None:
        """Give back the pages of the chunks that start before `row` (each once; one that
        runs on past `row` is read again from the file cache when the scan gets there)."""
        if not self._any:
            return
        end = self._done
        while end < len(self._firsts) and self._firsts[end] < row:
            end += 1
        release_pages([page for pages in self._pages[self._done : end] for page in pages])
        self._done = end


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


RELEASE_AFTER_ROWS = 256
"""`take_rows` of at least this many rows gives back the mapped pages it read."""


def _arrays_of(chunk: pa.RecordBatch | pa.Array) -> list[pa.Array]:
    return list(chunk.columns) if isinstance(chunk, pa.RecordBatch) else [chunk]


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
    # many rows of a mapped table touch most of its pages: each chunk's are given back
    # once it is read
    files = None
    if len(rows) >= RELEASE_AFTER_ROWS and _read_only([a for c in chunks for a in _arrays_of(c)]):
        files = _Mappings(_file_mappings())
    sorted_rows, sorted_chunks = rows[order], chunk_of[order]
    pieces = []
    for index in np.unique(chunk_of).tolist():
        low, high = np.searchsorted(sorted_chunks, [index, index + 1])
        local = sorted_rows[low:high] - bounds[index]
        pieces.append(chunks[index].take(pa.array(local, pa.int64())))
        if files is not None:
            release_pages(files.pages(_arrays_of(chunks[index])))
    if isinstance(values, pa.Table):
        result: Any = pa.Table.from_batches(pieces, schema=values.schema)
    else:
        result = pa.chunked_array(pieces, type=values.type)
    if len(rows) and np.any(np.diff(chunk_of) < 0):
        result = result.take(pa.array(np.argsort(order, kind="stable"), pa.int64()))
    return result
