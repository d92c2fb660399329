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
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import engine
from analyzer.clean import clean
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_tasks import peak_live_tasks
from analyzer.formats.strace import ParsedLines
from analyzer.model import Derived, ParsedInput
from analyzer.sections import strace_stats

STAT_KEYS = ("calls", "errors", "total_s", "min_s", "avg_s", "p50_s", "p95_s", "p99_s", "max_s")


def _returned(known: tuple[str, ...]) -> str:
    """The engine's filter of the calls that returned with the columns `known` known (what
    a `strace_stats.View` is told as `known`, so fragile groups can be read again
    straight from the calls)."""
    return " AND ".join(["status = 'complete'", *(f"{name} IS NOT NULL" for name in known)])


QUANTILES = (0.5, 0.95, 0.99)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as JSON-ready dicts (numpy scalars unwrapped, NaN as None, floats to
    the nanosecond)."""
    return [clean(row, digits=9, keep_infinity=True) for row in frame.to_dict(orient="records")]


def _no_calls(calls: pa.Table | strace_stats.Coded) -> bool:
    table = calls.table if isinstance(calls, strace_stats.Coded) else calls
    return not pc.any(pc.equal(table["status"], "complete")).as_py()


CODED = ("syscall", "target")
"""The text columns the summaries group by, numbered once for all of them (`section`)."""


def _by_syscall_and_thread(
    calls: pa.Table | strace_stats.Coded,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calls, errors and duration statistics of the calls that returned per syscall and per
    (thread, syscall), from one scan of the calls; the groups in the order of their first
    call (what a pandas ``groupby(sort=False)`` gave, so ties in the report's sorts keep the
    order they had)."""
    per_syscall, per_thread = strace_stats.grouped_views(
        calls,
        ["tid", "syscall"],
        _returned(()),
        [
            strace_stats.View(["syscall"], _returned(()), known=(), quantiles=QUANTILES, mean=True),
            strace_stats.View(
                ["tid", "syscall"],
                _returned(("tid",)),
                ("tid",),
                ("tid",),
                quantiles=QUANTILES,
                mean=True,
            ),
        ],
    )
    return per_syscall, per_thread


def syscall_summary(per_syscall: pd.DataFrame) -> list[dict[str, Any]]:
    """Per syscall: calls, errors and duration statistics of the calls that returned (what
    strace counts); sorted by total time. `per_syscall`: the calls' statistics per syscall
    (`_by_syscall_and_thread`)."""
    table = per_syscall.sort_values(["total_s", "calls", "syscall"], ascending=[False, False, True])
    return records(table[["syscall", *STAT_KEYS]])


def per_thread_summary(per_thread: pd.DataFrame, tasks: pa.Table) -> list[dict[str, Any]]:
    """The same statistics per thread and syscall (the `perf trace -s` view); `per_thread`:
    the calls' statistics per (tid, syscall) (`_by_syscall_and_thread`)."""
    info = tasks.select(["tid", "pid", "comm"]).to_pandas().drop_duplicates("tid")
    table = per_thread.merge(info, on="tid", how="left")
    table = table.sort_values(["tid", "total_s"], ascending=[True, False])
    return records(table[["tid", "pid", "comm", "syscall", *STAT_KEYS]])


_ERRORS = """
SELECT syscall, errno, count(*) AS count FROM calls
WHERE status = 'complete' AND errno IS NOT NULL AND syscall IS NOT NULL
GROUP BY syscall, errno
"""


def error_summary(calls: pa.Table | strace_stats.Coded) -> list[dict[str, Any]]:
    """Failed calls by syscall and errno, most frequent first."""
    coded = calls if isinstance(calls, strace_stats.Coded) else strace_stats.Coded(calls)
    table = coded.table.select(["syscall", "errno", "status"])
    counts = engine.query(_ERRORS, engine.ONE_THREAD, calls=table)
    if not counts.num_rows:
        return []
    counts = counts.set_column(0, "syscall", coded.decoded("syscall", counts["syscall"]))
    frame = counts.to_pandas()
    frame = frame.sort_values(["syscall", "errno"]).reset_index(drop=True)
    frame = frame.sort_values(["count", "syscall"], ascending=[False, True])
    return records(frame)


TARGET_ROWS = 50


def _target_view(limit: int) -> strace_stats.View:
    """The targets of the (syscall, target) scan: a target's syscalls are those of its groups
    of the scan, its kind that of its first call."""
    return strace_stats.View(
        ["target"],
        _returned(("target",)),
        ("target",),
        ("target",),
        top=limit,
        extra={"syscalls": "list(DISTINCT l.syscall)"},
        at_first=("target_kind",),
    )


