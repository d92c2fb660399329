"""The report's `ps_threads` section: the threads of each process over a loop of ``ps``
snapshots.

Built from `ps_snapshots`, `ps_threads` and `ps_nlwp` (`analyzer.formats.ps_threads`): the
snapshots (time, rows, processes), each process's thread count over time (its rows in each
snapshot, or ps's own NLWP column when the layout has one; first, last, peak, growth, with
the lines of the snapshots), and the threads in uninterruptible sleep (D) with their wait
channel. A snapshot's time is its ``date`` stamp's: Unix time when the stamp says it exactly
(``+%s``, ISO with an offset, a zone), else the local time of day.
docs/sources/ps_threads.md documents every key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer.model import Derived
from analyzer.sections.series import clock_of, finished, integer, none, series

TOP_PROCESSES = 10
"""Processes in ``processes`` at most (the largest thread count first, then growth)."""
TOP_THREADS = 20


def _times(snapshots: pd.DataFrame) -> tuple[pd.Series, str | None]:
    """Each snapshot's time and the kind of clock it is on."""
    if snapshots["ts"].notna().any():
        return snapshots["ts"], "epoch"
    if snapshots["clock_s"].notna().any():
        return snapshots["clock_s"], "time_of_day"
    return pd.Series(np.nan, index=snapshots.index), None


def processes(snapshots: pd.DataFrame, nlwp: pd.DataFrame) -> list[dict[str, Any]]:
    """Per process (input, pid): its thread count in each snapshot (NLWP when ps printed it,
    else its rows), biggest first."""
    if nlwp.empty:
        return []
    frame = nlwp.join(
        snapshots.set_index(["input", "snapshot"])[["time", "line_no"]],
        on=["input", "snapshot"],
    )
    frame["count"] = frame["nlwp"].fillna(frame["threads"])
    found = []
    for (name, pid), rows in frame.groupby(["input", "pid"], sort=False):
        rows = rows.sort_values("snapshot")
        values = rows["count"].to_numpy(dtype=np.float64)
        peak = int(np.argmax(values))
        found.append(
            {
                "input": name,
                "pid": int(pid),
                "command": none(rows["command"].iloc[-1]),
                "counted_by": "NLWP" if rows["nlwp"].notna().any() else "rows",
                "snapshots": len(rows),
                "first": int(values[0]),
                "last": int(values[-1]),
                "min": int(values.min()),
                "max": int(values.max()),
                "growth": int(values[-1] - values[0]),
                "first_at": none(rows["time"].iloc[0]),
                "max_at": none(rows["time"].iloc[peak]),
                "first_line": int(rows["line_no"].iloc[0]),
                "max_line": int(rows["line_no"].iloc[peak]),
                "series": series(
                    rows["time"].fillna(rows["snapshot"]).to_numpy(), values, digits=0
                ),
            }
        )
    found.sort(key=lambda row: (-row["max"], -row["growth"], row["pid"]))
    return found[:TOP_PROCESSES]


def d_state(threads: pd.DataFrame) -> list[dict[str, Any]]:
    """Threads ps showed in uninterruptible sleep (state D), most snapshots first."""
    rows = threads[threads["state"] == "D"]
    if rows.empty:
        return []
    found = []
    for (name, tid), group in rows.groupby(["input", "tid"], sort=False):
        wchan = group["wchan"].dropna()
        found.append(
            {
                "input": name,
                "tid": integer(tid),
                "pid": integer(group["pid"].iloc[-1]),
                "command": none(group["command"].iloc[-1]),
                "snapshots": int(group["snapshot"].nunique()),
                "wchan": none(wchan.mode().iloc[0]) if len(wchan) else None,
                "lines": [int(line) for line in sorted(group["line_no"])[:5]],
            }
        )
    found.sort(key=lambda row: -row["snapshots"])
    return found[:TOP_THREADS]


def ps_section(snapshots: pa.Table, threads: pa.Table, nlwp: pa.Table) -> dict[str, Any]:
    """The report's `ps_threads` section for the run's ps tables."""
    snapshot_frame = snapshots.to_pandas()
    times, kind = _times(snapshot_frame)
    snapshot_frame["time"] = times
    thread_frame = threads.drop_columns(["extra"]).to_pandas()
    nlwp_frame = nlwp.to_pandas()
    states = (
        thread_frame.assign(state=thread_frame["state"].fillna("?"))
        .groupby(["input", "snapshot", "state"])
        .size()
        .unstack(fill_value=0)
    )
    listed = []
    for record in snapshot_frame.itertuples(index=False):
        key = (record.input, record.snapshot)
        counts = states.loc[key] if key in states.index else None
        listed.append(
            {
                "input": record.input,
                "snapshot": int(record.snapshot),
                "time": none(record.time),
                "stamp": none(record.stamp),
                "line": int(record.line_no),
                "rows": int(record.rows),
                "processes": none(record.processes),
                "states": {}
                if counts is None
                else {str(state): int(n) for state, n in counts.items() if n},
            }
        )
    notes = []
    if kind is None:
        notes.append(
            "The snapshots have no date stamps: their order is known, not their time "
            "(while :; do date +%s.%N; ps -eLf; sleep 1; done)."
        )
    notes.append(
        "ps's %CPU is the thread's CPU time over its whole life, not its recent use: "
        "top -H or pidstat -t show current CPU."
    )
    return finished(
        {
            "clock": clock_of(kind),
            "snapshots": listed[-300:],
            "processes": processes(snapshot_frame, nlwp_frame),
            "d_state": d_state(thread_frame),
            "notes": notes,
        }
    )


def section(derived: Derived) -> dict[str, Any]:
    """The report's `ps_threads` key."""
    tables = derived.tables
    return {
        "ps_threads": ps_section(tables["ps_snapshots"], tables["ps_threads"], tables["ps_nlwp"])
    }
