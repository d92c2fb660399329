"""From strace lines to calls: pair `<unfinished ...>` with `<... resumed>` per task.

Pairing is per task and in line order: a task's next call line after an unfinished half is
its resumed half. One exception is re-attributed first: when a non-leader thread calls
`execve`, strace prints `+++ superseded by execve in pid T +++` under the leader's pid and
then `<... execve resumed>` under the leader's pid too, so that unfinished `execve` is moved to
the leader before pairing. Calls that never resume are kept: `no-return` when the task is
seen ending, `in-flight` when the trace ends first, `detached` for `<detached ...>`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.timeline import trace_clock_ns

CALL_KINDS = ("syscall", "unfinished", "resumed", "detached")
TASK_CREATORS = frozenset({"clone", "clone3", "fork", "vfork"})
"""Calls whose positive return value is a new task's id."""


@dataclass(frozen=True)
class LineView:
    """The columns of a `strace_lines` table that the derivations need, as numpy arrays."""

    table: pa.Table
    line_no: np.ndarray
    kind: np.ndarray
    tid: np.ndarray
    clock_ns: np.ndarray
    """Absolute trace-clock nanoseconds, NaN where the line has no timestamp."""
    duration_ns: np.ndarray
    """NaN where the line has no `-T` value."""
    syscall: np.ndarray
    syscall_code: np.ndarray
    """Integer code per syscall name (-1 where the line has none), for fast grouping."""

    @classmethod
    def build(cls, table: pa.Table, default_tid: int) -> LineView:
        ts = table["ts_ns"].to_pandas().astype("Int64")
        kinds = table["ts_kind"].to_pandas()
        clock = trace_clock_ns(ts, kinds).astype("float64").to_numpy(na_value=np.nan)
        tid = pc.fill_null(table["pid"], default_tid).to_numpy()
        duration = table["duration_ns"].to_numpy(zero_copy_only=False)
        duration = np.asarray(pd.array(duration, dtype="Float64").to_numpy(na_value=np.nan))
        return cls(
            table=table,
            line_no=table["line_no"].to_numpy(),
            kind=np.asarray(table["kind"].to_numpy(zero_copy_only=False), dtype="U10"),
            tid=np.asarray(tid, dtype=np.int64),
            clock_ns=clock,
            duration_ns=duration.astype("float64"),
            syscall=np.asarray(table["syscall"].to_numpy(zero_copy_only=False), dtype=object),
            syscall_code=pc.fill_null(
                pc.dictionary_encode(table["syscall"].combine_chunks()).indices, -1
            ).to_numpy(),
        )


def effective_tids(view: LineView) -> np.ndarray:
    """Task ids with the superseded-execve re-attribution applied."""
    tids = view.tid.copy()
    other = view.table["other_pid"]
    superseded = np.flatnonzero(other.is_valid().to_numpy(zero_copy_only=False))
    if len(superseded) == 0:
        return tids
    other_pid = other.to_numpy(zero_copy_only=False)
    for row in superseded:
        thread = int(other_pid[row])
        candidates = np.flatnonzero(
            (view.tid[:row] == thread)
            & (view.kind[:row] == "unfinished")
            & (view.syscall[:row] == "execve")
        )
        if len(candidates):
            tids[candidates[-1]] = view.tid[row]
    return tids


@dataclass(frozen=True)
class CallIndex:
    """For each call: the row of its entry half and of its exit half (-1 when absent)."""

    entry: np.ndarray
    exit: np.ndarray
    tid: np.ndarray
    detached: np.ndarray


def pair_halves(view: LineView, tids: np.ndarray) -> CallIndex:
    """Match unfinished and resumed halves per task; complete lines are their own pair."""
    rows = np.flatnonzero(np.isin(view.kind, CALL_KINDS))
    # Per task and call name, an entry half is immediately followed by its exit half; sorting
    # by name as well keeps pairs adjacent when another call's half comes between them (the
    # leader's own pending call around a re-attributed execve).
    name_codes = view.syscall_code[rows]
    permutation = np.lexsort((view.line_no[rows], name_codes, tids[rows]))
    order = rows[permutation]
    names = name_codes[permutation]
    kind = view.kind[order]
    same_call = np.zeros(len(order), dtype=bool)
    same_call[1:] = (tids[order][1:] == tids[order][:-1]) & (names[1:] == names[:-1])
    closes_previous = np.zeros(len(order), dtype=bool)
    closes_previous[1:] = (kind[1:] == "resumed") & (kind[:-1] == "unfinished")
    paired_exit = closes_previous & same_call
    paired_entry = np.zeros(len(order), dtype=bool)
    paired_entry[:-1] = paired_exit[1:]

    complete = kind == "syscall"
    lone_entry = np.isin(kind, ("unfinished", "detached")) & ~paired_entry
    lone_exit = (kind == "resumed") & ~paired_exit

    pair_entry_rows = order[paired_entry]
    pair_exit_rows = order[1:][paired_exit[1:]]
    entry = np.concatenate(
        [order[complete], pair_entry_rows, order[lone_entry], np.full(lone_exit.sum(), -1)]
    )
    exit_ = np.concatenate(
        [order[complete], pair_exit_rows, np.full(lone_entry.sum(), -1), order[lone_exit]]
    )
    first = np.where(entry >= 0, entry, exit_)
    sort = np.argsort(view.line_no[first], kind="stable")
    entry, exit_, first = entry[sort], exit_[sort], first[sort]
    detached = (entry >= 0) & (view.kind[np.maximum(entry, 0)] == "detached")
    return CallIndex(entry=entry, exit=exit_, tid=tids[first], detached=detached)


