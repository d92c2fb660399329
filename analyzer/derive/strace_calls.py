"""From strace lines to calls: pair `<unfinished ...>` with `<... resumed>` per task.

Pairing is per task and in line order: a task's next call line after an unfinished half is
its resumed half. One exception is re-attributed first: when a non-leader thread calls
`execve`, strace prints `+++ superseded by execve in pid T +++` under the leader's pid and
then `<... execve resumed>` under the leader's pid too, so that unfinished `execve` is moved to
the leader before pairing. Calls that never resume are kept: `no-return` when the task is
seen ending, `in-flight` when the trace ends first, `detached` for `<detached ...>`.

Everything here works on numpy arrays of integer codes (line kinds, syscall names) rather than
on strings, and string columns are only ever gathered with one Arrow `take` each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, is_in, numbers
from analyzer.formats.strace_clock import trace_clock_ns
from analyzer.formats.strace_record import LINE_KINDS
from analyzer.lazy import lazy_module

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_module("pandas")

# `LineView.kind` holds each row's index into LINE_KINDS (every `kind` of a `strace_lines` row).
SYSCALL, UNFINISHED, RESUMED, DETACHED, SIGNAL, EXIT = range(6)
TASK_CREATORS = frozenset({"clone", "clone3", "fork", "vfork"})
"""Calls whose positive return value is a new task's id."""
STATUSES = ("complete", "no-return", "detached", "in-flight")


def column(table: pa.Table, name: str) -> pa.Array:
    """One column as a single array.

    `take` on a many-chunk column is an order of magnitude slower than concatenating the
    chunks once and taking from the result, so every gather goes through this.
    """
    return contiguous(table[name])


def take(values: pa.Array, rows: np.ndarray) -> pa.Array:
    """`values[rows]`, with null where the row index is -1."""
    return pc.take(values, pa.array(rows, pa.int64(), mask=rows < 0))


@dataclass(frozen=True)
class LineView:
    """The columns of a `strace_lines` table that the derivations need, as numpy arrays."""

    table: pa.Table
    line_no: np.ndarray
    in_line_order: bool
    """Whether rows are in strictly increasing line order (what the parsers produce)."""
    kind: np.ndarray
    """Index into `LINE_KINDS` (-1 for an unknown kind)."""
    tid: np.ndarray
    clock_ns: np.ndarray
    """Absolute trace-clock nanoseconds, NaN where the line has no timestamp."""
    duration_ns: np.ndarray
    """NaN where the line has no `-T` value."""
    syscall_names: pa.Array
    """Distinct syscall names; `syscall_code` indexes into it."""
    syscall_code: np.ndarray
    """Integer code per syscall name (-1 where the line has none), for fast grouping."""

    @classmethod
    def build(
        cls, table: pa.Table, default_tid: int, clock_ns: np.ndarray | None = None
    ) -> LineView:
        """The view of `table`; `clock_ns` is its `trace_clock_ns` when already known."""
        line_no = table["line_no"].to_numpy()
        names = pc.unique(table["syscall"])  # in order of first appearance
        if names.null_count:
            names = pc.drop_null(names)
        return cls(
            table=table,
            line_no=line_no,
            in_line_order=bool(np.all(line_no[1:] > line_no[:-1])),
            kind=_codes(table["kind"], pa.array(LINE_KINDS)).astype(np.int8),
            tid=filled_numpy(table["pid"], default_tid).astype(np.int64, copy=False),
            clock_ns=(
                trace_clock_ns(table["ts_ns"], table["ts_kind"]) if clock_ns is None else clock_ns
            ),
            duration_ns=pc.cast(table["duration_ns"], pa.float64(), safe=False).to_numpy(),
            syscall_names=names,
            syscall_code=_codes(table["syscall"], names),
        )

    def code_of(self, syscall: str) -> int:
        """The `syscall_code` of a name (-2, which no row has, when the trace has no such call)."""
        found = pc.index(self.syscall_names, syscall).as_py()
        return found if found >= 0 else -2


def _codes(values: pa.ChunkedArray, value_set: pa.Array) -> np.ndarray:
    """Position of each value in `value_set`, -1 for null or absent values."""
    return filled_numpy(pc.index_in(values, value_set=value_set), -1)


