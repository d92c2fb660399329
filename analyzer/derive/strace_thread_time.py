"""Figures of the calls of each thread of one process, read a slice of the calls table at a
time: how many of a thread's calls started inside given gaps, when its calls began and
ended, and its time inside calls up to given moments.

IOD013 gil_contention needs these of every thread of a Python process; it used to hold
every call's start and end (16 bytes per call of the process, most of a long trace). Here
only a few numbers per thread and per moment asked about are held. The time in calls up to
a moment is the running sum of the thread's call durations in start order; read slice by
slice it is summed in row order, the same order when the thread's starts never go back in
row order (as strace writes a thread's calls). A thread whose starts do (or that has calls
without a start) has its calls read whole, as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from analyzer.arrays import numbers, row_slices
from analyzer.derive import strace_slices
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_times
from analyzer.derive.strace_slices import TIME_COLUMNS


def process_calls(
    trace: StraceTables, pid: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per slice, the calls of process `pid` in row order: (tids, starts, ends), an end
    unknown being the start."""
    wanted = ["pid", "tid", *TIME_COLUMNS]
    for _, part in row_slices(trace.syscalls, wanted, strace_slices.ROWS_PER_SLICE):
        local = np.flatnonzero(numbers(part["pid"]) == pid)
        if len(local) == 0:
            continue
        starts, ends = call_times(part, local, trace.last_s)
        ends = np.where(np.isnan(ends), starts, ends)
        yield numbers(part["tid"].take(local)).astype(np.int64), starts, ends


def by_thread(
    tids: np.ndarray, *arrays: np.ndarray
) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
    """The `arrays` split per thread (ascending), each in its rows' order."""
    order = np.argsort(tids, kind="stable")
    found, firsts = np.unique(tids[order], return_index=True)
    bounds = [*firsts.tolist(), len(order)]
    for at, tid in enumerate(found.tolist()):
        mine = order[bounds[at] : bounds[at + 1]]
        yield int(tid), tuple(array[mine] for array in arrays)


@dataclass
class Span:
    """When one thread's calls began and ended, and whether its starts are in row order."""

    first: float = math.nan
    """Its first start (NaN when no call has one)."""
    last_end: float = -math.inf
    any_nan_end: bool = False
    ordered: bool = True
    """Every call has a start, and none starts before the call of the row above."""
    last_start: float = -math.inf

    @property
    def end(self) -> float:
        """The latest end (NaN when a call has none, as ``max`` of them gives)."""
        return math.nan if self.any_nan_end else self.last_end


@dataclass
class Gaps:
    """Per thread, gaps (after, before) between its waits: calls started after `after`
    (strictly) and before `before` (strictly) are counted."""

    after: np.ndarray
    before: np.ndarray
    counts_before: np.ndarray = field(init=False)
    counts_after: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.counts_before = np.zeros(len(self.before), dtype=np.int64)
        self.counts_after = np.zeros(len(self.after), dtype=np.int64)

    @property
    def between(self) -> np.ndarray:
        """Per gap, the thread's calls that started inside it."""
        return self.counts_before - self.counts_after


def spans_and_gaps(trace: StraceTables, pid: int, gaps: Mapping[int, Gaps]) -> dict[int, Span]:
    """Per thread of `pid` (ascending), its `Span`; counts its calls into `gaps` (the calls
    that start in a gap are counted the way ``searchsorted`` over all its starts would)."""
    spans: dict[int, Span] = {}
    for tids, starts, ends in process_calls(trace, pid):
        for tid, (own_starts, own_ends) in by_thread(tids, starts, ends):
            span = spans.setdefault(tid, Span())
            known = own_starts[~np.isnan(own_starts)]
            if len(known):
                span.first = float(np.fmin(span.first, known.min()))
            if len(known) < len(own_starts):
                span.ordered = False
            elif span.ordered and len(known):
                span.ordered = known[0] >= span.last_start and bool(np.all(np.diff(known) >= 0))
                span.last_start = float(known[-1])
            if np.isnan(own_ends).any():
                span.any_nan_end = True
            if len(own_ends) and not np.isnan(own_ends).all():
                span.last_end = max(span.last_end, float(np.nanmax(own_ends)))
            gap = gaps.get(tid)
            if gap is not None:
                ordered = np.sort(own_starts)
                gap.counts_before += np.searchsorted(ordered, gap.before, side="left")
                gap.counts_after += np.searchsorted(ordered, gap.after, side="right")
    return dict(sorted(spans.items()))


def time_in_calls(
    trace: StraceTables, pid: int, spans: Mapping[int, Span], moments: Mapping[int, np.ndarray]
) -> dict[int, np.ndarray]:
    """Per thread of `moments`, its time inside calls up to each moment: the durations of
    its calls that started before (by start, then row), plus the part of the last one
    before the moment, as `in_calls` computes it over the thread's calls sorted by start."""
    state: dict[int, _Running] = {
        tid: _Running(np.asarray(times, dtype=np.float64))
        for tid, times in moments.items()
        if spans[tid].ordered
    }
    whole: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {
        tid: [] for tid in moments if not spans[tid].ordered
    }
    for tids, starts, ends in process_calls(trace, pid):
        for tid, (own_starts, own_ends) in by_thread(tids, starts, ends):
            if tid in state:
                state[tid].add(own_starts, own_ends)
            elif tid in whole:
                whole[tid].append((own_starts, own_ends))
    found = {tid: running.result() for tid, running in state.items()}
    for tid, pieces in whole.items():
        all_starts = np.concatenate([piece[0] for piece in pieces])
        all_ends = np.concatenate([piece[1] for piece in pieces])
        order = np.argsort(all_starts, kind="stable")
        found[tid] = in_calls(all_starts[order], all_ends[order], moments[tid])
    return found


def in_calls(call_starts: np.ndarray, call_ends: np.ndarray, times: np.ndarray) -> np.ndarray:
    """A thread's time inside its calls (sorted by start) up to each of `times`."""
    durations = np.maximum(call_ends - call_starts, 0.0)
    before = np.concatenate([[0.0], np.cumsum(durations)])
    at = np.searchsorted(call_starts, times, side="right") - 1
    safe = np.maximum(at, 0)
    partial = np.clip(times - call_starts[safe], 0.0, durations[safe])
    return np.where(at >= 0, before[safe] + partial, 0.0)


class _Running:
    """`in_calls` of one thread whose calls come a slice at a time in start order."""

    def __init__(self, times: np.ndarray) -> None:
        self.times = times
        self.total = 0.0
        self.found = np.zeros(len(times), dtype=bool)
        self.before = np.zeros(len(times))
        self.start = np.zeros(len(times))
        self.duration = np.zeros(len(times))

    def add(self, starts: np.ndarray, ends: np.ndarray) -> None:
        durations = np.maximum(ends - starts, 0.0)
        # the running sum carried on, one addition at a time as one cumsum over all of them
        before = np.cumsum(np.concatenate([[self.total], durations]))
        count = np.searchsorted(starts, self.times, side="right")
        hit = count > 0
        last = count[hit] - 1
        self.found |= hit
        self.before[hit] = before[last]
        self.start[hit] = starts[last]
        self.duration[hit] = durations[last]
        self.total = float(before[-1])

    def result(self) -> np.ndarray:
        partial = np.clip(self.times - self.start, 0.0, self.duration)
        return np.where(self.found, self.before + partial, 0.0)
