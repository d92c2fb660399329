"""Numeric summaries of the perf tables, and the text layouts of the peer tools that print them.

- `log2_histogram` / `log2_histogram_lines`: latencies in power-of-two microsecond buckets, as
  BCC's ``biolatency`` counts and prints them (``src/python/bcc/table.py`` ``_print_log2_hist``
  and ``_stars``): a value of ``v`` µs goes to slot ``bpf_log2l(v)`` (0 and 1 share slot 1,
  then 2-3, 4-7, ...), and the slots are printed from the first up to the last non-empty one
  with a 40-character bar of stars scaled to the largest count.
- `in_flight`: the number of requests in flight over time from their start and end times (the
  queue depth of a block device), as change points, with its peak and a series cut down to a
  plottable number of points that keeps every peak.
- `perf_trace_summary_lines`: the per-thread syscall table of ``perf trace -s``
  (tools/perf/builtin-trace.c, ``thread__dump_stats``): ``%-15s %8u %6u %9.3f ...``, times in
  msec, and ``stddev`` as the standard error of the mean relative to the mean (perf's
  ``stddev_stats`` / ``avg``).

Everything here is pure: numpy arrays or report rows in, numbers or lines out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "STARS",
    "in_flight",
    "log2_histogram",
    "log2_histogram_lines",
    "perf_trace_summary_lines",
    "stars",
    "syscall_stats",
]

STARS = 40
"""Width of the bar of a histogram row, as in BCC (``stars_max``)."""
SERIES_POINTS = 400
"""Most points kept in a plotted in-flight series."""


# --------------------------------------------------------------------------- log2 histograms


def log2_slots(values: np.ndarray) -> np.ndarray:
    """BCC's ``bpf_log2l`` of each non-negative integer: 0 and 1 give 1, 2-3 give 2, 4-7 give
    3 ... (``floor(log2(v)) + 1``, with 0 counted as 1). Negative values count as 0."""
    clipped = np.maximum(np.asarray(values, dtype=np.int64), 1)
    # frexp(v) = (m, e) with v = m * 2**e and 0.5 <= m < 1, so e = floor(log2(v)) + 1, exactly
    # for every v below 2**53 (no float rounding of log2 near powers of two).
    return np.frexp(clipped.astype(np.float64))[1].astype(np.int64)


def slot_range(slot: int) -> tuple[int, int]:
    """The values a slot holds, as BCC prints them: 1 -> (0, 1), 2 -> (2, 3), 3 -> (4, 7)..."""
    low, high = (1 << slot) >> 1, (1 << slot) - 1
    return (low - 1, high) if low == high else (low, high)


def log2_histogram(values: np.ndarray) -> list[dict[str, int]]:
    """Counts of `values` (integers, e.g. microseconds) per log2 slot, from the first slot
    (0-1) up to the last non-empty one, empty slots included: ``[{lo, hi, count}, ...]``.
    Empty when there are no values."""
    values = np.asarray(values)
    if values.size == 0:
        return []
    counts = np.bincount(log2_slots(values))
    return [
        {"lo": slot_range(slot)[0], "hi": slot_range(slot)[1], "count": int(counts[slot])}
        for slot in range(1, len(counts))
    ]


def stars(value: float, largest: float, width: int = STARS) -> str:
    """The bar of one histogram row, exactly as BCC's ``_stars`` draws it."""
    if largest <= 0:
        return ""
    count = 0
    while not (count > (width * value / largest) - 1 or count > width - 1):
        count += 1
    text = "*" * count
    return text[:-1] + "+" if value > largest else text


def log2_histogram_lines(buckets: Sequence[Mapping[str, Any]], unit: str = "usecs") -> list[str]:
    """`buckets` (from `log2_histogram`) in biolatency's layout::

             usecs               : count     distribution
                 0 -> 1          : 0        |                                        |
                 2 -> 3          : 4        |*****                                   |

    Rows past slot 32 switch to BCC's wide layout (20-digit bounds, 20-star bars)."""
    counts = [int(bucket.get("count") or 0) for bucket in buckets]
    if not any(counts):
        return []
    last = max(index for index, value in enumerate(counts) if value)
    largest = max(counts)
    lines: list[str] = []
    if last + 1 <= 32:
        lines.append(f"     {unit:<19} : count     distribution")
        digits, width = 10, STARS
    else:
        lines.append(f"               {unit:<29} : count     distribution")
        digits, width = 20, STARS // 2
    for bucket, value in zip(buckets[: last + 1], counts, strict=False):
        bar = stars(value, largest, width)
        lines.append(
            f"{int(bucket['lo']):>{digits}} -> {int(bucket['hi']):<{digits}} : "
            f"{value:<8} |{bar:<{width}}|"
        )
    return lines


def bucket_of(value: int) -> tuple[int, int]:
    """The (lo, hi) bucket a value falls in."""
    return slot_range(int(log2_slots(np.array([value]))[0]))


# --------------------------------------------------------------------------- in flight