def _take(column: pa.ChunkedArray | pa.Array, rows: np.ndarray) -> pa.Array:
    """`column[rows]`, with null where the row index is -1."""
    indices = pa.array(rows, pa.int64(), mask=rows < 0)
    return pc.take(column, indices)


def build_calls(view: LineView, calls: CallIndex, exit_rows: np.ndarray) -> dict[str, pa.Array]:
    """Columns of the `syscalls` table except the fd/target ones."""
    table = view.table
    entry, exit_ = calls.entry, calls.exit
    has_exit = exit_ >= 0
    has_entry = entry >= 0
    duration = np.where(has_exit, view.duration_ns[np.maximum(exit_, 0)], np.nan)
    exit_clock = np.where(has_exit, view.clock_ns[np.maximum(exit_, 0)], np.nan)
    entry_clock = np.where(has_entry, view.clock_ns[np.maximum(entry, 0)], np.nan)
    complete_line = has_entry & has_exit & (entry == exit_)
    # A complete line is stamped at entry; a resumed half at exit (start = exit - -T).
    start = np.where(
        complete_line,
        entry_clock,
        np.where(has_exit & ~np.isnan(duration), exit_clock - duration, entry_clock),
    )
    end = np.where(complete_line, entry_clock + duration, exit_clock)
    duration = np.where(
        np.isnan(duration) & ~np.isnan(start) & ~np.isnan(end), end - start, duration
    )

    args_entry = pc.fill_null(_take(table["args"], entry), "")
    split = has_entry & has_exit & ~complete_line
    args_exit = pc.fill_null(_take(table["args"], np.where(split, exit_, -1)), "")
    args = pc.binary_join_element_wise(args_entry, args_exit, "")

    ret = _take(table["ret"], exit_)
    errno = _take(table["errno"], exit_)
    returned = has_exit & (
        (ret.to_numpy(zero_copy_only=False) != "?")
        | errno.is_valid().to_numpy(zero_copy_only=False)
    )
    ended_later = _task_ends_after(calls.tid, view.line_no[np.maximum(entry, 0)], exit_rows, view)
    status = np.where(
        returned,
        "complete",
        np.where(
            has_exit,
            "no-return",
            np.where(calls.detached, "detached", np.where(ended_later, "no-return", "in-flight")),
        ),
    )
    first = np.where(has_entry, entry, exit_)
    return {
        "tid": pa.array(calls.tid, pa.int64()),
        "syscall": pc.take(table["syscall"], pa.array(first)),
        "start_s": pa.array(start / 1e9, pa.float64(), from_pandas=True),
        "end_s": pa.array(end / 1e9, pa.float64(), from_pandas=True),
        "duration_s": pa.array(duration / 1e9, pa.float64(), from_pandas=True),
        "args": args,
        "ret": ret,
        "retval": _take(table["retval"], exit_),
        "ret_target": _take(table["ret_target"], exit_),
        "errno": errno,
        "status": pa.array(status, pa.string()),
        "line_start": _take(table["line_no"], entry),
        "line_end": _take(table["line_no"], exit_),
    }


def _task_ends_after(
    tids: np.ndarray, lines: np.ndarray, exit_rows: np.ndarray, view: LineView
) -> np.ndarray:
    """Whether each call's task has a `+++` line after the given line."""
    if len(exit_rows) == 0:
        return np.zeros(len(tids), dtype=bool)
    last_exit = pd.Series(view.line_no[exit_rows]).groupby(view.tid[exit_rows]).max()
    ends = pd.Series(tids).map(last_exit).to_numpy(dtype="float64", na_value=np.nan)
    return ~np.isnan(ends) & (ends > lines)
