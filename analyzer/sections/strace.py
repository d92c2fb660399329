"""The strace sections of the report: the syscall summary (what `strace -c -w` prints, per
call and per thread, and more), targets, calls in flight and tasks.

Only calls that returned are counted, as strace does (`exit`, `exit_group`, calls of killed
tasks, detached and in-flight calls are not); `= ? ERESTART*` counts as an error. Seconds are
sums of `-T`, which strace truncates to microseconds, so they fall short of strace's own table
by up to 1 µs per call. Beyond strace: min/avg/p50/p95/p99/max (linear interpolation), the
same per thread (like `perf trace -s`), errors by errno, time by target, and the calls still
in flight when the trace ended. When the log ends with strace's own `-C`/`-c` table, it is
read and compared row by row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous
from analyzer.clean import clean
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_tasks import peak_live_tasks
from analyzer.formats.strace import ParsedLines
from analyzer.model import Derived, ParsedInput

STAT_KEYS = ("calls", "errors", "total_s", "min_s", "avg_s", "p50_s", "p95_s", "p99_s", "max_s")


@dataclass(frozen=True)
class ReturnedCalls:
    """The calls that returned (what strace counts), as the frames the summaries group.

    `frame` has one row per call, in table order: tid, `call` (an integer code for the
    syscall name; `names[call]` is the name), duration_s and error. Grouping integer codes
    instead of name strings is what keeps the summaries fast. `failed` holds the syscall and
    errno texts of the calls that failed.
    """

    frame: pd.DataFrame
    names: np.ndarray
    failed: pd.DataFrame


def returned_calls(calls: pa.Table) -> ReturnedCalls:
    """The calls that returned (what strace counts)."""
    # Select before filtering: filtering copies every column it is given.
    done = calls.select(["tid", "syscall", "duration_s", "errno"])
    done = done.filter(pc.equal(calls["status"], "complete"))
    syscall = pc.dictionary_encode(contiguous(done["syscall"]))
    errno = done["errno"]
    error = errno.is_valid().to_numpy(zero_copy_only=False)
    frame = pd.DataFrame(
        {
            "tid": done["tid"].to_numpy(),
            "call": pc.fill_null(syscall.indices, -1).to_numpy(),
            "duration_s": done["duration_s"].to_numpy(),
            "error": error,
        }
    )
    failed = done.select(["syscall", "errno"]).filter(pa.array(error)).to_pandas()
    names = np.array([*syscall.dictionary.to_pylist(), None], dtype=object)
    return ReturnedCalls(frame=frame, names=names, failed=failed)


def _stats(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = frame.groupby(keys, sort=False, observed=True)
    duration = grouped["duration_s"]
    calls = grouped.size()
    # One quantile call sorts each group once for all three levels; `unstack` sorts the
    # groups, so put them back in the order of the other columns.
    levels = duration.quantile([0.50, 0.95, 0.99]).unstack().reindex(calls.index)
    table = pd.DataFrame(
        {
            "calls": calls,
            "errors": grouped["error"].sum(),
            "total_s": duration.sum(min_count=1),
            "min_s": duration.min(),
            "avg_s": duration.mean(),
            "p50_s": levels[0.50],
            "p95_s": levels[0.95],
            "p99_s": levels[0.99],
            "max_s": duration.max(),
        }
    )
    return table.reset_index()


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as JSON-ready dicts (numpy scalars unwrapped, NaN as None, floats to
    the nanosecond)."""
    return [clean(row, digits=9, keep_infinity=True) for row in frame.to_dict(orient="records")]


def syscall_summary(returned: ReturnedCalls) -> list[dict[str, Any]]:
    """Per syscall: calls, errors and duration statistics; sorted by total time."""
    if returned.frame.empty:
        return []
    table = _stats(returned.frame, ["call"])
    table["syscall"] = returned.names[table["call"].to_numpy()]
    table = table.sort_values(["total_s", "calls", "syscall"], ascending=[False, False, True])
    return records(table[["syscall", *STAT_KEYS]])


