"""From parsed strace lines to the derived strace tables: calls, signals, exits, tasks.

`derive` is the strace source's derivation stage: the `-ff` files of one capture are merged
into one trace (`strace_ff`), every trace is derived on its own (`derive_trace`: pair
`<unfinished ...>` halves, resolve fds, build the tasks) and the tables of all traces are
concatenated. `StraceTables` is one trace's result; the passes read them one by one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive import strace_calls, strace_fds, strace_ff, strace_tasks, strace_waits
from analyzer.derive.strace_calls import take
from analyzer.formats.strace import ParsedLines
from analyzer.formats.strace_bytes import int64_array
from analyzer.model import Derived, ParsedInput
from analyzer.schema import EXITS, SIGNALS, SYSCALLS, TASKS, WAIT_FDS, TableSpec

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

    @property
    def wall_s(self) -> float | None:
        if self.first_s is None or self.last_s is None:
            return None
        return self.last_s - self.first_s


_FF_SUFFIX = re.compile(r"\.(\d{1,10})$")


def default_tid(input_name: str, lines: pa.Table, syscalls_created: set[int]) -> int:
    """The task that printed lines without a pid prefix.

    `-ff` files are named `PREFIX.PID`; otherwise it is the first pid seen in a prefix that was
    not created inside the trace (stderr captures print no pid until a second task exists).
    """
    if match := _FF_SUFFIX.search(input_name):
        return int(match.group(1))
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
    pipes = np.asarray(pc.fill_null(pc.equal(kinds, "pipe"), False).to_numpy(False), dtype=bool)
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


def derive_trace(input_name: str, parsed: ParsedLines) -> StraceTables:
    """Pair halves, resolve fds, and build the syscalls/signals/exits/tasks tables."""
    lines = parsed.lines
    tid0 = default_tid(input_name, lines, _created_children(lines))
    view = strace_calls.LineView.build(lines, tid0, parsed.clock_ns)
    tids = strace_calls.effective_tids(view)
    calls_index = strace_calls.pair_halves(view, tids)
    exit_rows = np.flatnonzero(view.kind == strace_calls.EXIT)
    # The fd tables are replayed from the few calls that change them (a Python loop) while
    # the columns of all calls are gathered (Arrow and numpy, which release the GIL).
    changers = calls_index.select(
        np.isin(
            view.syscall_code[calls_index.first_rows()],
            np.flatnonzero(strace_fds.changes_fds(view.syscall_names)),
        )
    )
    # The first-argument fds are decoded (Arrow and numpy again) as soon as the argument texts
    # exist, beside the other columns.
    with ThreadPoolExecutor(max_workers=2) as pool:
        events = pool.submit(
            lambda: strace_fds.replay_calls(strace_calls.build_calls(view, changers, exit_rows))
        )
        texts = strace_calls.call_texts(view, calls_index)
        decorated = pool.submit(strace_fds.decorated_fds, texts["syscall"], texts["args"])
        calls = strace_calls.build_calls(view, calls_index, exit_rows, texts)
        replayed = events.result()
        columns = strace_fds.resolve(calls, replayed, decorated.result())
    count = len(calls_index.entry)
    wait_fds = waits_table(columns, replayed, input_name)
    columns["input"] = pa.repeat(pa.scalar(input_name, pa.string()), count)
    columns["pid"] = pa.nulls(count, pa.int64())
    syscalls = pa.table({name: columns[name] for name in SYSCALLS.names}, schema=SYSCALLS.schema)

    exits = strace_tasks.exits_table(view, input_name)
    signals = strace_tasks.signals_table(view, tids, input_name)
    tasks = strace_tasks.tasks_table(view, tids, syscalls, exits, input_name)
    pid_column = pc.take(tasks["pid"], pc.index_in(syscalls["tid"], value_set=tasks["tid"]))
    syscalls = syscalls.set_column(
        SYSCALLS.names.index("pid"), SYSCALLS.schema.field("pid"), pid_column
    )

    clock_values = view.clock_ns[~np.isnan(view.clock_ns)]
    clock_kinds = [kind for kind in pc.unique(lines["ts_kind"]).to_pylist() if kind is not None]
    return StraceTables(
        input=input_name,
        syscalls=syscalls,
        wait_fds=wait_fds,
        signals=signals,
        exits=exits,
        tasks=tasks,
        first_s=float(clock_values.min()) / 1e9 if len(clock_values) else None,
        last_s=float(clock_values.max()) / 1e9 if len(clock_values) else None,
        clock=clock_kinds[0] if len(clock_kinds) == 1 else ("mixed" if clock_kinds else None),
        has_durations=bool(pc.any(pc.is_valid(lines["duration_ns"])).as_py() or False),
        follows_forks=bool(pc.any(pc.is_valid(lines["pid"])).as_py() or False)
        or tasks.num_rows > 1,
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
        derive_group([(inputs[i].name, inputs[i].parsed) for i in group]) for group in groups
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
