"""The calls of a trace in thread order — by (tid, start, row) — a bounded batch at a time.

An export that lays each thread's calls out on its own track (`render.perfetto`) needs every
call sorted by thread, then start, then row. Sorting the whole trace holds 24 bytes per call
of keys (1.9 GB at 81M calls) and the engine's sort of the wide rows ran out of its memory
limit at 10M lines; here the rows are found a bucket of threads at a time instead:

1. one scan counts each thread's calls and notes whether its starts never go back in row
   order (true of a trace written by one strace: -tt times are printed in order per thread);
2. threads are taken in tid order, as many at once as fit `BUCKET_ROWS`; for each bucket a
   scan keeps those threads' rows and sorts them (`numpy.lexsort`, ties by row);
3. a thread with more calls than a bucket whose starts never go back is already in order:
   its rows are handed out as a scan meets them; one whose starts go back is cut into ranges
   of start values that each fit a bucket (counted by a histogram, refined where one bin holds
   more), and a range of a single value is in row order.

Rows without a thread or a start (null or NaN) are left out. Memory: one slice of the scan
plus one bucket of keys (24 bytes per row), whatever the trace's length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy, row_slices

BUCKET_ROWS = 1 << 21
"""Rows sorted at once: 48 MiB of keys."""
SCAN_ROWS = 1 << 20
"""Rows of one slice of a scan."""
_BINS = 1024


@dataclass
class _Thread:
    calls: int = 0
    in_order: bool = True
    last: float = -np.inf
    low: float = np.inf
    high: float = -np.inf


def _keys(part: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The positions in `part` of the rows with a thread and a start, their tids and starts."""
    valid = pc.and_(pc.is_valid(part["tid"]), pc.invert(pc.is_nan(part["start_s"])))
    at = np.flatnonzero(filled_numpy(valid, False))
    kept = part.take(pa.array(at, pa.int64())) if len(at) < part.num_rows else part
    tids = np.asarray(kept["tid"].to_numpy(), dtype=np.int64)
    starts = np.asarray(kept["start_s"].to_numpy(), dtype=np.float64)
    return at, tids, starts


def _threads(calls: pa.Table, scan_rows: int) -> dict[int, _Thread]:
    threads: dict[int, _Thread] = {}
    for _offset, part in row_slices(calls, ("tid", "start_s"), scan_rows):
        _at, tids, starts = _keys(part)
        if not len(tids):
            continue
        order = np.argsort(tids, kind="stable")
        tids, starts = tids[order], starts[order]
        cuts = np.flatnonzero(np.diff(tids)) + 1
        firsts = np.concatenate(([0], cuts)).tolist()
        for first, end in zip(firsts, [*firsts[1:], len(tids)], strict=True):
            values = starts[first:end]
            thread = threads.setdefault(int(tids[first]), _Thread())
            thread.calls += len(values)
            if thread.in_order:
                thread.in_order = bool(values[0] >= thread.last and np.all(np.diff(values) >= 0))
            thread.last = float(values[-1])
            thread.low = min(thread.low, float(values.min()))
            thread.high = max(thread.high, float(values.max()))
    return threads


def _bucket(
    calls: pa.Table, low: int, high: int, scan_rows: int, piece: int
) -> Iterator[np.ndarray]:
    """The rows of the threads `low`..`high`, sorted by (tid, start, row)."""
    rows, tids, starts = [], [], []
    for offset, part in row_slices(calls, ("tid", "start_s"), scan_rows):
        at, t, s = _keys(part)
        keep = (t >= low) & (t <= high)
        rows.append(offset + at[keep])
        tids.append(t[keep])
        starts.append(s[keep])
    row = np.concatenate(rows)
    order = np.lexsort((row, np.concatenate(starts), np.concatenate(tids)))
    yield from _pieces(row[order], piece)


def _pieces(rows: np.ndarray, piece: int) -> Iterator[np.ndarray]:
    for first in range(0, len(rows), piece):
        yield rows[first : first + piece]


def _in_row_order(
    calls: pa.Table, tid: int, scan_rows: int, low: float = -np.inf, high: float = np.inf
) -> Iterator[np.ndarray]:
    """The rows of thread `tid` with a start in [low, high], as the scan meets them."""
    for offset, part in row_slices(calls, ("tid", "start_s"), scan_rows):
        at, t, s = _keys(part)
        keep = (t == tid) & (s >= low) & (s <= high)
        if keep.any():
            yield offset + at[keep]