def per_thread_summary(returned: ReturnedCalls, tasks: pa.Table) -> list[dict[str, Any]]:
    """The same statistics per thread and syscall (the `perf trace -s` view)."""
    if returned.frame.empty:
        return []
    table = _stats(returned.frame, ["tid", "call"])
    table["syscall"] = returned.names[table["call"].to_numpy()]
    info = tasks.select(["tid", "pid", "comm"]).to_pandas().drop_duplicates("tid")
    table = table.merge(info, on="tid", how="left")
    table = table.sort_values(["tid", "total_s"], ascending=[True, False])
    return records(table[["tid", "pid", "comm", "syscall", *STAT_KEYS]])


def error_summary(returned: ReturnedCalls) -> list[dict[str, Any]]:
    """Failed calls by syscall and errno, most frequent first."""
    frame = returned.failed
    if frame.empty:
        return []
    counts = frame.groupby(["syscall", "errno"]).size().rename("count").reset_index()
    counts = counts.sort_values(["count", "syscall"], ascending=[False, True])
    return records(counts)


def target_summary(calls: pa.Table, limit: int = 50) -> list[dict[str, Any]]:
    """Where the time went: per file, socket or pipe behind the calls' fds.

    Targets are grouped by dictionary code; sorting the groups by target text afterwards gives
    the order a grouping by text would (the order ties keep in the final sort).
    """
    done = calls.select(["target", "target_kind", "syscall", "duration_s"]).filter(
        pc.and_(pc.equal(calls["status"], "complete"), pc.is_valid(calls["target"]))
    )
    if done.num_rows == 0:
        return []
    target = pc.dictionary_encode(contiguous(done["target"]))
    syscall = pc.dictionary_encode(contiguous(done["syscall"]))
    frame = pd.DataFrame(
        {
            "code": target.indices.to_numpy(),
            "call": pc.fill_null(syscall.indices, -1).to_numpy(),
            "duration_s": done["duration_s"].to_numpy(),
            "row": np.arange(done.num_rows),
        }
    )
    grouped = frame.groupby("code", sort=False)
    table = pd.DataFrame(
        {
            "calls": grouped.size(),
            "total_s": grouped["duration_s"].sum(min_count=1),
            "max_s": grouped["duration_s"].max(),
        }
    )
    # Order the groups by target text (what grouping by text would give) through the rank of
    # each dictionary entry, then by time; only the targets listed get their texts looked up.
    rank = np.empty(len(target.dictionary), dtype=np.int64)
    rank[pc.sort_indices(target.dictionary).to_numpy()] = np.arange(len(rank))
    table = table.iloc[np.argsort(rank[table.index.to_numpy()], kind="stable")].reset_index()
    table = table.sort_values(["total_s", "calls"], ascending=False).head(limit)
    codes = table["code"].to_numpy()
    # The target decides its kind, so the first call of each target gives it.
    first_row = frame.drop_duplicates("code").set_index("code").loc[codes, "row"].to_numpy()
    table.insert(0, "target", pc.take(target.dictionary, pa.array(codes)).to_pylist())
    table.insert(1, "target_kind", pc.take(done["target_kind"], first_row).to_pylist())
    top = frame[frame["code"].isin(table["code"])].drop_duplicates(["code", "call"])
    names = pc.take(syscall.dictionary, pa.array(top["call"].to_numpy())).to_pylist()
    by_target: dict[int, list[str]] = {}
    for code, name in zip(top["code"].tolist(), names, strict=True):
        by_target.setdefault(code, []).append(name)
    table["syscalls"] = [sorted(by_target[code]) for code in table["code"]]
    return records(table[["target", "target_kind", "calls", "total_s", "max_s", "syscalls"]])


LATENCY_ROWS = 500


