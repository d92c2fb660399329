"""The report's `pidstat` section: per-thread CPU and context switches, interval by interval.

Built from `pidstat_threads` and `pidstat_intervals` (`analyzer.formats.pidstat`): the report
times, the busiest threads (mean and peak %CPU, its user/system split, %wait: time runnable
but not running, and their voluntary and involuntary context switches per second), each
process's thread rows per interval (``-t``; the ``threads`` column with ``-v``), and the
threads that waited for a CPU most. The ``Average:`` rows are left out of the series. Times
are the local time of day pidstat printed (its banner has the date).
docs/sources/pidstat.md documents every key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer.model import Derived
from analyzer.sections.series import clock_of, finished, integer, none, series

TOP_THREADS = 20
TOP_PROCESSES = 10
WAIT_PCT = 10.0
"""Mean %wait from which a thread is listed as waiting for a CPU."""


def _time(frame: pd.DataFrame) -> tuple[pd.Series, str | None]:
    if frame["clock_s"].notna().any():
        return frame["clock_s"], "time_of_day"
    if frame["ts"].notna().any():
        return frame["ts"], "epoch"
    return pd.Series(np.nan, index=frame.index), None


def busiest_threads(rows: pd.DataFrame, limit: int = TOP_THREADS) -> list[dict[str, Any]]:
    """Per task (input, pid, tid): its %CPU over the intervals, busiest first."""
    if rows.empty or rows["cpu_pct"].isna().all():
        return []
    keys = ["input", "pid", "tid"]
    frame = rows.assign(tid=rows["tid"].fillna(-1))
    grouped = frame.groupby(keys, sort=False, dropna=False)
    table = grouped.agg(
        command=("command", "last"),
        intervals=("interval", "nunique"),
        mean_cpu_pct=("cpu_pct", "mean"),
        usr_pct=("usr_pct", "mean"),
        system_pct=("system_pct", "mean"),
        wait_pct=("wait_pct", "mean"),
        cswch_s=("cswch_s", "mean"),
        nvcswch_s=("nvcswch_s", "mean"),
        first_line=("line_no", "min"),
    )
    peak = frame.loc[
        frame["cpu_pct"]
        .fillna(-1)
        .groupby([frame[key] for key in keys], sort=False, dropna=False)
        .idxmax()
    ].set_index(keys)[["cpu_pct", "time", "line_no"]]
    table = table.join(peak).sort_values("mean_cpu_pct", ascending=False, na_position="last")
    found = []
    for (name, pid, tid), row in table.head(limit).iterrows():
        found.append(
            {
                "input": name,
                "pid": integer(pid),
                "tid": None if tid == -1 else integer(tid),
                "command": none(row["command"]),
                "intervals": int(row["intervals"]),
                **{
                    key: none(row[key])
                    for key in (
                        "mean_cpu_pct",
                        "usr_pct",
                        "system_pct",
                        "wait_pct",
                        "cswch_s",
                        "nvcswch_s",
                    )
                },
                "max_cpu_pct": none(row["cpu_pct"]),
                "max_at": none(row["time"]),
                "max_line": none(row["line_no"]),
                "first_line": int(row["first_line"]),
            }
        )
    for entry, ((_name, pid, tid), _row) in zip(found, table.head(limit).iterrows(), strict=True):
        rows = frame[
            (frame["input"] == entry["input"]) & (frame["pid"] == pid) & (frame["tid"] == tid)
        ]
        entry["series"] = series(
            rows["time"].fillna(rows["interval"]).to_numpy(), rows["cpu_pct"].to_numpy(), digits=1
        )
    return found


def thread_counts(threads: pd.DataFrame, limit: int = TOP_PROCESSES) -> list[dict[str, Any]]:
    """The thread rows of each process per interval (``-t``), or its ``threads`` column
    (``-v``)."""
    measured = threads[~threads["average"]]
    found = []
    thread_rows = measured[measured["thread"]]
    with_column = measured[measured["threads"].notna() & ~measured["thread"]]
    if not thread_rows.empty:
        counts = thread_rows.groupby(["input", "pid", "interval"]).agg(
            count=("tid", "size"), time=("time", "first"), line=("line_no", "min")
        )
        how = "thread rows (-t)"
    elif not with_column.empty:
        counts = with_column.groupby(["input", "pid", "interval"]).agg(
            count=("threads", "max"), time=("time", "first"), line=("line_no", "min")
        )
        how = "threads column (-v)"
    else:
        return []
    commands = measured[~measured["thread"]].groupby(["input", "pid"])["command"].last()
    for (name, pid), rows in counts.reset_index().groupby(["input", "pid"], sort=False):
        rows = rows.sort_values("interval")
        values = rows["count"].to_numpy(dtype=np.float64)
        peak = int(np.argmax(values))
        found.append(
            {
                "input": name,
                "pid": integer(pid),
                "command": none(commands.get((name, pid))),
                "counted_by": how,
                "first": int(values[0]),
                "last": int(values[-1]),
                "min": int(values.min()),
                "max": int(values.max()),
                "max_at": none(rows["time"].iloc[peak]),
                "max_line": int(rows["line"].iloc[peak]),
                "first_line": int(rows["line"].iloc[0]),
                "series": series(
                    rows["time"].fillna(rows["interval"]).to_numpy(), values, digits=0
                ),
            }
        )
    found.sort(key=lambda row: -row["max"])
    return found[:limit]


def pidstat_section(threads: pa.Table, intervals: pa.Table) -> dict[str, Any]:
    """The report's `pidstat` section for the run's pidstat tables."""
    frame = threads.drop_columns(["extra"]).to_pandas()
    frame["time"], kind = _time(frame)
    interval_frame = intervals.to_pandas()
    interval_frame["time"], _ = _time(interval_frame)
    measured = frame[~frame["average"]]
    tasks = measured[measured["thread"]] if measured["thread"].any() else measured
    busiest = busiest_threads(tasks)
    waiting = [row for row in busiest if (row["wait_pct"] or 0.0) >= WAIT_PCT]
    listed = [
        {
            "input": record.input,
            "interval": int(record.interval),
            "time": none(record.time),
            "line": int(record.line_no),
            "tasks": int(record.tasks),
            "thread_rows": int(record.thread_rows),
            "processes": int(record.processes),
        }
        for record in interval_frame.itertuples(index=False)
    ]
    notes = [
        "pidstat's %CPU is a share of one CPU over the interval; %wait is the time the task "
        "was runnable but waited for a CPU (sysstat 11.5+)."
    ]
    if not measured.empty and not measured["thread"].any():
        notes.append("No thread rows: pidstat ran without -t, so these are processes.")
    return finished(
        {
            "clock": clock_of(kind),
            "intervals": listed[-300:],
            "busiest_threads": busiest,
            "waiting_for_cpu": waiting,
            "thread_counts": thread_counts(frame),
            "notes": notes,
        }
    )


def section(derived: Derived) -> dict[str, Any]:
    """The report's `pidstat` key."""
    tables = derived.tables
    return {"pidstat": pidstat_section(tables["pidstat_threads"], tables["pidstat_intervals"])}
