"""Tasks (threads and processes), signals and exits from a parsed strace trace.

A task is every tid that printed a line or was returned by a successful clone/fork/vfork.
Clone flags say whether the child is a thread (`CLONE_THREAD`: same process) or a process.
The live-task count over time gives `peak_threads`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.strace_calls import TASK_CREATORS, LineView
from analyzer.schema import EXITS, SIGNALS, TASKS


def _seconds(clock_ns: np.ndarray) -> pa.Array:
    return pa.array(clock_ns / 1e9, pa.float64(), from_pandas=True)


def signals_table(view: LineView, tids: np.ndarray, input_name: str) -> pa.Table:
    rows = np.flatnonzero(view.kind == "signal")
    table = view.table
    info = pc.coalesce(pc.take(table["args"], rows), pc.take(table["text"], rows))
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


def exits_table(view: LineView, input_name: str) -> pa.Table:
    rows = np.flatnonzero(view.kind == "exit")
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


def tasks_table(
    view: LineView, tids: np.ndarray, calls: pa.Table, exits: pa.Table, input_name: str
) -> pa.Table:
    """One row per task, with its process, parent, lifetime and how it ended."""
    seen = pd.DataFrame({"tid": tids, "line": view.line_no, "clock": view.clock_ns})
    span = seen.groupby("tid").agg(
        first_line=("line", "min"), last_line=("line", "max"), last_clock=("clock", "max")
    )
    comm = (
        pd.DataFrame({"tid": view.tid, "comm": view.table["comm"].to_numpy(zero_copy_only=False)})
        .dropna()
        .groupby("tid")["comm"]
        .last()
    )

    created = calls.filter(
        pc.and_(
            pc.is_in(calls["syscall"], value_set=pa.array(sorted(TASK_CREATORS))),
            pc.greater(pc.fill_null(calls["retval"], 0), 0),
        )
    ).to_pandas()
    parent: dict[int, int] = {}
    is_thread: dict[int, bool] = {}
    created_at: dict[int, float] = {}
    for row in created.itertuples(index=False):
        child = int(row.retval)
        parent[child] = int(row.tid)
        is_thread[child] = row.syscall in ("clone", "clone3") and "CLONE_THREAD" in (row.args or "")
        created_at[child] = row.end_s

    all_tids = sorted(set(span.index.astype(int)) | set(parent))
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
        has_span = tid in span.index
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
                    else (span.loc[tid, "last_clock"] / 1e9 if has_span else None)
                ),
                "exit_status": status,
                "first_line": int(span.loc[tid, "first_line"]) if has_span else None,
                "last_line": int(span.loc[tid, "last_line"]) if has_span else None,
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