def latency_by_target(calls: pa.Table, limit: int = LATENCY_ROWS) -> list[dict[str, Any]]:
    """Per (syscall, target) of the calls that returned: calls, errors, total, p50, p95 and
    max, the `limit` costliest by total time (what ``iodiag-analyze diff`` compares)."""
    done = calls.select(["syscall", "target", "duration_s", "errno"])
    done = done.filter(pc.equal(calls["status"], "complete"))
    if done.num_rows == 0:
        return []
    syscall = pc.dictionary_encode(contiguous(done["syscall"]))
    target = pc.dictionary_encode(contiguous(done["target"]))
    frame = pd.DataFrame(
        {
            "call": pc.fill_null(syscall.indices, -1).to_numpy(),
            "code": pc.fill_null(target.indices, -1).to_numpy(),
            "duration_s": done["duration_s"].to_numpy(),
            "error": done["errno"].is_valid().to_numpy(zero_copy_only=False),
        }
    )
    grouped = frame.groupby(["call", "code"], sort=False)
    duration = grouped["duration_s"]
    calls_per = grouped.size()
    levels = duration.quantile([0.50, 0.95]).unstack().reindex(calls_per.index)
    table = pd.DataFrame(
        {
            "calls": calls_per,
            "errors": grouped["error"].sum(),
            "total_s": duration.sum(min_count=1),
            "p50_s": levels[0.50],
            "p95_s": levels[0.95],
            "max_s": duration.max(),
        }
    ).reset_index()
    names = np.array([*syscall.dictionary.to_pylist(), None], dtype=object)
    targets = np.array([*target.dictionary.to_pylist(), None], dtype=object)
    table["syscall"] = names[table["call"].to_numpy()]
    table["target"] = targets[table["code"].to_numpy()]
    table = table.sort_values(
        ["total_s", "calls", "syscall", "target"],
        ascending=[False, False, True, True],
        na_position="last",
    ).head(limit)
    return records(
        table[["syscall", "target", "calls", "errors", "total_s", "p50_s", "p95_s", "max_s"]]
    )


def in_flight(calls: pa.Table, trace_end_s: float | None) -> list[dict[str, Any]]:
    """Calls still unfinished when the trace ended, longest wait first."""
    pending = calls.select(["tid", "syscall", "start_s", "target", "line_start"])
    pending = pending.filter(pc.equal(calls["status"], "in-flight")).to_pandas()
    rows = []
    for row in pending.itertuples(index=False):
        waited = None
        if trace_end_s is not None and not pd.isna(row.start_s):
            waited = round(max(trace_end_s - row.start_s, 0.0), 9)
        rows.append(
            {
                "tid": int(row.tid),
                "syscall": row.syscall,
                "start": None if pd.isna(row.start_s) else round(float(row.start_s), 9),
                "waited_s": waited,
                "target": row.target if isinstance(row.target, str) else None,
                "line": None if pd.isna(row.line_start) else int(row.line_start),
            }
        )
    rows.sort(key=lambda row: -(row["waited_s"] or 0.0))
    return rows


def no_return_summary(calls: pa.Table) -> dict[str, Any]:
    gone = calls["syscall"].filter(
        pc.is_in(calls["status"], value_set=pa.array(["no-return", "detached"]))
    )
    names = gone.to_pandas().value_counts()
    return {"count": len(gone), "by_syscall": {str(k): int(v) for k, v in names.items()}}


_SUMMARY_ROW = re.compile(
    r"^\s*(?P<percent>\d+\.\d+)\s+(?P<seconds>\d+\.\d+)\s+(?P<usecs>\d+)?\s+(?P<calls>\d+)"
    r"(?:\s+(?P<errors>\d+))?\s+(?P<syscall>\S+)\s*$"
)


_COLUMN_TITLES = {
    "% time": "percent",
    "seconds": "seconds",
    "usecs/call": "usecs",
    "shortest": "shortest",
    "longest": "longest",
    "calls": "calls",
    "errors": "errors",
    "syscall": "syscall",
}
"""strace's column titles (``-U`` picks and orders them; the default is ``% time seconds
usecs/call calls errors syscall``) and their keys here."""


def _columns(line: str) -> list[str] | None:
    """The keys of a table header line, or None when the line is not one."""
    names = [_COLUMN_TITLES.get(title) for title in re.findall(r"% time|\S+", line)]
    if not names or None in names or "syscall" not in names or "calls" not in names:
        return None
    return names  # type: ignore[return-value]


def parse_strace_table(lines: list[str]) -> list[dict[str, Any]]:
    """Rows of strace's own `-c`/`-C` table, without the total row: columns by the header
    line's titles (any ``-U`` choice with calls and the name), or the default layout when
    no header was kept. A row's blank ``errors`` cell is 0."""
    rows = []
    columns: list[str] | None = None
    for line in lines:
        header = _columns(line)
        if header is not None:
            columns = header
            continue
        if columns is None:
            match = _SUMMARY_ROW.match(line)
            values = match.groupdict() if match else None
        else:
            values = _row_by_columns(line, columns)
        if values and values["syscall"] != "total":
            seconds = values.get("seconds")
            rows.append(
                {
                    "syscall": values["syscall"],
                    "calls": int(values["calls"]),
                    "errors": int(values.get("errors") or 0),
                    "seconds": float(seconds) if seconds is not None else None,
                }
            )
    return rows


