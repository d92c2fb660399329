"""Small vectorised helpers several passes share: call durations, call families, lines."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer.arrays import numbers
from analyzer.derive.strace_locks import Activity


def cited_lines(calls: pa.Table) -> np.ndarray:
    """The source line a finding cites for each call: where it started, or for a resumed
    half whose start was never seen (a trace cut at its start), the line it returned on."""
    start = numbers(calls["line_start"])
    if not np.isnan(start).any():
        return start
    return np.where(np.isnan(start), numbers(calls["line_end"]), start)


def percentile(values: np.ndarray, q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, as numpy and pandas compute it."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")``: through the keys' ranks when they are few and
    not NaN (a thread id per call: numpy sorts 16-bit ranks by radix, several times faster
    than it sorts 64-bit keys)."""
    if len(keys) == 0 or (keys.dtype.kind == "f" and np.isnan(keys).any()):
        return np.argsort(keys, kind="stable")
    ranks, distinct = pd.factorize(keys, sort=True)
    if len(distinct) > np.iinfo(np.int16).max:
        return np.argsort(keys, kind="stable")
    return np.argsort(ranks.astype(np.int16), kind="stable")


@dataclass(frozen=True)
class Steps:
    """Calls in flight per group as a step function, one row per change point, sorted by
    (group, time): from `times[i]` the group has `counts[i]` calls in flight for `spans[i]`
    seconds (0 at a group's last point, where the count is back to 0)."""

    groups: np.ndarray
    times: np.ndarray
    counts: np.ndarray
    spans: np.ndarray
    bounds: np.ndarray
    """Index of each group's first change point, then the number of points."""

    @property
    def group_ids(self) -> np.ndarray:
        return self.groups[self.bounds[:-1]]


def in_flight(
    groups: np.ndarray, starts: np.ndarray, ends: np.ndarray, origin: float | None = None
) -> Steps:
    """The sweep line: +1 at each start, -1 at each end, per group.

    Times are rounded to whole microseconds (strace's resolution) from `origin` (default:
    the first start), so a call that starts when another ends (start + duration computed in
    floating point) does not overlap it; the count at a time is the count after all the
    events at that time. Given one sweep's origin, the steps of some of its groups swept
    alone equal that sweep's rows of them."""
    if len(starts) == 0:
        empty = np.array([], dtype=np.int64)
        return Steps(empty, np.array([]), empty, np.array([]), np.zeros(1, dtype=np.int64))
    event_groups = np.concatenate([groups, groups]).astype(np.int64)
    origin = float(np.min(starts)) if origin is None else origin
    micros = np.rint((np.concatenate([starts, ends]) - origin) * 1e6).astype(np.int64)
    deltas = np.concatenate([np.ones(len(starts), np.int64), -np.ones(len(ends), np.int64)])
    time_bits = int(micros.max()).bit_length()
    if time_bits + int(event_groups.max()).bit_length() < 63:
        order = np.argsort((event_groups << time_bits) | micros)
    else:
        order = np.lexsort((micros, event_groups))
    event_groups, micros = event_groups[order], micros[order]
    # every call adds +1 and -1 in its own group, so the running sum is 0 between groups
    counts = np.cumsum(deltas[order])
    last_at_time = np.ones(len(order), dtype=bool)
    last_at_time[:-1] = (event_groups[1:] != event_groups[:-1]) | (micros[1:] != micros[:-1])
    groups_kept = event_groups[last_at_time]
    times = origin + micros[last_at_time] / 1e6
    counts = counts[last_at_time]
    group_starts = np.ones(len(times), dtype=bool)
    group_starts[1:] = groups_kept[1:] != groups_kept[:-1]
    spans = np.zeros(len(times))
    spans[:-1] = np.where(group_starts[1:], 0.0, times[1:] - times[:-1])
    bounds = np.append(np.flatnonzero(group_starts), len(times))
    return Steps(groups_kept, times, counts, spans, bounds)


