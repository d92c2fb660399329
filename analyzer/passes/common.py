"""Small vectorised helpers several passes share: call durations, call families, lines."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LOOP_WAITS: frozenset[str] = frozenset(
    {
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
        "poll",
        "ppoll",
        "select",
        "pselect6",
        "_newselect",
    }
)
"""The calls an event loop (asyncio, libuv, Twisted, ...) idles in."""

IDLE_WAITS: frozenset[str] = LOOP_WAITS | {
    "futex",
    "wait4",
    "waitid",
    "pause",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "sigsuspend",
    "restart_syscall",
    "nanosleep",
    "clock_nanosleep",
    "accept",
    "accept4",
    "io_getevents",
    "io_pgetevents",
}
"""Calls whose length is waiting by design (for events, children, a lock, a timer or a
client): long durations there are not slow I/O. Locks and sleeps have their own passes."""

SLEEPS: frozenset[str] = frozenset({"nanosleep", "clock_nanosleep"})
FLUSHES: frozenset[str] = frozenset({"fsync", "fdatasync", "sync_file_range", "msync", "syncfs"})


def call_durations(calls: pa.Table) -> np.ndarray:
    """Seconds each call took: `-T` where printed, else end - start; NaN when unknown."""
    duration = calls["duration_s"].to_numpy(zero_copy_only=False)
    duration = np.asarray(duration, dtype=np.float64)
    if np.isnan(duration).any():
        start = np.asarray(calls["start_s"].to_numpy(zero_copy_only=False), dtype=np.float64)
        end = np.asarray(calls["end_s"].to_numpy(zero_copy_only=False), dtype=np.float64)
        duration = np.where(np.isnan(duration), end - start, duration)
    return duration


def numbers(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as float64 with NaN for nulls."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def cited_lines(calls: pa.Table) -> np.ndarray:
    """The source line a finding cites for each call: where it started, or for a resumed
    half whose start was never seen (a trace cut at its start), the line it returned on."""
    start = numbers(calls["line_start"])
    if not np.isnan(start).any():
        return start
    return np.where(np.isnan(start), numbers(calls["line_end"]), start)


def is_in(column: pa.ChunkedArray | pa.Array, names: frozenset[str]) -> np.ndarray:
    """Boolean mask: the column's value is one of `names` (nulls are False)."""
    mask = pc.fill_null(pc.is_in(column, value_set=pa.array(sorted(names))), False)
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def percentile(values: np.ndarray, q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, as numpy and pandas compute it."""
    return float(np.percentile(values, q)) if len(values) else float("nan")