def _latency_view(limit: int) -> strace_stats.View:
    return strace_stats.View(
        ["syscall", "target"], _returned(()), known=(), quantiles=(0.5, 0.95), top=limit
    )


def _by_target_and_latency(
    calls: pa.Table | strace_stats.Coded, targets: int, latency: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames of `target_summary` and `latency_by_target`, from one scan of the calls
    by (syscall, target)."""
    by_target, by_latency = strace_stats.grouped_views(
        calls,
        ["syscall", "target"],
        _returned(()),
        [_target_view(targets), _latency_view(latency)],
    )
    return by_target, by_latency


def target_summary(
    by_target: pd.DataFrame, calls: pa.Table | strace_stats.Coded, limit: int = TARGET_ROWS
) -> list[dict[str, Any]]:
    """Where the time went: per file, socket or pipe behind the calls' fds; the target's kind
    is its first call's (the target decides it), ties in time in the order of the texts.
    `by_target`: the calls' grouped frame of the targets (`_by_target_and_latency`), whose
    syscalls are codes when `calls` are coded."""
    if by_target.empty:
        return []
    coded = calls if isinstance(calls, strace_stats.Coded) else strace_stats.Coded(calls)
    by_target["syscalls"] = coded.decoded_lists("syscall", list(by_target["syscalls"]))
    order = pc.sort_indices(pa.array(by_target["target"].tolist(), pa.string())).to_numpy()
    table = by_target.iloc[order].reset_index(drop=True)
    table = table.sort_values(["total_s", "calls"], ascending=False).head(limit)
    return records(table[["target", "target_kind", "calls", "total_s", "max_s", "syscalls"]])


LATENCY_ROWS = 500


def latency_by_target(by_latency: pd.DataFrame, limit: int = LATENCY_ROWS) -> list[dict[str, Any]]:
    """Per (syscall, target) of the calls that returned: calls, errors, total, p50, p95 and
    max, the `limit` costliest by total time (what ``iodiag-analyze diff`` compares).
    `by_latency`: the calls' grouped frame of the (syscall, target) pairs
    (`_by_target_and_latency`)."""
    if by_latency.empty:
        return []
    table = by_latency.sort_values(
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


def without_strace() -> dict[str, Any]:
    """The strace keys of the report of a run without a strace input: what `section` makes of
    its empty tables (a test checks they agree), without starting the engine for them, which
    took an asyncio or perf run ~0.2 s (importing DuckDB, eleven queries)."""
    return {
        "syscalls": [],
        "syscalls_by_thread": [],
        "errors": [],
        "targets": [],
        "latency": [],
        "in_flight": [],
        "no_return": {"count": 0, "by_syscall": {}},
        "tasks": {"processes": 0, "threads": 0, "peak_threads": 0, "exited": 0, "killed": []},
        "strace_summary": None,
    }


def section(inputs: Sequence[ParsedInput[ParsedLines]], derived: Derived) -> dict[str, Any]:
    """The strace keys of the report, for every strace input of the run (empty without one)."""
    tables = derived.tables
    traces: Sequence[StraceTables] = derived.extras.get("traces", ())
    calls = tables["syscalls"]
    coded = strace_stats.coded(calls, CODED)
    ours: list[dict[str, Any]] = []
    by_thread: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    if not _no_calls(coded):  # (else the grouped summaries have no row)
        per_syscall, per_thread = _by_syscall_and_thread(coded)
        by_target, by_latency = _by_target_and_latency(coded, TARGET_ROWS, LATENCY_ROWS)
        ours = syscall_summary(per_syscall)
        by_thread = per_thread_summary(per_thread, tables["tasks"])
        targets = target_summary(by_target, coded, TARGET_ROWS)
        latency = latency_by_target(by_latency, LATENCY_ROWS)
    trace_end = max((r.last_s for r in traces if r.last_s is not None), default=None)
    strace_rows: list[dict[str, Any]] = []
    for source in inputs:
        strace_rows += parse_strace_table(source.parsed.report_stats.summary_lines)
    tasks = tables["tasks"]
    peak = max((peak_live_tasks(r.tasks, r.first_s) for r in traces), default=0)
    killed = tables["exits"].filter(pc.equal(tables["exits"]["how"], "killed"))
    return {
        "syscalls": ours,
        "syscalls_by_thread": by_thread,
        "errors": error_summary(coded),
        "targets": targets,
        "latency": latency,
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
