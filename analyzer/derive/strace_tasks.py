"""Tasks (threads and processes), signals and exits from a parsed strace trace.

A task is every tid that printed a line or was returned by a successful clone/fork/vfork.
Clone flags say whether the child is a thread (`CLONE_THREAD`: same process) or a process.
The live-task count over time gives `peak_threads`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.strace_calls import EXIT, SIGNAL, TASK_CREATORS, LineView, take_chunked
from analyzer.lazy import lazy_module
from analyzer.schema import EXITS, SIGNALS, TASKS

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_module("pandas")

if TYPE_CHECKING:
    from analyzer.derive.strace import StraceTables


def _seconds(clock_ns: np.ndarray) -> pa.Array:
    return pa.array(clock_ns / 1e9, pa.float64(), from_pandas=True)


def _rows_of(view: LineView, kind: int, region: slice | None) -> np.ndarray:
    """The rows of one line kind, within `region` of the view when given."""
    if region is None:
        return np.flatnonzero(view.kind == kind)
    start = region.start or 0
    return np.flatnonzero(view.kind[region] == kind) + start


def signals_table(
    view: LineView, tids: np.ndarray, input_name: str, region: slice | None = None
) -> pa.Table:
    rows = _rows_of(view, SIGNAL, region)
    table = view.table
    # The argument column is the trace's largest: take its few rows chunk by chunk.
    info = pc.coalesce(take_chunked(table["args"], rows), take_chunked(table["text"], rows))
    return pa.table(
        {
            "input": [input_name] * len(rows),
            "tid": pa.array(tids[rows], pa.int64()),
            "time_s": _seconds(view.clock_ns[rows]),
            "signal": pc.take(table["signal"], rows),
            "info": info,
            "line_no": pa.array(view.line_no[rows], pa.int64()),
        },
        schema=SIGNALS.schema,
    )


def exits_table(view: LineView, input_name: str, region: slice | None = None) -> pa.Table:
    rows = _rows_of(view, EXIT, region)
    table = view.table
    exit_code = pc.take(table["exit_code"], rows)
    signal = pc.take(table["signal"], rows)
    how = np.where(
        exit_code.is_valid().to_numpy(zero_copy_only=False),
        "exited",
        np.where(signal.is_valid().to_numpy(zero_copy_only=False), "killed", "superseded"),
    )
    return pa.table(
        {
            "input": [input_name] * len(rows),
            "tid": pa.array(view.tid[rows], pa.int64()),
            "time_s": _seconds(view.clock_ns[rows]),
            "how": pa.array(how, pa.string()),
            "exit_code": exit_code,
            "signal": signal,
            "core_dumped": pc.take(table["core_dumped"], rows),
            "line_no": pa.array(view.line_no[rows], pa.int64()),
        },
        schema=EXITS.schema,
    )


def _line_span(
    tids: np.ndarray, line_no: np.ndarray, clock_ns: np.ndarray
) -> dict[int, tuple[int, int, float]]:
    """Per task: its first and last line and its latest clock (NaN when it has none)."""
    codes, unique_tids = pd.factorize(tids)
    first = np.full(len(unique_tids), np.iinfo(np.int64).max)
    last = np.full(len(unique_tids), np.iinfo(np.int64).min)
    latest = np.full(len(unique_tids), np.nan)
    np.minimum.at(first, codes, line_no)
    np.maximum.at(last, codes, line_no)
    np.fmax.at(latest, codes, clock_ns)  # fmax skips NaN, as a pandas max does
    return {
        int(tid): (int(f), int(la), float(c))
        for tid, f, la, c in zip(unique_tids, first, last, latest, strict=True)
    }


def _last_comm(view: LineView) -> dict[int, str]:
    """The last `-Y` command name printed by each task."""
    rows = np.flatnonzero(view.table["comm"].is_valid().to_numpy(zero_copy_only=False))
    if len(rows) == 0:
        return {}
    codes, unique_tids = pd.factorize(view.tid[rows])
    last_row = np.full(len(unique_tids), -1)
    np.maximum.at(last_row, codes, rows)
    names = pc.take(view.table["comm"], pa.array(last_row)).to_pylist()
    return {int(tid): name for tid, name in zip(unique_tids, names, strict=True)}


def creations(calls: pa.Table) -> pa.Table:
    """The calls that created a task (a clone/fork/vfork that returned its id), with the
    columns `tasks_from` reads."""
    names = ["tid", "syscall", "args", "retval", "end_s"]
    names += ["row"] if "row" in calls.column_names else []
    return calls.select(names).filter(
        pc.and_(
            pc.is_in(calls["syscall"], value_set=pa.array(sorted(TASK_CREATORS))),
            pc.greater(pc.fill_null(calls["retval"], 0), 0),
        )
    )


def tasks_table(
    view: LineView, tids: np.ndarray, calls: pa.Table, exits: pa.Table, input_name: str
) -> pa.Table:
    """One row per task, with its process, parent, lifetime and how it ended."""
    return tasks_from(
        _line_span(tids, view.line_no, view.clock_ns),
        _last_comm(view),
        creations(calls),
        exits,
        input_name,
    )


class TaskSpans:
    """`_line_span` and `_last_comm` window by window: each task's first and last line, its
    latest clock and the last `-Y` name it printed, over the windows added so far."""

    def __init__(self) -> None:
        self.span: dict[int, tuple[int, int, float]] = {}
        self.comm: dict[int, str] = {}

    def add(self, view: LineView, tids: np.ndarray, rows: np.ndarray) -> None:
        """Add the lines at `rows` of a view (in line order; `tids` are the view's tasks)."""
        window = _line_span(tids[rows], view.line_no[rows], view.clock_ns[rows])
        for tid, (first, last, clock) in window.items():
            known = self.span.get(tid)
            if known is None:
                self.span[tid] = (first, last, clock)
            else:
                self.span[tid] = (
                    min(known[0], first),
                    max(known[1], last),
                    float(np.fmax(known[2], clock)),
                )
        column = view.table["comm"]
        if len(rows) and rows[-1] - rows[0] + 1 == len(rows) and bool(np.all(rows[1:] > rows[:-1])):
            comm = column.slice(int(rows[0]), len(rows))  # a run of rows: no copy
        else:
            comm = column.take(pa.array(rows, pa.int64()))
        if comm.null_count == len(comm):
            return  # no `-Y` names (the usual trace): nothing to look at
        present = np.flatnonzero(comm.is_valid().to_numpy(zero_copy_only=False))
        if len(present):
            names = comm.take(pa.array(present, pa.int64())).to_pylist()
            for tid, name in zip(view.tid[rows[present]].tolist(), names, strict=True):
                self.comm[int(tid)] = name


def tasks_from(
    span: dict[int, tuple[int, int, float]],
    comm: dict[int, str],
    created_calls: pa.Table,
    exits: pa.Table,
    input_name: str,
) -> pa.Table:
    """`tasks_table` from its parts: each task's line span and last name, the calls that
    created tasks (in call order) and the exits."""
    created = created_calls.to_pandas()
    parent: dict[int, int] = {}
    is_thread: dict[int, bool] = {}
    created_at: dict[int, float] = {}
    for row in created.itertuples(index=False):
        child = int(row.retval)
        parent[child] = int(row.tid)
        is_thread[child] = row.syscall in ("clone", "clone3") and "CLONE_THREAD" in (row.args or "")
        created_at[child] = row.end_s

    all_tids = sorted(set(span) | set(parent))
    process: dict[int, int] = {}

    def process_of(tid: int) -> int:
        if tid not in process:
            process[tid] = process_of(parent[tid]) if is_thread.get(tid) and tid in parent else tid
        return process[tid]

    ended = exits.to_pandas().groupby("tid").last() if exits.num_rows else pd.DataFrame()
    rows = []
    for tid in all_tids:
        exit_row = ended.loc[tid] if tid in ended.index else None
        status = None
        if exit_row is not None:
            status = {
                "exited": f"exited {int(exit_row.exit_code)}"
                if not pd.isna(exit_row.exit_code)
                else "exited",
                "killed": f"killed {exit_row.signal}",
                "superseded": "superseded",
            }[exit_row.how]
        first_line, last_line, last_clock = span.get(tid, (None, None, None))
        rows.append(
            {
                "input": input_name,
                "tid": tid,
                "pid": process_of(tid),
                "parent": parent.get(tid),
                "comm": comm.get(tid),
                "is_thread": is_thread.get(tid, False),
                "created_s": created_at.get(tid),
                "exited_s": (
                    exit_row.time_s
                    if exit_row is not None
                    else (last_clock / 1e9 if last_clock is not None else None)
                ),
                "exit_status": status,
                "first_line": first_line,
                "last_line": last_line,
            }
        )
    frame = pd.DataFrame(rows, columns=TASKS.names)
    for name in ("created_s", "exited_s"):
        frame[name] = frame[name].astype("float64")
    return pa.Table.from_pandas(frame, schema=TASKS.schema, preserve_index=False)


def peak_live_tasks(tasks: pa.Table, first_clock_s: float | None) -> int:
    """Most tasks alive at once: born at creation (or trace start), gone at their end."""
    if tasks.num_rows == 0:
        return 0
    frame = tasks.select(["created_s", "exited_s"]).to_pandas()
    start = frame["created_s"].fillna(first_clock_s if first_clock_s is not None else -np.inf)
    end = frame["exited_s"].fillna(np.inf)
    events = pd.concat(
        [pd.DataFrame({"t": start, "d": 1}), pd.DataFrame({"t": end, "d": -1})]
    ).sort_values(["t", "d"], kind="stable")
    return int(events["d"].cumsum().max())


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


_EXEC_PATH = re.compile(r'\s*"((?:[^"\\]|\\.)*)"')


def programs(trace: StraceTables, pids: Iterable[int]) -> dict[int, str]:
    """The program each of these processes ran, by name (the base name of the last
    successful execve's path: strace prints the path whole, while ``argv[0]`` is cut at
    ``-s``); a process with no execve in the trace is left out (a fork runs its parent's
    program)."""
    wanted = sorted({int(pid) for pid in pids})
    if not wanted:
        return {}
    calls = trace.syscalls
    mask = pc.and_(
        pc.and_(
            pc.fill_null(pc.is_in(calls["syscall"], _EXECS), False),
            pc.fill_null(pc.equal(calls["retval"], 0), False),
        ),
        pc.fill_null(pc.is_in(calls["pid"], value_set=pa.array(wanted, pa.int64())), False),
    )
    found: dict[int, str] = {}
    for row in calls.filter(mask).select(["pid", "args"]).to_pylist():
        match = _EXEC_PATH.match(row["args"] or "")
        if match:
            path = match.group(1)
            found[int(row["pid"])] = path.rsplit("/", 1)[-1] or path
    return found