def _row_by_columns(line: str, columns: list[str]) -> dict[str, str] | None:
    cells = line.split()
    if not cells or set(line.strip()) <= {"-", " "}:
        return None
    if len(cells) == len(columns) - 1 and "errors" in columns:
        cells.insert(columns.index("errors"), "0")  # strace leaves errors blank when 0
    if len(cells) != len(columns):
        return None
    values = dict(zip(columns, cells, strict=True))
    try:
        int(values["calls"])
    except ValueError:
        return None
    return values


def compare_with_strace(theirs: list[dict[str, Any]], ours: list[dict[str, Any]]) -> dict[str, Any]:
    """Row-by-row comparison: calls and errors equal, seconds within calls × 1 µs + 1 µs.

    With no completed call of our own the input is strace's summary alone (``strace -c``):
    there is nothing to compare, ``matches`` is None and ``summary_only`` True."""
    if not ours:
        return {"rows": theirs, "matches": None, "mismatches": [], "summary_only": True}
    by_name = {row["syscall"]: row for row in ours}
    mismatches = []
    for row in theirs:
        mine = by_name.get(row["syscall"], {"calls": 0, "errors": 0, "total_s": 0.0})
        for field, our_key in (("calls", "calls"), ("errors", "errors")):
            if mine[our_key] != row[field]:
                mismatches.append(
                    {
                        "syscall": row["syscall"],
                        "field": field,
                        "ours": mine[our_key],
                        "theirs": row[field],
                    }
                )
        tolerance = row["calls"] * 1e-6 + 1e-6
        if (
            row["seconds"] is not None
            and abs((mine["total_s"] or 0.0) - row["seconds"]) > tolerance
        ):
            mismatches.append(
                {
                    "syscall": row["syscall"],
                    "field": "seconds",
                    "ours": mine["total_s"],
                    "theirs": row["seconds"],
                }
            )
    listed = {row["syscall"] for row in theirs}
    for name, mine in by_name.items():
        if name not in listed:
            mismatches.append(
                {"syscall": name, "field": "calls", "ours": mine["calls"], "theirs": 0}
            )
    return {
        "rows": theirs,
        "matches": not mismatches,
        "mismatches": mismatches,
        "summary_only": False,
    }


def section(inputs: Sequence[ParsedInput[ParsedLines]], derived: Derived) -> dict[str, Any]:
    """The strace keys of the report, for every strace input of the run (empty without one)."""
    tables = derived.tables
    traces: Sequence[StraceTables] = derived.extras.get("traces", ())
    calls = tables["syscalls"]
    returned = returned_calls(calls)
    ours = syscall_summary(returned)
    trace_end = max((r.last_s for r in traces if r.last_s is not None), default=None)
    strace_rows: list[dict[str, Any]] = []
    for source in inputs:
        strace_rows += parse_strace_table(source.parsed.report_stats.summary_lines)
    tasks = tables["tasks"]
    peak = max((peak_live_tasks(r.tasks, r.first_s) for r in traces), default=0)
    killed = tables["exits"].filter(pc.equal(tables["exits"]["how"], "killed"))
    return {
        "syscalls": ours,
        "syscalls_by_thread": per_thread_summary(returned, tasks),
        "errors": error_summary(returned),
        "targets": target_summary(calls),
        "latency": latency_by_target(calls),
        "in_flight": in_flight(calls, trace_end),
        "no_return": no_return_summary(calls),
        "tasks": {
            "processes": len(set(tasks["pid"].to_pylist())),
            "threads": tasks.num_rows,
            "peak_threads": peak,
            "exited": tables["exits"].num_rows,
            "killed": [
                {"tid": t, "signal": s}
                for t, s in zip(
                    killed["tid"].to_pylist(), killed["signal"].to_pylist(), strict=True
                )
            ],
        },
        "strace_summary": compare_with_strace(strace_rows, ours) if strace_rows else None,
    }
