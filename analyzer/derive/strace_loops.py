"""Event loops in a strace trace, and the episodes they were blocked.

An event loop (asyncio, libuv, Tornado, a `selectors` server thread) idles in one wait call,
again and again, and multiplexes: it waits on many fds at once. A thread is a loop when one
(wait syscall, fd) of it occurs at least `PassConfig.loop_min_waits` times and the wait
multiplexes: an ``epoll_wait`` (its set is registered beforehand), or a ``poll``/``select``
whose set holds two or more fds. A thread that waits in ``poll`` again and again on ONE fd is
not a loop: on a connected socket, a pipe or a file it is a synchronous client (a socket
with a timeout, `http.client`, `subprocess.communicate`, glibc's resolver:
`strace_waits.resource_waits`), and on a lone listener it is a synchronous accept loop
(`socketserver`'s ``serve_forever``), which handles one request at a time by design. A
``select`` with empty sets is a sleep. On a thread that has an epoll loop, its
``poll``/``select`` calls are not loop waits: they are a blocking library inside a callback.
A ``poll``/``select`` whose set holds only pipes is not a loop either: it waits for other
processes or threads of the program, not for clients (`multiprocessing.connection.wait` over
a Pool's process sentinels and its change-notifier pipe in `Pool._handle_workers`,
`subprocess.communicate` over a child's stdout and stderr); an event loop serves sockets, and
even one that only runs subprocesses waits in epoll (asyncio, libuv).

A derivation the passes share (see `loop_episodes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, is_in, numbers
from analyzer.config import PassConfig
from analyzer.derive import strace_slices
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_ends
from analyzer.derive.strace_families import EPOLL_WAITS, LOOP_WAITS


def loop_wait_rows(calls: pa.Table, min_waits: int, wait_fds: pa.Table | None = None) -> np.ndarray:
    """Row numbers of the calls that are event-loop waits (see the module docstring);
    `wait_fds` are the trace's poll/select sets (without them a poll/select multiplexes
    when it has no single fd). The calls are scanned a slice at a time: only the waits'
    rows are held."""
    if wait_fds is not None and wait_fds.num_rows:
        fd_rows = np.asarray(wait_fds["row"].to_numpy(zero_copy_only=False), dtype=np.int64)
        is_pipe = pc.fill_null(pc.equal(wait_fds["target_kind"], "pipe"), False)
        set_rows, where, sizes = np.unique(fd_rows, return_inverse=True, return_counts=True)
        pipes = np.bincount(where, weights=is_pipe.to_numpy(zero_copy_only=False))
        del fd_rows, where

        def multiplexing(offset: int, part: pa.Table, local: np.ndarray) -> np.ndarray:
            at = offset + local
            position = np.minimum(np.searchsorted(set_rows, at), len(set_rows) - 1)
            listed = set_rows[position] == at
            size = np.where(listed, sizes[position], 0)
            pipe_count = np.where(listed, pipes[position], 0.0)
            return (size >= 2) & (pipe_count < size)

    else:

        def multiplexing(offset: int, part: pa.Table, local: np.ndarray) -> np.ndarray:
            # one fd: a set of one; no fd: a set of several
            return np.isnan(numbers(part["fd"].take(pa.array(local))))

    found = []
    for offset, part in strace_slices.slices(calls, ["syscall", "fd"]):
        local = np.flatnonzero(is_in(part["syscall"], LOOP_WAITS))
        if len(local) == 0:
            continue
        epoll_call = is_in(part["syscall"].take(pa.array(local)), EPOLL_WAITS)
        found.append(offset + local[epoll_call | multiplexing(offset, part, local)])
    rows = np.concatenate(found).astype(np.int64) if found else np.zeros(0, np.int64)
    if len(rows) < min_waits:
        return rows[:0]
    waits = strace_slices.take(calls, ["tid", "syscall", "fd"], rows)
    names = pc.dictionary_encode(contiguous(waits["syscall"]))
    codes = np.asarray(names.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    epoll_codes = [i for i, name in enumerate(names.dictionary.to_pylist()) if name in EPOLL_WAITS]
    frame = pd.DataFrame(
        {
            "tid": np.nan_to_num(numbers(waits["tid"]), nan=-1).astype(np.int64),
            "code": codes,
            "fd": np.nan_to_num(numbers(waits["fd"]), nan=-1).astype(np.int64),
        }
    )
    frequent = frame.groupby(["tid", "code", "fd"])["tid"].transform("size") >= min_waits
    epoll = frame["code"].isin(epoll_codes)
    tid_has_epoll_loop = (frequent & epoll).groupby(frame["tid"]).transform("any")
    loop = frequent & (epoll | ~tid_has_epoll_loop)
    return rows[loop.to_numpy(dtype=bool)]


@dataclass(frozen=True)
class LoopEpisodes:
    """The event-loop threads of one trace and the episodes their loops were blocked.

    `episodes` has one row per episode: tid, start, end, duration_s, ongoing, prev_line (the
    line where the wait before it returned), next_line (the next wait's line; null when
    ongoing). `loops` has one row per loop thread: tid, pid, waits, first_wait_s,
    last_return_s. `wait_rows` are the rows of the loop waits among the trace's calls
    (ascending).
    """

    episodes: pd.DataFrame
    loops: pd.DataFrame
    wait_rows: np.ndarray


def loop_episodes(trace: StraceTables, config: PassConfig) -> LoopEpisodes:
    """Every blocked episode of every event loop in the trace (not capped)."""
    calls = trace.syscalls
    rows = (
        loop_wait_rows(calls, config.loop_min_waits, trace.wait_fds)
        if calls.num_rows
        else np.empty(0, np.int64)
    )
    waits = strace_slices.take(
        calls, ["tid", "pid", "start_s", "end_s", "duration_s", "line_start", "line_end"], rows
    )
    tid = np.nan_to_num(numbers(waits["tid"]), nan=-1).astype(np.int64)
    start = numbers(waits["start_s"])
    end = call_ends(waits)
    line_start = numbers(waits["line_start"])
    line_end = numbers(waits["line_end"])
    return_line = np.where(np.isnan(line_end), line_start, line_end)
    order = np.lexsort((start, tid))
    tid, start, end = tid[order], start[order], end[order]
    line_start, return_line = line_start[order], return_line[order]
    pid = numbers(waits["pid"])[order]

    same_thread = tid[1:] == tid[:-1]
    gap = start[1:] - end[:-1]
    with np.errstate(invalid="ignore"):
        blocked = np.flatnonzero(same_thread & (gap >= config.blocked_loop_s))
    between = pd.DataFrame(
        {
            "tid": tid[blocked],
            "start": end[blocked],
            "end": start[blocked + 1],
            "ongoing": False,
            "prev_line": return_line[blocked],
            "next_line": line_start[blocked + 1],
        }
    )

    last = np.flatnonzero(np.append(~same_thread, True)) if len(tid) else np.empty(0, int)
    first = np.append(0, last[:-1] + 1) if len(last) else last
    loops = pd.DataFrame(
        {
            "tid": tid[last],
            "pid": pid[last],
            "waits": last - first + 1,
            "first_wait_s": start[first],
            "last_return_s": end[last],
        }
    )
    exited = np.isin(tid[last], numbers(trace.exits["tid"]))
    trace_end = trace.last_s if trace.last_s is not None else np.nan
    with np.errstate(invalid="ignore"):
        still = ~exited & (trace_end - end[last] >= config.blocked_loop_s)
    trailing = pd.DataFrame(
        {
            "tid": tid[last][still],
            "start": end[last][still],
            "end": trace_end,
            "ongoing": True,
            "prev_line": return_line[last][still],
            "next_line": np.nan,
        }
    )
    episodes = pd.concat([between, trailing], ignore_index=True) if len(trailing) else between
    episodes = episodes.sort_values(["tid", "start"], kind="stable", ignore_index=True)
    episodes["duration_s"] = episodes["end"] - episodes["start"]
    return LoopEpisodes(episodes, loops, rows)
