"""From parsed strace lines to the derived strace tables: calls, signals, exits, tasks.

`derive` is the strace source's derivation stage: the `-ff` files of one capture are merged
into one trace (`strace_ff`), every trace is derived on its own (`derive_trace`: pair
`<unfinished ...>` halves, resolve fds, build the tasks) and the tables of all traces are
concatenated. `StraceTables` is one trace's result; the passes read them one by one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.derive import strace_calls, strace_fds, strace_ff, strace_stream, strace_waits
from analyzer.derive.strace_calls import take
from analyzer.formats.strace import LineStats, ParsedLines, WindowedParse
from analyzer.formats.strace_bytes import int64_array
from analyzer.inputs import LineChunk
from analyzer.model import Derived, ParsedInput
from analyzer.schema import (
    EXITS,
    SIGNALS,
    STRACE_LINES,
    SYSCALLS,
    TASKS,
    WAIT_FDS,
    TableSpec,
)
from analyzer.store import ParquetSink, give_back_free_memory, map_table, sink_for

TRACE_TABLES: tuple[TableSpec, ...] = (SYSCALLS, WAIT_FDS, SIGNALS, EXITS, TASKS)
"""The tables every trace has, in the order the run's tables list them."""


@dataclass(frozen=True)
class StraceTables:
    """Everything derived from one trace (one input, or one merged -ff set)."""

    input: str
    syscalls: pa.Table
    signals: pa.Table
    exits: pa.Table
    tasks: pa.Table
    first_s: float | None
    """Earliest timestamp on the trace clock, in seconds (None without timestamps)."""
    last_s: float | None
    clock: str | None = None
    """How the trace clock reads: ``clock`` (-t/-tt: seconds since the first day's midnight,
    local time), ``epoch`` (-ttt), ``relative`` (-r), ``mixed`` or None (no timestamps)."""
    has_durations: bool = False
    """Whether the trace has `-T` durations."""
    follows_forks: bool = False
    """Whether the trace shows more than one task (-f/-ff), so other threads are visible."""
    wait_fds: pa.Table = field(default_factory=WAIT_FDS.schema.empty_table)
    """The fds in the sets of the trace's poll/select calls (`strace_waits`); ``row`` is the
    call's row in `syscalls`."""
    memo: dict[tuple[object, ...], object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """What the passes compute once per trace and several of them read (e.g.
    `passes.targets.slice_paths`); a copy (`dataclasses.replace`) starts without it."""

    @property
    def wall_s(self) -> float | None:
        if self.first_s is None or self.last_s is None:
            return None
        return self.last_s - self.first_s


def default_tid(input_name: str, lines: pa.Table, syscalls_created: set[int]) -> int:
    """The task that printed lines without a pid prefix.

    `-ff` files are named `PREFIX.PID` (before any compression suffix); otherwise it is the
    first pid seen in a prefix that was not created inside the trace (stderr captures print no
    pid until a second task exists).
    """
    if match := strace_ff.ff_match(input_name):
        return int(match["pid"])
    pids = pc.unique(pc.drop_null(lines["pid"])).to_pylist()
    for pid in pids:
        if pid not in syscalls_created:
            return int(pid)
    return 0


def _created_children(lines: pa.Table) -> set[int]:
    creators = pc.is_in(lines["syscall"], value_set=pa.array(sorted(strace_calls.TASK_CREATORS)))
    returned = lines["retval"].filter(
        pc.and_(creators, pc.greater(pc.fill_null(lines["retval"], 0), 0))
    )
    return set(returned.to_pylist())


def waits_table(
    columns: dict[str, pa.Array], events: strace_fds.FdEvents, input_name: str
) -> pa.Table:
    """The `wait_fds` of the calls in `columns`, each fd's target resolved at its call (the
    `-y` decoration, else the replayed fd tables). A call whose set holds one fd takes that
    fd and its target as its own (`columns` is updated in place)."""
    found = strace_waits.decode(columns["syscall"], columns["args"], columns["aux"])
    rows = found["row"]
    tids = columns["tid"].to_numpy()[rows]
    anchors = pc.coalesce(columns["line_start"], columns["line_end"]).to_numpy()[rows] * 2
    event = strace_fds.events_at(events, tids, found["fd"], anchors)
    decorated = pa.array(found["decorated"], pa.string())
    replayed = take(events.target, event)
    targets = pc.coalesce(decorated, replayed)
    kinds = strace_fds.classify_targets(targets)
    pipes = filled_numpy(pc.equal(kinds, "pipe"), False)
    copies = np.zeros(len(rows), dtype=np.int64)
    if pipes.any():
        copies[pipes] = strace_fds.open_copies(events, tids[pipes], event[pipes], anchors[pipes])
    single = strace_waits.single_fd_rows(rows, found["fd"])
    if len(single):
        calls = rows[single]
        fd = columns["fd"].to_numpy(zero_copy_only=False).astype(np.float64)
        fd[calls] = found["fd"][single]
        index = np.full(len(fd), -1, dtype=np.int64)
        index[calls] = single
        keep = index < 0
        columns["fd"] = int64_array(np.nan_to_num(fd).astype(np.int64), ~np.isnan(fd))
        columns["target"] = pc.if_else(keep, columns["target"], take(targets, index))
        columns["target_kind"] = pc.if_else(keep, columns["target_kind"], take(kinds, index))
    return pa.table(
        {
            "input": pa.repeat(pa.scalar(input_name, pa.string()), len(rows)),
            "row": pa.array(rows, pa.int64()),
            "tid": pa.array(tids, pa.int64()),
            "fd": pa.array(found["fd"], pa.int64()),
            "want": pa.array(found["want"], pa.string()),
            "ready": pa.array(found["ready"], pa.bool_()),
            "target": targets,
            "target_kind": kinds,
            "own_pipe": pa.array(copies >= 2, pa.bool_()),
        },
        schema=WAIT_FDS.schema,
    )


def trace_tables(stream: strace_stream.TraceStream) -> StraceTables:
    """The tables of a finished `TraceStream`, in call order (read back from its sink), with
    each call's process from the tasks table."""
    name = stream.input_name
    sink = stream.sink
    tasks = stream.tasks()
    schema = SYSCALLS.schema.append(pa.field("row", pa.int64()))
    pid_at = SYSCALLS.names.index("pid")

    def with_pids(calls: pa.Table) -> pa.Table:
        if "row" in calls.column_names:
            calls = calls.drop_columns(["row"])
        pid_column = pc.take(tasks["pid"], pc.index_in(calls["tid"], value_set=tasks["tid"]))
        return calls.set_column(pid_at, SYSCALLS.schema.field("pid"), pid_column)

    if isinstance(sink, ParquetSink):
        # Merged into call order on disk and mapped, not read: the calls of a long trace
        # are never all in memory (`store.map_table`).
        if sink.files("syscalls"):
            target = sink.folder / "syscalls.arrow"
            # What the windows' derivation freed is given back first: the merge does not
            # add its peak on top of it.
            give_back_free_memory()
            sink.write_sorted("syscalls", "row", target, with_pids)
            syscalls = map_table(target)
        else:
            syscalls = SYSCALLS.schema.empty_table()
        wait_fds = sink.read_sorted("wait_fds", WAIT_FDS.schema, "row")
    else:
        syscalls = with_pids(strace_stream.sorted_calls(sink.read("syscalls", schema)))
        wait_fds = strace_stream.sorted_waits(sink.read("wait_fds", WAIT_FDS.schema))
    facts = stream.facts
    kinds = facts.ts_kinds
    return StraceTables(
        input=name,
        syscalls=syscalls,
        wait_fds=wait_fds,
        signals=sink.read("signals", SIGNALS.schema),
        exits=sink.read("exits", EXITS.schema),
        tasks=tasks,
        first_s=None if np.isnan(facts.first_clock_ns) else facts.first_clock_ns / 1e9,
        last_s=None if np.isnan(facts.last_clock_ns) else facts.last_clock_ns / 1e9,
        clock=kinds[0] if len(kinds) == 1 else ("mixed" if kinds else None),
        has_durations=facts.has_durations,
        follows_forks=facts.has_pids or tasks.num_rows > 1,
    )


def derive_trace(
    input_name: str,
    parsed: ParsedLines,
    options: strace_stream.StreamOptions | None = None,
) -> StraceTables:
    """Pair halves, resolve fds, and build the syscalls/signals/exits/tasks tables of one
    trace's parsed lines: `strace_stream` fed all of them (in windows of
    `options.window_lines`)."""
    stream = strace_stream.TraceStream(input_name, options=options)
    stream.feed(parsed.lines)
    stream.finish()
    return trace_tables(stream)


def stream_input(
    chunks: Iterator[LineChunk],
    input_name: str,
    engine: str = "fast",
    threads: int = 2,
    on_chunk: Callable[[LineChunk], None] | None = None,
    options: strace_stream.StreamOptions | None = None,
) -> ParsedLines:
    """Parse one trace and derive it as it is read: the parsed chunks are fed to a
    `TraceStream` (derived window by window while the next chunks are parsed) and then
    dropped, so the lines of the whole trace are never held. A trace of more than one window
    spills its windows' tables to the run's work directory (`analyzer.store`), read back in
    call order once derived. The result has no `lines`; its `stats` and `trace` hold what
    the report and the derivation need of them."""
    windows = WindowedParse(chunks, input_name, engine, threads, on_chunk, window_lines=1)
    stream = strace_stream.TraceStream(input_name, sink_for(input_name), options=options)
    stats = LineStats()
    for lines in windows:
        stats.add(lines, None)
        stream.feed(lines)
    stream.finish()
    stats.first_clock_ns = stream.facts.first_clock_ns
    stats.last_clock_ns = stream.facts.last_clock_ns
    return ParsedLines(
        lines=STRACE_LINES.schema.empty_table(),
        unparsed=windows.unparsed,
        line_count=windows.line_count,
        non_utf8_lines=windows.non_utf8_lines,
        stats=stats,
        trace=trace_tables(stream),
    )


def derive_group(members: Sequence[tuple[str, ParsedLines]]) -> StraceTables:
    """Derive one trace: a single input, or the files of an -ff set merged in time order."""
    if len(members) == 1:
        name, parsed = members[0]
        return derive_trace(name, parsed)
    merged = strace_ff.merge(members)
    derived = derive_trace(strace_ff.set_name([name for name, _ in members]), merged.parsed)
    restored = strace_ff.restore_sources(
        {
            "syscalls": derived.syscalls,
            "wait_fds": derived.wait_fds,
            "signals": derived.signals,
            "exits": derived.exits,
            "tasks": derived.tasks,
        },
        merged,
    )
    return dataclasses.replace(
        derived,
        syscalls=restored["syscalls"],
        wait_fds=restored["wait_fds"],
        signals=restored["signals"],
        exits=restored["exits"],
        tasks=restored["tasks"],
    )


def derive(inputs: Sequence[ParsedInput[ParsedLines]]) -> Derived:
    """Every strace input of the run derived: one trace per input or per `-ff` set (in the
    order of their first file), their tables concatenated (empty tables without strace
    input); ``extras["traces"]`` holds the traces one by one."""
    groups = strace_ff.ff_groups([source.name for source in inputs])
    traces = tuple(
        inputs[group[0]].parsed.trace
        if len(group) == 1 and inputs[group[0]].parsed.trace is not None
        else derive_group([(inputs[i].name, inputs[i].parsed) for i in group])
        for group in groups
    )
    tables = {
        spec.name: (
            pa.concat_tables([getattr(trace, spec.name) for trace in traces])
            if traces
            else spec.schema.empty_table()
        )
        for spec in TRACE_TABLES
    }
    return Derived(tables, {"traces": traces})
