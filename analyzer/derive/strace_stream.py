"""The strace derivation, window by window: bounded memory for a trace of any length.

Issue 15 measured ≈370 MiB of parsed lines and 463 MiB of derivation per million lines when a
trace was derived whole, so a 5 GB trace could not be read at all. Here the parser hands
over windows of lines (`window_lines`, a million by default), and each window is derived
with the same vectorised steps as before (`strace_calls`, `strace_fds`, `strace_waits`,
`strace_tasks`) and its tables appended to a `TableSink` (a Parquet dataset in the run's
work directory). A small trace is a stream of one window: there is no other code path.
A window is derived `step_lines` (256k) at a time as its lines arrive, each step with the
look-ahead below, so the derivation runs beside the parser's workers; its tables are held
until the first window is derived, then go to memory (a trace of one window) or the work
directory.

What carries from one window to the next (`TraceStream`):

- **Unfinished calls.** A call whose `<unfinished ...>` half has no `<... resumed>` yet is
  not emitted: its entry line is carried into the next window's view (with its task and its
  call number), where the pairing finds its exit. It is emitted in the window where it
  completes, or at the end of the trace (then `in-flight` or `no-return`).
- **Call numbers.** Every call is numbered by the position of its first line in the whole
  trace (the order of the `syscalls` table), when that line is read; the windows' tables
  hold the number in a `row` column (so carried calls, emitted late, keep their place), and
  `wait_fds.row` refers to it.
- **The fd tables.** The replay of `strace_fds` goes on from the tables the previous window
  left (`FdTables`), and the fd-table changes seen so far are kept for the as-of lookups as
  the last change of each fd before the window, plus every change of the fds the carried
  calls use (so a call carried for long is looked up at its own line, as in one pass).
- **Tasks, exits, signals**: each task's line span and name (`TaskSpans`), the calls that
  created tasks, the exits; the tasks table is built from them at the end.
- **The clock** (`ClockCarry`: midnight roll-overs of `-t/-tt`, running sums of `-r`).

Some facts of a one-pass derivation lie ahead of the line they concern: the default task of
lines without a pid prefix (the first pid that no clone created), the fd table of a child
whose first lines come before its parent's clone returns, whether a task exits after a call
that never returned. A window is therefore derived with the next `lookahead_lines` lines in
view (64k by default; only the calls whose first line is in the window are emitted), and
the default task and the clock's kind are decided on the first window and its look-ahead
(taken on the first step, checked once the window is read, and the stream derived again
from the start when they differ: `TraceStream._check_start`).
The windowed derivation equals the one-window derivation whenever no such fact is further
ahead than the look-ahead (tests/test_strace_stream.py checks every strace fixture with
windows of a few lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive import strace_calls, strace_fds, strace_tasks
from analyzer.derive.strace_calls import (
    DETACHED,
    EXIT,
    RESUMED,
    SYSCALL,
    UNFINISHED,
    CallIndex,
    LineView,
)
from analyzer.formats.strace_clock import ClockCarry
from analyzer.lazy import lazy_module
from analyzer.schema import EXITS, SIGNALS, STRACE_LINES, SYSCALLS, WAIT_FDS
from analyzer.store import MemorySink, TableSink, give_back_free_memory

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_module("pandas")

WINDOW_LINES = 1_000_000
"""Lines per window: one window's lines and derivation take ≈0.8 GiB at most. A trace of
one window keeps its tables in memory; a longer one spills them to the work directory."""
LOOKAHEAD_LINES = 65_536
"""Lines after a window kept in view while it is derived (see the module's docstring)."""
STEP_LINES = 262_144
"""Lines derived at a time (at most `WINDOW_LINES`): the deriving thread starts once this
many lines and the look-ahead are parsed, so it works beside the scan workers even on a
trace of one window instead of waiting for the whole window (1M lines: the parse took
1.6-2.3 s wall with the derivation all after the scan). A step's derivation holds a quarter
of a window's temporaries: the 10M-line trace's peak fell from 1,103 to 870 MiB end to end.
131k-line steps cost the same CPU at 1M (more look-ahead derived again at 10M)."""

_CREATORS = pa.array(sorted(strace_calls.TASK_CREATORS))
_INTEGERS = re.compile(r"\d+")


@dataclass
class StreamOptions:
    """How a trace is cut into windows."""

    window_lines: int = WINDOW_LINES
    lookahead_lines: int = LOOKAHEAD_LINES
    step_lines: int = STEP_LINES

    @property
    def step(self) -> int:
        """The lines derived at a time: `step_lines`, at most `window_lines`."""
        return max(1, min(self.step_lines, self.window_lines))


@dataclass
class _Carried:
    """The entry lines of the calls still waiting for their exit half, in line order: the
    lines (their `pid` set to the call's task), their clock and their call numbers."""

    lines: pa.Table
    clock: np.ndarray
    rows: np.ndarray


@dataclass
class TraceFacts:
    """What the derivation learns of the trace as a whole."""

    first_clock_ns: float = np.nan
    last_clock_ns: float = np.nan
    ts_kinds: list[str] = field(default_factory=list)
    has_durations: bool = False
    has_pids: bool = False
    calls: int = 0
    windows: int = 0
    carried_peak: int = 0
    """The most calls carried from one window to the next (unpaired at a window's end)."""


def _empty_events() -> strace_fds.FdEvents:
    return strace_fds.FdEvents(
        task_table={},
        table=np.zeros(0, np.int64),
        fd=np.zeros(0, np.int64),
        position=np.zeros(0, np.int64),
        order=np.zeros(0, np.int64),
        target=pa.array([], pa.string()),
    )


def _concat_events(
    parts: list[strace_fds.FdEvents], task_table: dict[int, int]
) -> strace_fds.FdEvents:
    return strace_fds.FdEvents(
        task_table=task_table,
        table=np.concatenate([part.table for part in parts]),
        fd=np.concatenate([part.fd for part in parts]),
        position=np.concatenate([part.position for part in parts]),
        order=np.concatenate([part.order for part in parts]),
        target=pa.concat_arrays([part.target for part in parts]),
    )


def _select_events(events: strace_fds.FdEvents, keep: np.ndarray) -> strace_fds.FdEvents:
    return strace_fds.FdEvents(
        task_table=events.task_table,
        table=events.table[keep],
        fd=events.fd[keep],
        position=events.position[keep],
        order=events.order[keep],
        target=pc.take(events.target, pa.array(np.flatnonzero(keep), pa.int64())),
    )


def fold_events(
    events: strace_fds.FdEvents, before: int, retained_fds: set[int]
) -> strace_fds.FdEvents:
    """The changes needed to look fds up at positions from `before` on: every change at or
    after it, the last change of each (table, fd) before it (when it left the fd open), and
    every change of the `retained_fds` (those that carried calls look up earlier)."""
    count = len(events.fd)
    if count == 0:
        return events
    late = events.position >= before
    retained = np.isin(events.fd, np.array(sorted(retained_fds), dtype=np.int64))
    early = np.flatnonzero(~late & ~retained)
    keep = late | retained
    if len(early):
        order = early[
            np.lexsort(
                (
                    events.order[early],
                    events.position[early],
                    events.fd[early],
                    events.table[early],
                )
            )
        ]
        table, fd = events.table[order], events.fd[order]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = (table[1:] != table[:-1]) | (fd[1:] != fd[:-1])
        open_now = events.target.take(pa.array(order, pa.int64())).is_valid()
        last &= open_now.to_numpy(zero_copy_only=False)
        keep[order[last]] = True
    return _select_events(events, keep)


class _Spill:
    """The writes of a stream's windows to a sink of files, made in order by a thread of
    their own: encoding a window's tables as Parquet takes ≈0.5 CPU-s per million lines,
    which the caller's thread (the one that derives the windows, the slowest stage of a
    long trace) then does not wait for. `wait` is called before each window is derived, so
    at most one window's tables are held for writing beside the derivation. A sink in
    memory is written to at once."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []

    def write(self, sink: TableSink, name: str, table: pa.Table) -> None:
        if isinstance(sink, MemorySink):
            sink.write(name, table)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="strace-spill")
        self._pending.append(self._pool.submit(sink.write, name, table))

    def wait(self) -> None:
        """Return once every write so far is done (raising what one of them raised)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None


class TraceStream:
    """One trace derived window by window: `feed` the parsed lines (any number of rows at
    a time, in line order), then `finish`. The tables go to `sink` window by window (with a
    `row` column in `syscalls`: the call's number in the trace); `finish` returns the
    trace-wide parts (tasks, facts)."""

    def __init__(
        self,
        input_name: str,
        sink: TableSink | Callable[[bool], TableSink] | None = None,
        *,
        tid0: int | None = None,
        options: StreamOptions | None = None,
    ) -> None:
        self.input_name = input_name
        self._sink = sink
        self.sink: TableSink = MemorySink()
        self.options = options or StreamOptions()
        self._given_tid0 = tid0
        self._spill = _Spill()
        self._reset()

    def _reset(self) -> None:
        """The state of a stream that has been fed nothing."""
        self.tid0 = self._given_tid0
        self.facts = TraceFacts()
        self._buffer: list[pa.Table] = []
        self._buffer_clock: list[np.ndarray] = []
        self._buffered = 0
        self._clock = ClockCarry()
        self._carried: _Carried | None = None
        self._consumed = np.zeros(0, np.int64)
        self._fd = strace_fds.FdTables()
        self._events = _empty_events()
        self._spans = strace_tasks.TaskSpans()
        self._exit_tids: list[np.ndarray] = []
        self._exit_lines: list[np.ndarray] = []
        self._exits: list[pa.Table] = []
        self._created: list[pa.Table] = []
        self._started = False
        self._derived = 0
        self._trimmed_window = 0
        self._held: list[tuple[str, pa.Table]] = []
        """The tables written before the sink is chosen (`_settle`), in order."""
        self._settled = False
        self._early: list[pa.Table] | None = []
        """The lines fed until the decisions taken on the first step (`_start`) are checked
        against those the first window would take (`_check_start`); None once checked."""
        self._fed = 0

    # ---------------------------------------------------------------- input
    def feed(self, lines: pa.Table) -> None:
        """Add parsed lines (a `strace_lines` table) after those fed so far."""
        if lines.num_rows == 0:
            return
        if self._early is not None:
            self._early.append(lines)
            self._fed += lines.num_rows
            window = self.options.window_lines + self.options.lookahead_lines
            if self._fed >= window and self._check_start():
                return  # derived again from the start, these lines included
        self._add(lines)

    def _add(self, lines: pa.Table) -> None:
        self._buffer.append(lines)
        # Before the first window the clock's kind is not decided: `_start` reads it then.
        self._buffer_clock.append(
            self._clock.clock_ns(lines["ts_ns"], lines["ts_kind"]) if self._started else np.zeros(0)
        )
        self._buffered += lines.num_rows
        step, lookahead = self.options.step, self.options.lookahead_lines
        while self._buffered >= step + lookahead:
            self._derive_window(step, final=False)

    def finish(self) -> None:
        """Derive the lines still buffered (the last windows); their tables are all in the
        sink when it returns."""
        try:
            if self._early is not None:
                self._check_start()
            while self._buffered > self.options.step:
                self._derive_window(self.options.step, final=False)
            self._derive_window(self._buffered, final=True)
        finally:
            self._spill.close()

    # ---------------------------------------------------------------- windows
    def _start(self) -> None:
        """Decide what the first step and its look-ahead tell of the whole trace (checked
        against the first window once it is read: `_check_start`)."""
        self._started = True
        lines = (
            pa.concat_tables(self._buffer) if self._buffer else STRACE_LINES.schema.empty_table()
        )
        self._clock.decide(lines["ts_ns"], lines["ts_kind"])
        self.tid0 = self._default_tid(lines)
        self._buffer_clock = [
            self._clock.clock_ns(table["ts_ns"], table["ts_kind"]) for table in self._buffer
        ]

    def _default_tid(self, lines: pa.Table) -> int:
        if self._given_tid0 is not None:
            return self._given_tid0
        from analyzer.derive.strace import _created_children, default_tid

        return default_tid(self.input_name, lines, _created_children(lines))

    def _check_start(self) -> bool:
        """Once the first window and its look-ahead are fed (or the whole trace, when
        shorter), check that they give the default task and clock kinds `_start` took from
        the first step; when they do not (a trace whose first pid prefix or timestamp comes
        later), derive again from the start with theirs, so the result is that of deciding
        on the first window. True when derived again (the early lines were fed again)."""
        early, self._early = self._early or [], None
        if not self._started:
            return False  # nothing derived yet: `_start` decides on these lines
        lines = pa.concat_tables(early)
        clock = ClockCarry()
        clock.decide(lines["ts_ns"], lines["ts_kind"])
        tid0 = self._default_tid(lines)
        if clock.kinds == self._clock.kinds and tid0 == self.tid0:
            return False
        self._reset()
        self._early = None
        self._clock = clock
        self.tid0 = tid0
        self._started = True
        for table in early:
            self._add(table)
        return True

    def _settle(self, final: bool) -> None:
        """Choose where the tables go once the first window is derived (`sink` may be a
        function of whether the trace is one window) and write those held so far."""
        if self._settled or not (final or self._derived >= self.options.window_lines):
            return
        self._settled = True
        if callable(self._sink):
            self.sink = self._sink(final and self._derived <= self.options.window_lines)
        elif self._sink is not None:
            self.sink = self._sink
        held, self._held = self._held, []
        for name, table in held:
            self._spill.write(self.sink, name, table)

    def _write(self, name: str, table: pa.Table) -> None:
        if self._settled:
            self._spill.write(self.sink, name, table)
        else:
            self._held.append((name, table))

    def _take(self, count: int) -> tuple[pa.Table, np.ndarray]:
        """The first `count` buffered lines, removed from the buffer."""
        lines = (
            pa.concat_tables(self._buffer) if self._buffer else STRACE_LINES.schema.empty_table()
        )
        clock = np.concatenate(self._buffer_clock) if self._buffer_clock else np.zeros(0)
        taken, rest = lines.slice(0, count), lines.slice(count)
        self._buffer = [rest] if rest.num_rows else []
        self._buffer_clock = [clock[count:]] if rest.num_rows else []
        self._buffered = rest.num_rows
        return taken, clock[:count]

    def _peek(self, count: int) -> tuple[pa.Table, np.ndarray]:
        """The first `count` buffered lines, left in the buffer."""
        if not self._buffer:
            return STRACE_LINES.schema.empty_table(), np.zeros(0)
        lines = pa.concat_tables(self._buffer).slice(0, count)
        clock = np.concatenate(self._buffer_clock)[:count]
        return lines, clock

    def _give_back_each_window(self) -> None:
        """Give the C heap's free memory back to the system once a window's worth of lines
        has been derived since the last time, for a trace that spills. Steps derived beside
        the scan threads, with Arrow on the C library's malloc (as the command runs), leave
        the heap in pieces that it does not return by itself: the parse of 30M lines grew
        steadily from 756 to 978 MiB while it scanned and a 100M-line run peaked at 1,959
        MiB, where Arrow's own pool stayed flat at ~650 MiB."""
        if isinstance(self.sink, MemorySink):
            return
        window = self._derived // self.options.window_lines
        if window > self._trimmed_window:
            self._trimmed_window = window
            give_back_free_memory()

    def _derive_window(self, count: int, final: bool) -> None:
        if not self._started:
            self._start()
        self._spill.wait()
        self._give_back_each_window()
        window, window_clock = self._take(count)
        lookahead, lookahead_clock = (
            (STRACE_LINES.schema.empty_table(), np.zeros(0))
            if final
            else self._peek(self.options.lookahead_lines)
        )
        self._note_facts(window, window_clock)
        carried = self._carried
        parts = [window, lookahead]
        clocks = [window_clock, lookahead_clock]
        if carried is not None:
            parts.insert(0, carried.lines)
            clocks.insert(0, carried.clock)
        table = pa.concat_tables(parts)
        clock = np.concatenate(clocks)
        c = carried.lines.num_rows if carried is not None else 0
        w = window.num_rows
        assert self.tid0 is not None
        view = LineView.build(table, self.tid0, clock)
        if len(self._consumed):
            used = np.isin(view.line_no, self._consumed)
            used[:c] = False
            view.kind[used] = -1
        tids = strace_calls.effective_tids(view)
        calls = strace_calls.pair_halves(view, tids)
        first = calls.first_rows()
        in_carried = first < c
        in_window = (first >= c) & (first < c + w)
        in_lookahead = first >= c + w

        # Call numbers: carried calls keep theirs; the window's are numbered in line order.
        numbers = np.full(len(first), -1, dtype=np.int64)
        if carried is not None:
            numbers[in_carried] = carried.rows[first[in_carried]]
        window_calls = np.flatnonzero(in_window)
        numbers[window_calls] = self.facts.calls + np.arange(len(window_calls))
        self.facts.calls += len(window_calls)

        pending = np.zeros(len(first), dtype=bool) if final else self._pending(view, tids, calls)
        emit = (in_carried | in_window) & ~pending
        carry = (in_carried | in_window) & pending

        exits = self._exits_in_view(view, c, w, final)
        emitted = calls.select(np.flatnonzero(emit))
        rows = numbers[emit]
        self._emit(view, emitted, rows, exits, calls.select(np.flatnonzero(in_lookahead)))

        # Exit halves in the look-ahead that closed an emitted call are not calls of the next
        # window.
        exit_rows = emitted.exit
        later = exit_rows[(exit_rows >= c + w) & (emitted.entry != exit_rows)]
        next_first = self._buffer[0]["line_no"][0].as_py() if self._buffered else None
        consumed = np.concatenate([self._consumed, view.line_no[later]])
        self._consumed = (
            consumed[consumed >= next_first] if next_first is not None else consumed[:0]
        )

        # Signals, exits and task spans of the window's own lines.
        region = slice(c, c + w)
        self._write("signals", strace_tasks.signals_table(view, tids, self.input_name, region))
        exits_table = strace_tasks.exits_table(view, self.input_name, region)
        self._write("exits", exits_table)
        self._exits.append(exits_table)
        exit_here = np.flatnonzero(view.kind[region] == EXIT) + c
        self._exit_tids.append(view.tid[exit_here])
        self._exit_lines.append(view.line_no[exit_here])
        self._spans.add(view, tids, np.arange(c, c + w))

        # What the next window carries.
        carry_index = calls.select(np.flatnonzero(carry))
        entry = carry_index.entry
        if len(entry):
            kept = table.take(pa.array(entry, pa.int64()))
            pid = STRACE_LINES.schema.get_field_index("pid")
            kept = kept.set_column(
                pid, STRACE_LINES.schema.field("pid"), pa.array(carry_index.tid, pa.int64())
            )
            self._carried = _Carried(kept, clock[entry], numbers[carry])
            self.facts.carried_peak = max(self.facts.carried_peak, len(entry))
        else:
            self._carried = None
        fold_at = 2 * next_first - 1 if next_first is not None else 0
        self._events = fold_events(self._events, fold_at, self._carried_fds())
        self.facts.windows += 1
        self._derived += count
        self._settle(final)
        del view, table

    def _pending(self, view: LineView, tids: np.ndarray, calls: CallIndex) -> np.ndarray:
        """Calls whose entry half is the last call line of its (task, name) in view and
        that have no exit half: their exit may come in a later window."""
        lone = (calls.exit < 0) & (calls.entry >= 0)
        if not lone.any():
            return lone
        is_call = (view.kind == SYSCALL) | (view.kind == UNFINISHED)
        is_call |= (view.kind == RESUMED) | (view.kind == DETACHED)
        rows = np.flatnonzero(is_call)
        task_code, _ = pd.factorize(tids[rows])
        group = task_code.astype(np.int64) * (len(view.syscall_names) + 1) + (
            view.syscall_code[rows] + 1
        )
        last = np.full(int(group.max(initial=0)) + 1, -1, dtype=np.int64)
        np.maximum.at(last, group, rows)
        group_of_row = np.full(len(view.kind), -1, dtype=np.int64)
        group_of_row[rows] = group
        entry = np.maximum(calls.entry, 0)
        unfinished = view.kind[entry] == UNFINISHED
        return lone & unfinished & (last[group_of_row[entry]] == entry)

    def _exits_in_view(
        self, view: LineView, c: int, w: int, final: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The tasks and lines of the `+++` lines seen so far, the view's included."""
        here = np.flatnonzero(view.kind[c:] == EXIT) + c
        tids = np.concatenate([*self._exit_tids, view.tid[here]])
        lines = np.concatenate([*self._exit_lines, view.line_no[here]])
        return tids.astype(np.int64), lines.astype(np.int64)

    def _lookahead_tables(self, view: LineView, ahead: CallIndex) -> dict[int, int]:
        """The fd table each task created by a call in the look-ahead will use, as the
        replay of those calls will assign it (lookups use a task's table as it is later)."""
        creators = np.flatnonzero(
            np.isin(
                view.syscall_code[ahead.first_rows()],
                [view.code_of(name) for name in sorted(strace_calls.TASK_CREATORS)],
            )
        )
        if len(creators) == 0:
            return {}
        index = ahead.select(creators)
        columns = strace_calls.build_calls(view, index, np.zeros(0, np.int64))
        table = dict(self._fd.task_table)
        later: dict[int, int] = {}
        fresh = len(self._fd.tables)
        for tid, name, args, retval in zip(
            columns["tid"].to_pylist(),
            columns["syscall"].to_pylist(),
            columns["args"].to_pylist(),
            columns["retval"].to_pylist(),
            strict=True,
        ):
            if retval is None or retval <= 0:
                continue
            if name in ("clone", "clone3") and "CLONE_FILES" in (args or ""):
                later[retval] = table.get(tid, 0)
            else:
                later[retval] = fresh
                fresh += 1
            table[retval] = later[retval]
        return later

    def _emit(
        self,
        view: LineView,
        calls: CallIndex,
        rows: np.ndarray,
        exits: tuple[np.ndarray, np.ndarray],
        ahead: CallIndex,
    ) -> None:
        """Build, resolve and write the calls of this window that are complete."""
        texts = strace_calls.call_texts(view, calls)
        columns = strace_calls.build_calls(view, calls, np.zeros(0, np.int64), texts, exits)
        columns["row"] = pa.array(rows, pa.int64())
        codes = view.syscall_code[calls.first_rows()]
        named = codes >= 0
        changers = strace_fds.changes_fds(view.syscall_names)[codes] & named
        # Only the columns the replay reads, and one gather each (not a filter of every column).
        changer_rows = pa.array(np.flatnonzero(changers), pa.int64())
        changed = {
            name: columns[name].take(changer_rows) for name in (*strace_fds.REPLAYED_COLUMNS, "row")
        }
        replayed = strace_fds.replay_calls(changed, self._fd)
        task_table = {**replayed.task_table, **self._lookahead_tables(view, ahead)}
        events = _concat_events([self._events, replayed], task_table)
        decorated = strace_fds.decorated_fds(
            texts["syscall"],
            texts["args"],
            strace_fds.takes_fd_first(view.syscall_names)[codes] & named,
        )
        resolved = strace_fds.resolve(columns, events, decorated)
        # Imported here: strace.py imports this module.
        from analyzer.derive.strace import waits_table

        wait_fds = waits_table(resolved, events, self.input_name)
        wait_fds = wait_fds.set_column(
            WAIT_FDS.names.index("row"),
            WAIT_FDS.schema.field("row"),
            pc.take(resolved["row"], wait_fds["row"]),
        )
        count = len(rows)
        resolved["input"] = pa.repeat(pa.scalar(self.input_name, pa.string()), count)
        resolved["pid"] = pa.nulls(count, pa.int64())
        names = [*SYSCALLS.names, "row"]
        schema = SYSCALLS.schema.append(pa.field("row", pa.int64()))
        self._write("syscalls", pa.table({name: resolved[name] for name in names}, schema=schema))
        self._write("wait_fds", wait_fds)
        created = strace_tasks.creations(
            pa.table(
                {
                    name: resolved[name]
                    for name in ("tid", "syscall", "args", "retval", "end_s", "row")
                }
            )
        )
        if created.num_rows:
            self._created.append(created)
        # The events of this window join those kept for later lookups.
        self._events = _concat_events([self._events, replayed], replayed.task_table)

    def _carried_fds(self) -> set[int]:
        """Every number in the arguments of the carried calls: the fds they may look up."""
        if self._carried is None:
            return set()
        found: set[int] = set()
        for text in self._carried.lines["args"].to_pylist():
            found.update(int(number) for number in _INTEGERS.findall(text or "")[:64])
        return found

    def _note_facts(self, lines: pa.Table, clock: np.ndarray) -> None:
        facts = self.facts
        stamped = clock[~np.isnan(clock)]
        if len(stamped):
            facts.first_clock_ns = float(np.fmin(facts.first_clock_ns, stamped.min()))
            facts.last_clock_ns = float(np.fmax(facts.last_clock_ns, stamped.max()))
        for kind in pc.unique(lines["ts_kind"]).to_pylist():
            if kind is not None and kind not in facts.ts_kinds:
                facts.ts_kinds.append(kind)
        if not facts.has_durations:
            facts.has_durations = bool(pc.any(pc.is_valid(lines["duration_ns"])).as_py() or False)
        if not facts.has_pids:
            facts.has_pids = bool(pc.any(pc.is_valid(lines["pid"])).as_py() or False)

    # ---------------------------------------------------------------- the end
    def tasks(self) -> pa.Table:
        """The tasks table of the whole trace (after `finish`)."""
        created = (
            pa.concat_tables(self._created)
            if self._created
            else pa.table(
                {
                    "tid": pa.array([], pa.int64()),
                    "syscall": pa.array([], pa.string()),
                    "args": pa.array([], pa.string()),
                    "retval": pa.array([], pa.int64()),
                    "end_s": pa.array([], pa.float64()),
                    "row": pa.array([], pa.int64()),
                }
            )
        )
        created = created.take(pc.sort_indices(created["row"])).drop_columns(["row"])
        exits = pa.concat_tables(self._exits) if self._exits else EXITS.schema.empty_table()
        return strace_tasks.tasks_from(
            self._spans.span, self._spans.comm, created, exits, self.input_name
        )


def _in_order(rows: pa.ChunkedArray) -> bool:
    """Whether call numbers never decrease (a trace of one window, nothing carried late)."""
    numbers = rows.to_numpy()
    return bool((numbers[1:] >= numbers[:-1]).all())


def sorted_calls(calls: pa.Table) -> pa.Table:
    """A windowed `syscalls` table in call order, without its `row` column (not copied when
    it is in order already)."""
    if calls.num_rows and not _in_order(calls["row"]):
        calls = calls.take(pc.sort_indices(calls["row"]))
    return calls.drop_columns(["row"]) if "row" in calls.column_names else calls


def sorted_waits(waits: pa.Table) -> pa.Table:
    """Windowed `wait_fds` rows in call order (each call's fds in set order)."""
    if waits.num_rows == 0 or _in_order(waits["row"]):
        return waits
    return waits.take(pc.sort_indices(waits["row"]))


__all__ = [
    "LOOKAHEAD_LINES",
    "SIGNALS",
    "WINDOW_LINES",
    "StreamOptions",
    "TraceFacts",
    "TraceStream",
    "fold_events",
    "sorted_calls",
    "sorted_waits",
]