@dataclass(frozen=True)
class Stretches:
    """Runs of consecutive change points at or above a threshold: group, start, end."""

    groups: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def step_stats(steps: Steps, stretches: Stretches, threshold: int) -> pd.DataFrame:
    """Per group of a non-empty `steps` (`stretches` are its `stretches_above` the
    threshold): the peak count, the first time at the peak (peak_at), seconds at the peak
    (peak_held_s), seconds at or above `threshold` (held_s), the thread-seconds in flight
    while at or above it (cost_s), the longest stretch (longest_s, longest_at; 0 and NaN
    without one) and the number of stretches."""
    firsts = steps.bounds[:-1]
    sizes = np.diff(steps.bounds)
    point_group = np.repeat(np.arange(len(firsts)), sizes)
    peak = np.maximum.reduceat(steps.counts, firsts)
    at_peak = steps.counts == peak[point_group]
    peak_points = np.flatnonzero(at_peak)
    first_at_peak = peak_points[np.searchsorted(point_group[peak_points], np.arange(len(firsts)))]
    # stretches come in group order: per group, the longest is the first after sorting
    # by (group, -length)
    run_group = np.searchsorted(steps.group_ids, stretches.groups)
    lengths = stretches.ends - stretches.starts
    longest = np.zeros(len(firsts))
    longest_at = np.full(len(firsts), np.nan)
    counted = np.bincount(run_group, minlength=len(firsts))
    if len(lengths):
        order = np.lexsort((-lengths, run_group))
        first_run = order[np.concatenate([[True], np.diff(run_group[order]) != 0])]
        longest[run_group[first_run]] = lengths[first_run]
        longest_at[run_group[first_run]] = stretches.starts[first_run]
    above = steps.counts >= threshold
    return pd.DataFrame(
        {
            "group": steps.group_ids,
            "peak": peak,
            "peak_at": steps.times[first_at_peak],
            "peak_held_s": np.add.reduceat(steps.spans * at_peak, firsts),
            "held_s": np.add.reduceat(steps.spans * above, firsts),
            "cost_s": np.add.reduceat(steps.spans * steps.counts * above, firsts),
            "longest_s": longest,
            "longest_at": longest_at,
            "stretches": counted,
        }
    )


def stretches_above(steps: Steps, threshold: int) -> Stretches:
    """The stretches during which a group had at least `threshold` calls in flight."""
    above = steps.counts >= threshold
    begins = above.copy()
    begins[1:] &= ~above[:-1]
    begins[steps.bounds[:-1]] = above[steps.bounds[:-1]]
    run_ids = np.cumsum(begins) - 1
    begin_points = np.flatnonzero(begins)
    lengths = np.bincount(run_ids[above], weights=steps.spans[above], minlength=len(begin_points))
    starts = steps.times[begin_points]
    return Stretches(steps.groups[begin_points], starts, starts + lengths)


def downsample(times: np.ndarray, counts: np.ndarray, points: int) -> list[list[float]]:
    """At most `points` [time, count] pairs of a step function: in each of `points` / 2
    equal-width time buckets its first lowest and first highest point (so peaks and drops
    survive), in time order; the last point is always kept. `times` must be sorted."""
    if len(times) <= points:
        return [[float(t), int(n)] for t, n in zip(times, counts, strict=True)]
    buckets = max(points // 2 - 1, 1)
    edges = np.linspace(times[0], times[-1], buckets + 1)[1:-1]
    bucket = np.searchsorted(edges, times, side="right")
    opens = np.concatenate([[True], bucket[1:] != bucket[:-1]])
    segment = np.cumsum(opens) - 1
    firsts = np.flatnonzero(opens)
    keep = [np.array([len(times) - 1])]
    for reduce in (np.maximum, np.minimum):
        hits = np.flatnonzero(counts == reduce.reduceat(counts, firsts)[segment])
        keep.append(hits[np.concatenate([[True], segment[hits][1:] != segment[hits][:-1]])])
    return [[float(times[i]), int(counts[i])] for i in np.unique(np.concatenate(keep))]


def plural(count: int, noun: str) -> str:
    """``1 thread``, ``3 threads``, ``2 stretches``."""
    suffix = "" if count == 1 else "es" if noun.endswith("ch") else "s"
    return f"{count} {noun}{suffix}"


def short_location(location: str | None) -> str | None:
    """``/srv/app/server.py:132`` -> ``server.py:132``."""
    if not location:
        return None
    path, _, line = location.rpartition(":")
    return f"{os.path.basename(path)}:{line}" if path else location


def text_or_none(value: Any) -> str | None:
    """A string cell, or None for null/NaN."""
    return value if isinstance(value, str) and value else None


MAX_TIMELINE_POINTS = 200
"""A timeline keeps at most this many change points (the low and high of each bucket)."""


EVENT_WAITS = frozenset({"epoll_wait", "epoll_pwait", "epoll_pwait2"})
"""An event loop's multiplexer waits: a thread parked in them is idle between events."""
LISTENER_WAITS = frozenset({"accept", "accept4"})
"""A server waiting for its next client: nothing it asked for, the kernel hands it the next
connection when a client connects (accept(2))."""
IDLE_WAITS = EVENT_WAITS | LISTENER_WAITS


def parked_s(found: Activity) -> float:
    """The time a would-be lock holder spent parked: on other futexes, in ``epoll_wait`` for
    whatever comes next (an event loop between events, e.g. one that submits work to its
    executor's idle workers), or in ``accept`` for the next client (a server's main thread
    that submits each connection to a pool). A thread parked there was a producer waiting to
    be fed, not working under a lock. One that held a lock across a call to a peer waits in
    that call (``recv``, or ``poll`` on its one socket, for the reply to its own request),
    and one that ran a command under it waits in ``wait4``: those are work under the lock."""
    idle = sum(
        float(row["seconds"])
        for row in found.by_resource
        if IDLE_WAITS.intersection(row["syscalls"])
    )
    return found.futex_wait_s + idle
