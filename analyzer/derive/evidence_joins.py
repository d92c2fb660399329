"""The snapshot and metrics tables as the passes join them with strace: one frame per kind of
evidence, each row with its input, its line and its time on the run's reference clock
(`analyzer.derive.timeline`: ``at`` is NaN when the input could not be aligned).

- `thread_cpu`: every thread row of ``top -H`` and ``pidstat -t`` with its %CPU and state;
- `pyspy_threads`: every thread of every py-spy dump with its state, GIL flag and frames;
- `thread_counts`: the threads of each process at each snapshot (ps NLWP, top, pidstat);
- `blocked_threads`: the rows of threads in uninterruptible sleep (D) from top and ps;
- `device_reports`: iostat's device rows with the combined await of reads and writes;
- `cloud_values`: CloudWatch values.

Everything here is whole-column pandas/numpy work on tables of a few thousand rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer.derive.timeline import Alignment

__all__ = [
    "blocked_threads",
    "cloud_values",
    "device_reports",
    "on_reference",
    "pyspy_threads",
    "thread_counts",
    "thread_cpu",
]

STACK_FRAMES = 6


def _frame(tables: Mapping[str, pa.Table], name: str, drop: Sequence[str] = ()) -> pd.DataFrame:
    table = tables.get(name)
    if table is None or table.num_rows == 0:
        return pd.DataFrame()
    present = [column for column in drop if column in table.column_names]
    return table.drop_columns(present).to_pandas()


def on_reference(
    frame: pd.DataFrame, alignments: Mapping[str, Alignment], columns: Mapping[str, str]
) -> pd.Series:
    """Each row's time on the reference clock: its input's alignment picks the time column
    of its clock kind (`columns`: kind -> column) and adds the offset; NaN when the input is
    not aligned."""
    at = pd.Series(np.nan, index=frame.index, dtype=np.float64)
    if frame.empty:
        return at
    for name, rows in frame.groupby("input", sort=False):
        alignment = alignments.get(str(name))
        if alignment is None or not alignment.aligned or alignment.offset_s is None:
            continue
        column = columns.get(alignment.kind or "")
        if column is None or column not in rows:
            continue
        at.loc[rows.index] = rows[column].astype(np.float64) + alignment.offset_s
    return at


_TOP_TIMES = {"time_of_day": "clock_s"}
_PIDSTAT_TIMES = {"local": "ts", "epoch": "ts", "time_of_day": "clock_s"}
_PS_TIMES = {"epoch": "ts", "time_of_day": "clock_s"}
_EPOCH = {"epoch": "ts", "local": "ts"}


def thread_cpu(tables: Mapping[str, pa.Table], alignments: Mapping[str, Alignment]) -> pd.DataFrame:
    """Thread rows of top and pidstat: ``source, input, line, tid, pid, name, state,
    cpu_pct, time, at, measured`` (``measured``: the %CPU covers one interval, so not the
    first iteration of a top input with several)."""
    parts = []
    top = _frame(tables, "top_threads", ("extra",))
    if not top.empty:
        first = top.groupby("input")["iteration"].transform("min")
        several = top.groupby("input")["iteration"].transform("nunique") > 1
        parts.append(
            pd.DataFrame(
                {
                    "source": "top",
                    "input": top["input"],
                    "line": top["line_no"],
                    "tid": top["tid"],
                    "pid": top["tgid"],
                    "name": top["command"],
                    "state": top["state"],
                    "cpu_pct": top["cpu_pct"],
                    "time": top["clock_s"],
                    "at": on_reference(top, alignments, _TOP_TIMES),
                    "measured": ~several | (top["iteration"] > first),
                }
            )
        )
    pidstat = _frame(tables, "pidstat_threads", ("extra",))
    if not pidstat.empty:
        rows = pidstat[~pidstat["average"]]
        if rows["thread"].any():
            rows = rows[rows["thread"]]
        at = on_reference(rows, alignments, _PIDSTAT_TIMES)
        parts.append(
            pd.DataFrame(
                {
                    "source": "pidstat",
                    "input": rows["input"],
                    "line": rows["line_no"],
                    "tid": rows["tid"].fillna(rows["pid"]),
                    "pid": rows["pid"],
                    "name": rows["command"],
                    "state": None,
                    "cpu_pct": rows["cpu_pct"],
                    "time": rows["clock_s"].fillna(rows["ts"]),
                    "at": at,
                    "measured": True,
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def pyspy_threads(
    tables: Mapping[str, pa.Table], alignments: Mapping[str, Alignment]
) -> pd.DataFrame:
    """Threads of every py-spy dump: ``input, line, dump, pid, tid, name, state, holds_gil,
    top, stack, time, at`` (``stack``: the innermost Python frames as text)."""
    threads = _frame(tables, "pyspy_threads")
    if threads.empty:
        return threads
    frames = _frame(tables, "pyspy_frames", ("locals",))
    stacks: dict[tuple[str, int, int], list[str]] = {}
    if not frames.empty:
        python = frames[~frames["native"].fillna(False).astype(bool)]
        python = python.sort_values(["input", "dump", "thread_line_no", "depth"])
        python = python.groupby(["input", "dump", "thread_line_no"], sort=False).head(STACK_FRAMES)
        text = python["function"].fillna("?") + " (" + python["file"].fillna("?")
        text = text + python["line"].map(lambda n: "" if pd.isna(n) else f":{int(n)}") + ")"
        for key, values in text.groupby(
            [python["input"], python["dump"], python["thread_line_no"]], sort=False
        ):
            stacks[(str(key[0]), int(key[1]), int(key[2]))] = values.tolist()
    top = threads["top_function"].fillna("?") + " (" + threads["top_file"].fillna("?")
    top = top + threads["top_line"].map(lambda n: "" if pd.isna(n) else f":{int(n)}") + ")"
    top = top.where(threads["top_function"].notna(), None)
    return pd.DataFrame(
        {
            "input": threads["input"],
            "line": threads["line_no"],
            "dump": threads["dump"],
            "pid": threads["pid"],
            "tid": threads["native_tid"],
            "name": threads["name"],
            "state": threads["state"],
            "holds_gil": threads["holds_gil"].fillna(False).astype(bool),
            "top": top,
            "stack": [
                stacks.get((str(name), int(dump), int(line)), [])
                for name, dump, line in zip(
                    threads["input"], threads["dump"], threads["line_no"], strict=True
                )
            ],
            "time": threads["ts"],
            "at": on_reference(threads, alignments, _EPOCH),
        }
    )


def thread_counts(
    tables: Mapping[str, pa.Table], alignments: Mapping[str, Alignment]
) -> pd.DataFrame:
    """The threads of each process at each snapshot: ``source, input, line, pid, name,
    count, time, at`` (``pid`` null: all the rows top showed, a ``-p PID`` capture)."""
    parts = []
    nlwp = _frame(tables, "ps_nlwp")
    if not nlwp.empty:
        snapshots = _frame(tables, "ps_snapshots").set_index(["input", "snapshot"])
        frame = nlwp.join(snapshots[["line_no", "clock_s"]], on=["input", "snapshot"])
        parts.append(
            pd.DataFrame(
                {
                    "source": "ps_threads",
                    "input": frame["input"],
                    "line": frame["line_no"],
                    "pid": frame["pid"],
                    "name": frame["command"],
                    "count": frame["nlwp"].fillna(frame["threads"]),
                    "time": frame["ts"].fillna(frame["clock_s"]),
                    "at": on_reference(frame, alignments, _PS_TIMES),
                }
            )
        )
    top = _frame(tables, "top_threads", ("extra",))
    if not top.empty:
        if top["tgid"].notna().any():
            grouped = top.dropna(subset=["tgid"]).groupby(["input", "iteration", "tgid"])
            counts = grouped.agg(
                count=("tid", "size"),
                nth=("nth", "max"),
                line=("line_no", "min"),
                name=("command", "first"),
                clock_s=("clock_s", "first"),
            ).reset_index()
            counts["count"] = counts["nth"].fillna(counts["count"])
            counts["pid"] = counts["tgid"]
        else:
            grouped = top.groupby(["input", "iteration"])
            counts = grouped.agg(
                count=("tid", "size"),
                line=("line_no", "min"),
                name=("command", "first"),
                clock_s=("clock_s", "first"),
            ).reset_index()
            counts["pid"] = np.nan
            counts["name"] = None
        parts.append(
            pd.DataFrame(
                {
                    "source": "top",
                    "input": counts["input"],
                    "line": counts["line"],
                    "pid": counts["pid"],
                    "name": counts["name"],
                    "count": counts["count"],
                    "time": counts["clock_s"],
                    "at": on_reference(counts, alignments, _TOP_TIMES),
                }
            )
        )
    pidstat = _frame(tables, "pidstat_threads", ("extra",))
    if not pidstat.empty:
        rows = pidstat[~pidstat["average"]]
        threads = rows[rows["thread"]]
        if not threads.empty:
            grouped = threads.groupby(["input", "interval", "pid"])
            counts = grouped.agg(
                count=("tid", "size"),
                line=("line_no", "min"),
                ts=("ts", "first"),
                clock_s=("clock_s", "first"),
            ).reset_index()
            names = rows[~rows["thread"]].groupby(["input", "pid"])["command"].last()
            counts = counts.join(names, on=["input", "pid"])
            parts.append(
                pd.DataFrame(
                    {
                        "source": "pidstat",
                        "input": counts["input"],
                        "line": counts["line"],
                        "pid": counts["pid"],
                        "name": counts["command"],
                        "count": counts["count"],
                        "time": counts["clock_s"].fillna(counts["ts"]),
                        "at": on_reference(counts, alignments, _PIDSTAT_TIMES),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def blocked_threads(
    tables: Mapping[str, pa.Table], alignments: Mapping[str, Alignment]
) -> pd.DataFrame:
    """Rows of threads in uninterruptible sleep (D): ``source, input, line, tid, pid, name,
    wchan, time, at``."""
    parts = []
    top = _frame(tables, "top_threads", ("extra",))
    if not top.empty:
        rows = top[top["state"] == "D"]
        parts.append(
            pd.DataFrame(
                {
                    "source": "top",
                    "input": rows["input"],
                    "line": rows["line_no"],
                    "tid": rows["tid"],
                    "pid": rows["tgid"],
                    "name": rows["command"],
                    "wchan": rows["wchan"],
                    "time": rows["clock_s"],
                    "at": on_reference(rows, alignments, _TOP_TIMES),
                }
            )
        )
    ps = _frame(tables, "ps_threads", ("extra",))
    if not ps.empty:
        rows = ps[ps["state"] == "D"]
        snapshots = _frame(tables, "ps_snapshots").set_index(["input", "snapshot"])
        rows = rows.join(snapshots[["clock_s"]], on=["input", "snapshot"])
        parts.append(
            pd.DataFrame(
                {
                    "source": "ps_threads",
                    "input": rows["input"],
                    "line": rows["line_no"],
                    "tid": rows["tid"],
                    "pid": rows["pid"],
                    "name": rows["command"],
                    "wchan": rows["wchan"],
                    "time": rows["ts"].fillna(rows["clock_s"]),
                    "at": on_reference(rows, alignments, _PS_TIMES),
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def device_reports(
    tables: Mapping[str, pa.Table], alignments: Mapping[str, Alignment]
) -> pd.DataFrame:
    """iostat's device rows (every report but a run's first, the since-boot average, when
    the run has others) with ``await`` (reads and writes together) and ``at``."""
    frame = _frame(tables, "iostat_devices", ("extra",))
    if frame.empty:
        return frame
    several = frame.groupby(["input", "run"])["report"].transform("nunique") > 1
    first = frame.groupby(["input", "run"])["report"].transform("min")
    frame = frame[~several | (frame["report"] > first)].copy()
    reads, writes = frame["r_s"].fillna(0.0), frame["w_s"].fillna(0.0)
    weighted = (
        reads * frame["r_await_ms"].fillna(0.0) + writes * frame["w_await_ms"].fillna(0.0)
    ) / (reads + writes).where(reads + writes > 0)
    weighted = weighted.where(frame["r_await_ms"].notna() | frame["w_await_ms"].notna())
    frame["await"] = frame["await_ms"].fillna(weighted).fillna(0.0)
    frame["at"] = on_reference(frame, alignments, _EPOCH)
    return frame


def cloud_values(
    tables: Mapping[str, pa.Table], alignments: Mapping[str, Alignment]
) -> pd.DataFrame:
    """CloudWatch values with ``at`` (the start of their period on the reference clock)."""
    frame = _frame(tables, "cloud_metrics")
    if frame.empty:
        return frame
    frame["at"] = on_reference(frame, alignments, {"epoch": "ts"})
    return frame