def in_flight(
    starts_ns: np.ndarray, ends_ns: np.ndarray, max_points: int = SERIES_POINTS
) -> dict[str, Any] | None:
    """Requests in flight over time, from each request's start and end (nanoseconds).

    Returns None without requests, else a dict (times in seconds on the input's clock):

    - ``peak``, ``peak_at``: the most requests in flight at once and when that was first
      reached (an end and a start at the same instant count as end first);
    - ``mean``: the time-weighted mean over ``first_s``..``last_s`` (busy time / span, Little's
      law), ``busy_share``: the share of that span with at least one request in flight;
    - ``series``: ``[[time_s, in_flight], ...]`` change points of the step function (the
      value holds until the next point). With more than `max_points` changes the span is cut
      into bins and each bin keeps its largest value, so peaks survive (``downsampled``);
      ``changes`` is the number of change points before that.
    """
    starts = np.asarray(starts_ns, dtype=np.int64)
    ends = np.asarray(ends_ns, dtype=np.int64)
    keep = (starts >= 0) & (ends >= starts) if starts.size else np.zeros(0, bool)
    starts, ends = starts[keep], ends[keep]
    if starts.size == 0:
        return None
    times = np.concatenate([starts, ends])
    deltas = np.concatenate([np.ones(starts.size, np.int64), -np.ones(ends.size, np.int64)])
    order = np.lexsort((deltas, times))  # by time, ends (-1) before starts (+1)
    times, deltas = times[order], deltas[order]
    depth = np.cumsum(deltas)
    peak_index = int(np.argmax(depth))
    # one change point per distinct time: the value after all changes at that instant
    last_of_time = np.flatnonzero(np.append(times[1:] != times[:-1], True))
    point_times, point_depths = times[last_of_time], depth[last_of_time]
    first, last = int(point_times[0]), int(point_times[-1])
    span = last - first
    held = np.diff(point_times)  # how long each point's value holds (the last holds 0)
    busy = int(held[point_depths[:-1] > 0].sum())
    total = int((ends - starts).sum())
    downsampled = point_times.size > max_points
    if downsampled:
        point_times, point_depths = _bin_max(point_times, point_depths, max(max_points // 2, 2))
    return {
        "peak": int(depth[peak_index]),
        "peak_at": int(times[peak_index]) / 1e9,
        "mean": total / span if span > 0 else None,
        "busy_share": busy / span if span > 0 else None,
        "first_s": first / 1e9,
        "last_s": last / 1e9,
        "changes": int(last_of_time.size),
        "downsampled": bool(downsampled),
        "series": [[int(t) / 1e9, int(d)] for t, d in zip(point_times, point_depths, strict=True)],
    }


def _bin_max(times: np.ndarray, values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """A step series cut into `bins` equal time bins, each holding the largest value the
    series takes inside it (including the value carried in from before the bin); runs of
    equal values are merged, and the last point is kept as it is."""
    edges = np.linspace(float(times[0]), float(times[-1]), bins + 1)
    starts = edges[:-1]
    carried = np.searchsorted(times, starts, side="right") - 1
    largest = np.where(carried >= 0, values[np.maximum(carried, 0)], 0)
    inside = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, bins - 1)
    np.maximum.at(largest, inside, values)
    out_times = np.append(np.round(starts).astype(np.int64), times[-1])
    out_values = np.append(largest, values[-1])
    change = np.append(True, out_values[1:] != out_values[:-1])
    change[-1] = True
    return out_times[change], out_values[change]


# --------------------------------------------------------------------------- perf trace -s


def syscall_stats(durations_ns: np.ndarray) -> dict[str, float]:
    """``total_s``, ``min_s``, ``avg_s``, ``max_s`` and ``stddev_pct`` of one syscall's calls,
    as ``perf trace -s`` computes them: ``stddev_pct`` is 100 * the standard error of the
    mean (sample variance / n, square-rooted) / the mean, 0 for fewer than two calls."""
    values = np.asarray(durations_ns, dtype=np.float64)
    count = values.size
    mean = float(values.mean()) if count else 0.0
    stderr = float(np.sqrt(values.var(ddof=1) / count)) if count > 1 else 0.0
    return {
        "total_s": float(values.sum()) / 1e9,
        "min_s": float(values.min()) / 1e9 if count else 0.0,
        "avg_s": mean / 1e9,
        "max_s": float(values.max()) / 1e9 if count else 0.0,
        "stddev_pct": 100.0 * stderr / mean if mean else 0.0,
    }


_TRACE_HEADER = (
    "   syscall            calls  errors  total       min       avg       max       stddev",
    "                                     (msec)    (msec)    (msec)    (msec)        (%)",
    "   --------------- --------  ------ -------- --------- --------- ---------     ------",
)


def _ms(seconds: object) -> float:
    return float(seconds) * 1000.0 if isinstance(seconds, (int, float)) else 0.0


def perf_trace_summary_lines(threads: Iterable[Mapping[str, Any]]) -> list[str]:
    """Threads (``{comm, tid, events, share, syscalls: [{syscall, calls, errors, total_s,
    min_s, avg_s, max_s, stddev_pct}]}``) in the layout of ``perf trace -s``::

         Summary of events:

         python3.11 (11507), 2816 events, 99.2%

           syscall            calls  errors  total       min       avg       max       stddev
                                             (msec)    (msec)    (msec)    (msec)        (%)
           --------------- --------  ------ -------- --------- --------- ---------     ------
           fsync                 10      0     8.170     0.437     0.817     3.707     39.36%
    """
    lines = ["", " Summary of events:", ""]
    for thread in threads:
        share = thread.get("share")
        percent = float(share) * 100.0 if isinstance(share, (int, float)) else 0.0
        lines.append(
            f" {thread.get('comm') or ':-1'} ({thread.get('tid')}), "
            f"{int(thread.get('events') or 0)} events, {percent:.1f}%"
        )
        lines.append("")
        lines.extend(_TRACE_HEADER)
        for row in thread.get("syscalls") or ():
            lines.append(
                f"   {row.get('syscall') or '?':<15} {int(row.get('calls') or 0):8d} "
                f"{int(row.get('errors') or 0):6d} {_ms(row.get('total_s')):9.3f} "
                f"{_ms(row.get('min_s')):9.3f} {_ms(row.get('avg_s')):9.3f} "
                f"{_ms(row.get('max_s')):9.3f} {float(row.get('stddev_pct') or 0.0):9.2f}%"
            )
        lines.extend(["", ""])
    return lines