def _by_start(
    calls: pa.Table,
    tid: int,
    low: float,
    high: float,
    count: int,
    bucket_rows: int,
    scan_rows: int,
    piece: int,
) -> Iterator[np.ndarray]:
    """The rows of thread `tid` with a start in [low, high] (`count` of them), sorted by
    (start, row), a range of starts that fits a bucket at a time."""
    if count <= bucket_rows:
        rows, starts = [], []
        for offset, part in row_slices(calls, ("tid", "start_s"), scan_rows):
            at, t, s = _keys(part)
            keep = (t == tid) & (s >= low) & (s <= high)
            rows.append(offset + at[keep])
            starts.append(s[keep])
        row = np.concatenate(rows)
        yield from _pieces(row[np.lexsort((row, np.concatenate(starts)))], piece)
        return
    low, high = _span(calls, tid, low, high, scan_rows)
    if low == high:
        for found in _in_row_order(calls, tid, scan_rows, low, high):
            yield from _pieces(found, piece)
        return
    edges = np.unique(np.linspace(low, high, _BINS + 1))
    if len(edges) == 2:  # no float between the two: each value's rows are in row order
        for value in (low, high):
            for found in _in_row_order(calls, tid, scan_rows, value, value):
                yield from _pieces(found, piece)
        return
    bins = len(edges) - 1
    counts = np.zeros(bins, dtype=np.int64)
    for _offset, part in row_slices(calls, ("tid", "start_s"), scan_rows):
        _at, t, s = _keys(part)
        s = s[(t == tid) & (s >= low) & (s <= high)]
        counts += np.bincount(_bin_of(s, edges), minlength=bins)
    first = 0
    while first < bins:
        end, total = first + 1, int(counts[first])
        while end < bins and total + counts[end] <= bucket_rows:
            total += int(counts[end])
            end += 1
        if total:
            # bin k holds edges[k] <= start < edges[k + 1]; the last one holds `high` too
            top = high if end == bins else float(np.nextafter(edges[end], -np.inf))
            yield from _by_start(
                calls, tid, float(edges[first]), top, total, bucket_rows, scan_rows, piece
            )
        first = end


def _span(
    calls: pa.Table, tid: int, low: float, high: float, scan_rows: int
) -> tuple[float, float]:
    """The least and greatest start of thread `tid` within [low, high]: the range cut next,
    so that a bin of one repeated start is seen as such at once."""
    least, greatest = np.inf, -np.inf
    for _offset, part in row_slices(calls, ("tid", "start_s"), scan_rows):
        _at, t, s = _keys(part)
        s = s[(t == tid) & (s >= low) & (s <= high)]
        if len(s):
            least, greatest = min(least, float(s.min())), max(greatest, float(s.max()))
    return least, greatest


def _bin_of(starts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, starts, side="right") - 1, 0, len(edges) - 2)


def thread_ordered_rows(
    calls: pa.Table,
    piece: int = 1 << 16,
    bucket_rows: int | None = None,
    scan_rows: int | None = None,
) -> Iterator[np.ndarray]:
    """The rows of `calls` (a table with ``tid`` and ``start_s``) that have both, in (tid,
    start, row) order, as int64 arrays of at most `piece` rows (fewer at bucket ends);
    buckets and scans of `BUCKET_ROWS` and `SCAN_ROWS` unless given."""
    bucket_rows = BUCKET_ROWS if bucket_rows is None else bucket_rows
    scan_rows = SCAN_ROWS if scan_rows is None else scan_rows
    threads = _threads(calls, scan_rows)
    tids = sorted(threads)
    index = 0
    while index < len(tids):
        tid = tids[index]
        thread = threads[tid]
        if thread.calls > bucket_rows:
            if thread.in_order:
                for rows in _in_row_order(calls, tid, scan_rows):
                    yield from _pieces(rows, piece)
            else:
                yield from _by_start(
                    calls, tid, thread.low, thread.high, thread.calls, bucket_rows, scan_rows, piece
                )
            index += 1
            continue
        end, total = index + 1, thread.calls
        while end < len(tids) and total + threads[tids[end]].calls <= bucket_rows:
            total += threads[tids[end]].calls
            end += 1
        yield from _bucket(calls, tid, tids[end - 1], scan_rows, piece)
        index = end