def effective_tids(view: LineView) -> np.ndarray:
    """Task ids with the superseded-execve re-attribution applied."""
    tids = view.tid.copy()
    other = view.table["other_pid"]
    superseded = np.flatnonzero(other.is_valid().to_numpy(zero_copy_only=False))
    if len(superseded) == 0:
        return tids
    other_pid = other.to_numpy(zero_copy_only=False)
    execve = view.code_of("execve")
    for row in superseded:
        thread = int(other_pid[row])
        candidates = np.flatnonzero(
            (view.tid[:row] == thread)
            & (view.kind[:row] == UNFINISHED)
            & (view.syscall_code[:row] == execve)
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

    def first_rows(self) -> np.ndarray:
        """The row of each call's first half (its entry, else its exit)."""
        return np.where(self.entry >= 0, self.entry, self.exit)

    def select(self, calls: np.ndarray) -> CallIndex:
        """The calls picked by a boolean mask or an index array, in that order."""
        return CallIndex(
            entry=self.entry[calls],
            exit=self.exit[calls],
            tid=self.tid[calls],
            detached=self.detached[calls],
        )


def _group_order(view: LineView, rows: np.ndarray, tids: np.ndarray) -> np.ndarray:
    """`rows` sorted by task, then syscall name, then line number.

    Only adjacency within a (task, name) group matters, not the order of the groups, so the
    pair is packed into one dense integer key (tasks numbered by a hash factorize). When rows
    are already in line order a stable sort of that key is enough (a radix sort when it fits
    16 bits); otherwise the line number is the last sort key.
    """
    task_code, _ = pd.factorize(tids[rows])
    group = task_code.astype(np.int64) * (len(view.syscall_names) + 1) + (
        view.syscall_code[rows] + 1
    )
    return _sorted_by_group(view, rows, group)


def _sorted_by_group(view: LineView, rows: np.ndarray, group: np.ndarray) -> np.ndarray:
    if not view.in_line_order:
        return rows[np.lexsort((view.line_no[rows], group))]
    if len(group) and group.max() < 2**16:
        group = group.astype(np.uint16)
    return rows[np.argsort(group, kind="stable")]


def _pair_sorted(view: LineView, order: np.ndarray, tids: np.ndarray) -> tuple[list, list]:
    """Entry and exit rows of the calls among `order` (call rows sorted by `_group_order`):
    complete lines, pairs, lone entries, lone exits, in that order."""
    names = view.syscall_code[order]
    order_tids = tids[order]
    kind = view.kind[order]
    same_call = np.zeros(len(order), dtype=bool)
    same_call[1:] = (order_tids[1:] == order_tids[:-1]) & (names[1:] == names[:-1])
    closes_previous = np.zeros(len(order), dtype=bool)
    closes_previous[1:] = (kind[1:] == RESUMED) & (kind[:-1] == UNFINISHED)
    paired_exit = closes_previous & same_call
    paired_entry = np.zeros(len(order), dtype=bool)
    paired_entry[:-1] = paired_exit[1:]

    complete = kind == SYSCALL
    lone_entry = ((kind == UNFINISHED) | (kind == DETACHED)) & ~paired_entry
    lone_exit = (kind == RESUMED) & ~paired_exit

    pair_entry_rows = order[paired_entry]
    pair_exit_rows = order[1:][paired_exit[1:]]
    entry = [order[complete], pair_entry_rows, order[lone_entry], np.full(lone_exit.sum(), -1)]
    exit_ = [order[complete], pair_exit_rows, np.full(lone_entry.sum(), -1), order[lone_exit]]
    return entry, exit_


def pair_halves(view: LineView, tids: np.ndarray) -> CallIndex:
    """Match unfinished and resumed halves per task; complete lines are their own pair."""
    # Per task and call name, an entry half is immediately followed by its exit half; sorting
    # by name as well keeps pairs adjacent when another call's half comes between them (the
    # leader's own pending call around a re-attributed execve).
    is_call = (view.kind >= 0) & (view.kind <= DETACHED)
    if not view.in_line_order:
        entry_parts, exit_parts = _pair_sorted(
            view, _group_order(view, np.flatnonzero(is_call), tids), tids
        )
        entry, exit_ = np.concatenate(entry_parts), np.concatenate(exit_parts)
        first = np.where(entry >= 0, entry, exit_)
        sort = np.argsort(view.line_no[first], kind="stable")
        entry, exit_, first = entry[sort], exit_[sort], first[sort]
    else:
        entry, exit_, first = _pair_in_line_order(view, tids, is_call)
    detached = (entry >= 0) & (view.kind[np.maximum(entry, 0)] == DETACHED)
    return CallIndex(entry=entry, exit=exit_, tid=tids[first], detached=detached)


def _pair_in_line_order(
    view: LineView, tids: np.ndarray, is_call: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`pair_halves` for rows in line order: entry, exit and first row of every call, in the
    line order of the first row.

    A (task, name) group without halves is all complete lines, so only the groups that hold
    a half are sorted and paired; every other call line is a call of its own. Every row is
    the first half of at most one call, so putting the calls in line order is a scatter by
    row instead of a sort.
    """
    task_code, _ = pd.factorize(tids)
    group = task_code.astype(np.int64) * (len(view.syscall_names) + 1) + (view.syscall_code + 1)
    half = (view.kind == UNFINISHED) | (view.kind == RESUMED) | (view.kind == DETACHED)
    has_half = np.zeros(int(group.max(initial=0)) + 1, dtype=bool)
    has_half[group[half]] = True
    involved = is_call & has_half[group]
    rows = np.flatnonzero(involved)
    entry_parts, exit_parts = _pair_sorted(view, _sorted_by_group(view, rows, group[rows]), tids)
    pair_entry = np.concatenate(entry_parts)
    pair_exit = np.concatenate(exit_parts)
    pair_first = np.where(pair_entry >= 0, pair_entry, pair_exit)

    # Calls by the row of their first half: their own row for the complete lines of the
    # other groups, the paired rows for the rest.
    entry = np.where(is_call & ~involved, np.arange(len(view.kind)), -1)
    exit_ = entry.copy()
    entry[pair_first] = pair_entry
    exit_[pair_first] = pair_exit
    starts = np.zeros(len(view.kind), dtype=bool)
    starts[pair_first] = True
    starts |= is_call & ~involved
    first_rows = np.flatnonzero(starts)
    return entry[first_rows], exit_[first_rows], first_rows


def take_chunked(values: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """`values[rows]` (null where the row index is -1) gathered chunk by chunk.

    `take` on a many-chunk column first concatenates every chunk; gathering a few rows that
    way copies the whole column. Here each chunk gives its own rows (found by one stable sort
    of the rows by chunk) and only the gathered values are put in order.
    """
    if values.num_chunks == 1:
        return take(values.chunk(0), rows)
    bounds = np.cumsum([0, *(len(chunk) for chunk in values.chunks)])
    chunk_of = np.searchsorted(bounds, rows, side="right") - 1
    chunk_of[rows < 0] = -1
    order = np.argsort(chunk_of, kind="stable")
    ends = np.searchsorted(chunk_of[order], np.arange(values.num_chunks), side="right")
    pieces, places = [], []
    start = int(np.searchsorted(chunk_of[order], 0))  # rows of -1 sort first
    for index, end in enumerate(ends.tolist()):
        if end > start:
            at = order[start:end]
            pieces.append(pc.take(values.chunk(index), pa.array(rows[at] - bounds[index])))
            places.append(at)
        start = max(start, end)
    if not pieces:
        return pa.nulls(len(rows), values.type)
    where = np.full(len(rows), -1, dtype=np.int64)
    where[np.concatenate(places)] = np.arange(sum(len(at) for at in places))
    return take(pa.concat_arrays(pieces), where)


def _call_args(
    table: pa.Table, entry: np.ndarray, exit_: np.ndarray, split: np.ndarray
) -> pa.Array:
    """Each call's argument text: the entry half's, then the resumed half's for split calls.

    A missing half counts as empty text. Every call has one piece, its entry text, and a
    split call a second one, its exit text; one `take` gathers the pieces of all calls in
    order, so the text of a call is its pieces back to back in the gathered data: the column
    is that data read at the offset of each call's first piece (`join_runs`), not a second
    copy. A few calls (a subset of the lines) are gathered chunk by chunk instead, without
    copying the column.
    """
    args = table["args"]
    padded = pa.chunked_array([*args.chunks, pa.array([""], args.type)], args.type)
    valid = pc.is_valid(args).to_numpy(zero_copy_only=False)
    # The first piece of call i is at i + (split calls before i).
    first_piece = np.arange(len(entry), dtype=np.int64)
    first_piece[1:] += np.cumsum(split[:-1], dtype=np.int64)
    pieces = np.empty(len(entry) + int(np.count_nonzero(split)), dtype=np.int64)
    pieces[first_piece] = entry
    pieces[first_piece[split] + 1] = exit_[split]
    usable = pieces >= 0
    usable[usable] = valid[pieces[usable]]
    pieces[~usable] = len(args)  # the empty text appended after the lines
    if 4 * len(entry) < len(args):
        gathered = take_chunked(padded, pieces)
    else:
        gathered = pc.take(pa.concat_arrays(padded.chunks), pa.array(pieces, pa.int64()))
    return join_runs(gathered, first_piece)


def join_runs(texts: pa.StringArray, starts: np.ndarray) -> pa.StringArray:
    """Elements `starts[i]` up to `starts[i + 1]` (the last: up to the end) of a string array
    without nulls as element i (no copy of the text: the runs already lie back to back)."""
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32)
    offsets = offsets[texts.offset : texts.offset + len(texts) + 1]
    data = texts.buffers()[2] or pa.py_buffer(b"")
    bounds = np.empty(len(starts) + 1, dtype=np.int32)
    bounds[:-1] = offsets[starts]
    bounds[-1] = offsets[-1]
    return pa.Array.from_buffers(pa.string(), len(starts), [None, pa.py_buffer(bounds), data])


def call_texts(view: LineView, calls: CallIndex) -> dict[str, pa.Array]:
    """The `syscall` and `args` columns of the calls: what the fd decoding reads, so it can
    start while `build_calls` makes the others."""
    entry, exit_ = calls.entry, calls.exit
    has_entry = entry >= 0
    first = np.where(has_entry, entry, exit_)
    return {
        "syscall": take(view.syscall_names, view.syscall_code[first]),
        "args": _call_args(view.table, entry, exit_, has_entry & (exit_ >= 0) & (entry != exit_)),
    }


def build_calls(
    view: LineView,
    calls: CallIndex,
    exit_rows: np.ndarray,
    texts: dict[str, pa.Array] | None = None,
    exits: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, pa.Array]:
    """Columns of the `syscalls` table except the fd/target ones (`texts` is `call_texts`
    of the same calls when the caller has it). Whether a task ended after a call is read
    from the view's `+++` lines (`exit_rows`), or from `exits` (their tasks and line
    numbers) when given: a window of a trace sees the lines of earlier windows there."""
    table = view.table
    entry, exit_ = calls.entry, calls.exit
    has_exit = exit_ >= 0
    has_entry = entry >= 0
    # The arithmetic is done in place on a few arrays: every temporary of this size costs
    # fresh pages (see `_gather`).
    duration = _gather(view.duration_ns, exit_)
    exit_clock = _gather(view.clock_ns, exit_)
    entry_clock = _gather(view.clock_ns, entry)
    complete_line = has_entry & has_exit & (entry == exit_)
    # A complete line is stamped at entry; a resumed half at exit (start = exit - -T).
    # (`where=` instead of boolean indexing: no compacted copies of the operands.)
    start = entry_clock
    from_exit = has_exit & ~complete_line & ~np.isnan(duration)
    np.subtract(exit_clock, duration, out=start, where=from_exit)
    # For a complete line the exit clock is the entry clock (same line).
    end = exit_clock
    np.add(end, duration, out=end, where=complete_line)
    missing = np.isnan(duration) & ~np.isnan(start) & ~np.isnan(end)
    np.subtract(end, start, out=duration, where=missing)
    del from_exit, missing

    if texts is None:
        texts = call_texts(view, calls)
    ret = take(column(table, "ret"), exit_)
    errno = take(column(table, "errno"), exit_)
    # A call returned unless its exit half prints `= ?` without an errno (a null `ret` counts
    # as returned, as it always has).
    printed_value = filled_numpy(pc.not_equal(ret, "?"), True)
    returned = has_exit & (printed_value | errno.is_valid().to_numpy(zero_copy_only=False))
    if exits is None:
        exits = (view.tid[exit_rows], view.line_no[exit_rows])
    ended_later = _task_ends_after(calls.tid, view.line_no[np.maximum(entry, 0)], *exits)
    status = np.where(
        returned,
        0,
        np.where(has_exit, 1, np.where(calls.detached, 2, np.where(ended_later, 1, 3))),
    )
    line_no = pa.array(view.line_no, pa.int64())
    return {
        "tid": pa.array(calls.tid, pa.int64()),
        "syscall": texts["syscall"],
        "start_s": _seconds(start),
        "end_s": _seconds(end),
        "duration_s": _seconds(duration),
        "args": texts["args"],
        "ret": ret,
        "retval": take(column(table, "retval"), exit_),
        "ret_target": take(column(table, "ret_target"), exit_),
        "errno": errno,
        "aux": take(column(table, "aux"), exit_),
        "status": pc.take(pa.array(STATUSES), pa.array(status.astype(np.int8))),
        "line_start": take(line_no, entry),
        "line_end": take(line_no, exit_),
    }


def _gather(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`values[rows]` as a new float array, NaN where the row index is -1."""
    out = values.take(rows, mode="clip")
    out[rows < 0] = np.nan
    return out


def _seconds(nanoseconds: np.ndarray) -> pa.Array:
    """Nanoseconds as float seconds (null for NaN); divides in place."""
    nanoseconds /= 1e9
    return pa.array(nanoseconds, pa.float64(), from_pandas=True)


def _task_ends_after(
    tids: np.ndarray, lines: np.ndarray, exit_tids: np.ndarray, exit_lines: np.ndarray
) -> np.ndarray:
    """Whether each call's task has a `+++` line after the given line (`exit_tids` and
    `exit_lines`: the tasks and lines of the `+++` lines)."""
    if len(exit_tids) == 0:
        return np.zeros(len(tids), dtype=bool)
    # Last `+++` line per task, looked up for every call by binary search over the few tasks.
    ended = np.unique(exit_tids)
    last_exit = np.full(len(ended), np.iinfo(np.int64).min)
    np.maximum.at(last_exit, np.searchsorted(ended, exit_tids), exit_lines)
    position = np.minimum(np.searchsorted(ended, tids), len(ended) - 1)
    return (ended[position] == tids) & (last_exit[position] > lines)


def call_durations(calls: pa.Table) -> np.ndarray:
    """Seconds each call took: `-T` where printed, else end - start; NaN when unknown."""
    duration = calls["duration_s"].to_numpy(zero_copy_only=False)
    duration = np.asarray(duration, dtype=np.float64)
    if np.isnan(duration).any():
        start = np.asarray(calls["start_s"].to_numpy(zero_copy_only=False), dtype=np.float64)
        end = np.asarray(calls["end_s"].to_numpy(zero_copy_only=False), dtype=np.float64)
        duration = np.where(np.isnan(duration), end - start, duration)
    return duration


def call_times(
    calls: pa.Table, rows: np.ndarray, last_s: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of the calls at `rows`: start + the -T duration, else the exit time; a
    call still in flight (or detached) when the trace ended ends at `last_s`; the end is NaN
    for calls that never return (``exit``) and for calls without times."""
    starts = numbers(calls["start_s"])[rows]
    ends = starts + numbers(calls["duration_s"])[rows]
    missing = np.isnan(ends)
    if missing.any():
        ends[missing] = numbers(calls["end_s"])[rows[missing]]
    status = calls["status"].take(rows)
    other = np.flatnonzero(~filled_numpy(pc.equal(status, "complete"), False))
    if len(other):
        other_status = status.take(other)
        unfinished = other[is_in(other_status, frozenset({"in-flight", "detached"}))]
        unfinished = unfinished[np.isnan(ends[unfinished])]
        ends[unfinished] = np.nan if last_s is None else last_s
        ends[other[is_in(other_status, frozenset({"no-return"}))]] = np.nan
    return starts, ends


def call_ends(calls: pa.Table) -> np.ndarray:
    """When each call returned: end_s, else start + duration; NaN when unknown."""
    start = numbers(calls["start_s"])
    end = numbers(calls["end_s"])
    return np.where(np.isnan(end), start + call_durations(calls), end)
