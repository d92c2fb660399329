"""Small vectorised helpers several passes share: call durations, call families, lines."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.strace import StraceTables

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


RUNTIMES: tuple[tuple[str, str], ...] = (
    ("python", r"^(?:python|pypy)[\d.]*$"),
    ("node", r"^(?:node|nodejs|deno|bun)$"),
    ("jvm", r"^java$"),
)
"""(runtime, regex on the file name of the program the process executed)."""

PYTHON_FILES = r"\.pyc?\"|/python\d[\d.]*/|/libpython"
"""A process that opens such paths runs Python, whatever it was started as (a console script
such as gunicorn or celery is executed through its shebang)."""

_EXECS = pa.array(["execve", "execveat"])
_OPENS = pa.array(["open", "openat", "openat2", "stat", "newfstatat", "statx"])


def process_runtime(trace: StraceTables, pid: int) -> str | None:
    """What the process runs: ``python``, ``node``, ``jvm``, ``native`` (any other program),
    or None when the trace shows no execve for it or its ancestors (a trace attached with
    ``-p``). The last successful execve counts (a shell wrapper or a pyenv shim execs the
    real program); a process forked without exec runs what its parent ran when it forked
    (the parent's last execve before the child was created)."""
    calls, tasks = trace.syscalls, trace.tasks
    execs = pc.and_(
        pc.fill_null(pc.is_in(calls["syscall"], _EXECS), False),
        pc.fill_null(pc.equal(calls["retval"], 0), False),
    )
    if not pc.any(execs).as_py():
        return None
    by_pid: dict[int, list[tuple[float, str]]] = {}
    for row in calls.filter(execs).select(["pid", "start_s", "args"]).to_pylist():
        start = row["start_s"] if row["start_s"] is not None else float("-inf")
        by_pid.setdefault(row["pid"], []).append((start, row["args"] or ""))
    parents = dict(zip(tasks["tid"].to_pylist(), tasks["parent"].to_pylist(), strict=True))
    created = dict(zip(tasks["tid"].to_pylist(), tasks["created_s"].to_pylist(), strict=True))
    before = float("inf")
    for _ in range(64):  # up the parents, for forks without exec
        execs_then = [args for start, args in by_pid.get(pid, []) if start <= before]
        if execs_then:
            path = re.match(r'\s*"((?:[^"\\]|\\.)*)"', execs_then[-1])
            name = path.group(1).rsplit("/", 1)[-1] if path else ""
            for runtime, pattern in RUNTIMES:
                if re.match(pattern, name):
                    return runtime
            return "python" if _opens_python_files(calls, pid) else "native"
        parent = parents.get(pid)
        if parent is None or parent == pid:
            return None
        when = created.get(pid)
        before = min(before, when) if when is not None else before
        pid = parent
    return None


def _opens_python_files(calls: pa.Table, pid: int) -> bool:
    mine = pc.and_(
        pc.fill_null(pc.equal(calls["pid"], pid), False),
        pc.fill_null(pc.is_in(calls["syscall"], _OPENS), False),
    )
    found = pc.match_substring_regex(calls["args"].filter(mine), PYTHON_FILES)
    return bool(pc.any(found).as_py())
