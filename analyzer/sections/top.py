"""The report's `top` section: what `top -b` (``-H``: one row per thread) saw, iteration by
iteration.

Built from `top_samples`, `top_threads` (`analyzer.formats.top`): the summary area over time
(load, threads running and in D, CPU shares), the busiest threads (their %CPU per iteration,
its mean and peak, their states), the threads of each process over time (rows per TGID, or
the nTH column, or the rows of the whole screen when neither is shown: with ``-p PID`` that
is the process), and the threads seen in uninterruptible sleep (D). The first iteration's
%CPU covers the time since top started, not one delay: it is left out of the means when
there are later iterations. Times are top's local time of day (no date).
docs/sources/top.md documents every key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer.model import Derived
from analyzer.sections.series import MAX_POINTS, clock_of, finished, integer, none, series

TOP_THREADS = 20
"""Threads in ``busiest_threads`` and ``d_state`` at most."""
TOP_PROCESSES = 10
"""Processes in ``thread_counts`` at most (most threads first)."""

_SUMMARY = {
    "load1": "load1",
    "threads_total": "tasks_total",
    "running": "tasks_running",
    "us": "cpu_us",
    "sy": "cpu_sy",
    "wa": "cpu_wa",
    "st": "cpu_st",
    "id": "cpu_id",
    "mem_avail_kib": "mem_avail_kib",
}


def _inputs(samples: pd.DataFrame, threads: pd.DataFrame) -> list[dict[str, Any]]:
    found = []
    for name, rows in samples.groupby("input", sort=False):
        clock = rows["clock_s"].dropna().to_numpy()
        gaps = np.diff(np.sort(clock))
        label = rows["tasks_label"].dropna()
        found.append(
            {
                "input": name,
                "iterations": len(rows),
                "first": none(clock.min()) if len(clock) else None,
                "last": none(clock.max()) if len(clock) else None,
                "delay_s": float(np.median(gaps)) if len(gaps) else None,
                "per_thread": bool(len(label)) and bool((label == "Threads").all()),
                "task_rows": int((threads["input"] == name).sum()),
            }
        )
    return found


def _summary(samples: pd.DataFrame, threads: pd.DataFrame) -> list[dict[str, Any]]:
    in_d = threads[threads["state"] == "D"].groupby(["input", "iteration"]).size().rename("d_rows")
    frame = samples.join(in_d, on=["input", "iteration"])
    frame = frame.sort_values(["input", "iteration"]).tail(MAX_POINTS * 4)
    rows = []
    for record in frame.itertuples(index=False):
        row = {
            "input": record.input,
            "iteration": int(record.iteration),
            "time": none(record.clock_s),
            "line": int(record.line_no),
            "d_threads": none(record.tasks_d_sleep),
            "d_rows": int(record.d_rows) if not pd.isna(record.d_rows) else 0,
        }
        for key, column in _SUMMARY.items():
            row[key] = none(getattr(record, column))
        rows.append(row)
    return rows


def _measured(threads: pd.DataFrame) -> pd.DataFrame:
    """The rows whose %CPU covers one delay: every iteration but each input's first, when
    the input has more than one."""
    first = threads.groupby("input")["iteration"].transform("min")
    several = threads.groupby("input")["iteration"].transform("nunique") > 1
    return threads[~several | (threads["iteration"] > first)]


def busiest_threads(threads: pd.DataFrame, limit: int = TOP_THREADS) -> list[dict[str, Any]]:
    """Per thread (input, tid): its %CPU over the iterations (mean, peak and when), its CPU
    time used while top watched, and how often it was in each state; busiest first."""
    if threads.empty:
        return []
    measured = _measured(threads)
    keys = ["input", "tid"]
    stats = measured.groupby(keys, sort=False)["cpu_pct"].agg(["mean", "count"])
    peak_rows = measured.loc[
        measured["cpu_pct"]
        .fillna(-1)
        .groupby([measured["input"], measured["tid"]], sort=False)
        .idxmax()
    ]
    peak = peak_rows.set_index(keys)[["cpu_pct", "clock_s", "line_no"]]
    every = threads.groupby(keys, sort=False)
    info = every.agg(
        pid=("tgid", "last"),
        command=("command", "last"),
        iterations=("iteration", "nunique"),
        first_line=("line_no", "min"),
        time_first=("cpu_time_s", "min"),
        time_last=("cpu_time_s", "max"),
    )
    states = (
        threads.assign(state=threads["state"].fillna("?"))
        .groupby([*keys, "state"], sort=True)
        .size()
        .unstack(fill_value=0)
    )
    table = info.join(stats).join(peak).join(states)
    table = table.sort_values(["mean", "cpu_pct"], ascending=False, na_position="last")
    found = []
    for (name, tid), row in table.head(limit).iterrows():
        found.append(
            {
                "input": name,
                "tid": int(tid),
                "pid": integer(row["pid"]),
                "command": none(row["command"]),
                "iterations": int(row["iterations"]),
                "mean_cpu_pct": none(row["mean"]),
                "max_cpu_pct": none(row["cpu_pct"]),
                "max_at": none(row["clock_s"]),
                "max_line": none(row["line_no"]),
                "cpu_time_s": none(row["time_last"] - row["time_first"]),
                "states": {
                    str(state): int(row[state])
                    for state in states.columns
                    if not pd.isna(row.get(state)) and int(row[state])
                },
                "first_line": int(row["first_line"]),
            }
        )
    for entry in found:
        rows = threads[(threads["input"] == entry["input"]) & (threads["tid"] == entry["tid"])]
        entry["series"] = series(
            rows["clock_s"].fillna(rows["iteration"]).to_numpy(),
            rows["cpu_pct"].to_numpy(),
            digits=1,
        )
    return found


def thread_counts(
    samples: pd.DataFrame, threads: pd.DataFrame, limit: int = TOP_PROCESSES
) -> list[dict[str, Any]]:
    """The threads of each process per iteration: rows per TGID (``-H``), the nTH column
    (without ``-H``), or all the rows of the screen when neither is shown (``pid`` null)."""
    if threads.empty:
        return []
    frame = threads.copy()
    found = []
    if frame["tgid"].notna().any():
        counts = (
            frame.dropna(subset=["tgid"])
            .groupby(["input", "tgid", "iteration"])
            .agg(count=("tid", "size"), nth=("nth", "max"), line=("line_no", "min"))
        )
        counts["count"] = counts["nth"].fillna(counts["count"])
        how = "rows per TGID"
    elif frame["nth"].notna().any():
        counts = (
            frame.dropna(subset=["nth"])
            .groupby(["input", "tid", "iteration"])
            .agg(count=("nth", "max"), line=("line_no", "min"))
        )
        counts.index = counts.index.set_names(["input", "tgid", "iteration"])
        how = "nTH column"
    else:
        counts = frame.groupby(["input", "iteration"]).agg(
            count=("tid", "size"), line=("line_no", "min")
        )
        counts["tgid"] = np.nan
        counts = counts.reset_index().set_index(["input", "tgid", "iteration"])
        how = "rows shown"
    counts = counts.reset_index()
    clocks = samples.set_index(["input", "iteration"])["clock_s"]
    counts = counts.join(clocks, on=["input", "iteration"])
    commands = frame.sort_values("line_no").groupby(["input", "tgid"])["command"].first()
    groups = sorted(
        counts.groupby(["input", "tgid"], dropna=False),
        key=lambda item: -float(item[1]["count"].max()),
    )
    for (name, pid), rows in groups[:limit]:
        rows = rows.sort_values("iteration")
        values = rows["count"].to_numpy(dtype=np.float64)
        peak = int(np.argmax(values))
        found.append(
            {
                "input": name,
                "pid": integer(pid),
                "command": none(commands.get((name, pid))) if not pd.isna(pid) else None,
                "counted_by": how,
                "first": int(values[0]),
                "last": int(values[-1]),
                "min": int(values.min()),
                "max": int(values.max()),
                "max_at": none(rows["clock_s"].iloc[peak]),
                "max_line": int(rows["line"].iloc[peak]),
                "first_line": int(rows["line"].iloc[0]),
                "series": series(
                    rows["clock_s"].fillna(rows["iteration"]).to_numpy(), values, digits=0
                ),
            }
        )
    return found


def d_state(threads: pd.DataFrame, limit: int = TOP_THREADS) -> list[dict[str, Any]]:
    """The threads top showed in uninterruptible sleep (D), most iterations first."""
    rows = threads[threads["state"] == "D"]
    if rows.empty:
        return []
    grouped = rows.groupby(["input", "tid"], sort=False)
    table = grouped.agg(
        pid=("tgid", "last"),
        command=("command", "last"),
        iterations=("iteration", "nunique"),
        first_at=("clock_s", "min"),
        last_at=("clock_s", "max"),
        wchan=(
            "wchan",
            lambda values: values.dropna().mode().iloc[0] if values.notna().any() else None,
        ),
    ).sort_values("iterations", ascending=False)
    lines = grouped["line_no"].apply(lambda values: sorted(values.tolist())[:5])
    found = []
    for (name, tid), row in table.head(limit).iterrows():
        found.append(
            {
                "input": name,
                "tid": int(tid),
                "pid": integer(row["pid"]),
                "command": none(row["command"]),
                "iterations": int(row["iterations"]),
                "first_at": none(row["first_at"]),
                "last_at": none(row["last_at"]),
                "wchan": none(row["wchan"]),
                "lines": [int(line) for line in lines[(name, tid)]],
            }
        )
    return found


def top_section(samples: pa.Table, threads: pa.Table) -> dict[str, Any]:
    """The report's `top` section for the run's top tables."""
    sample_frame = samples.to_pandas()
    thread_frame = threads.drop_columns(["extra"]).to_pandas()
    kind = "time_of_day" if sample_frame["clock_s"].notna().any() else None
    notes = [
        "top's %CPU is a share of one CPU over the delay before the iteration; the first "
        "iteration's covers the time since top started and is left out of the means."
    ]
    if not sample_frame.empty and not (sample_frame["tasks_label"] == "Threads").all():
        notes.append(
            "Some iterations show processes, not threads (top without -H): a process's "
            "%CPU adds up its threads."
        )
    return finished(
        {
            "clock": clock_of(kind),
            "inputs": _inputs(sample_frame, thread_frame),
            "summary": _summary(sample_frame, thread_frame),
            "busiest_threads": busiest_threads(thread_frame),
            "thread_counts": thread_counts(sample_frame, thread_frame),
            "d_state": d_state(thread_frame),
            "notes": notes,
        }
    )


def section(derived: Derived) -> dict[str, Any]:
    """The report's `top` key."""
    return {"top": top_section(derived.tables["top_samples"], derived.tables["top_threads"])}
