"""The strace summaries' frames made one query per summary (`grouped`): the reference the
shared scans of `analyzer.sections.strace` (`strace_stats.grouped_views`) are checked
against, and what the tests of `analyzer.sections.strace_stats` compare with pandas.

`grouped` scans the calls for one summary alone; it uses the module's own frame of the groups
(`strace_stats._frame`: pandas' last digits for the fragile groups), so the shared scans
and this reference differ only in how the groups and their figures are queried.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer import engine
from analyzer.sections import strace, strace_stats
from analyzer.sections.strace_stats import JOIN_SMALL_SIDE, Coded

_GROUPED = """
CREATE TEMP TABLE g AS
SELECT {keys}, count(*) AS calls, count(errno) AS errors, count(duration_s) AS timed,
    fsum(duration_s) AS total_s, min(duration_s) AS min_s, max(duration_s) AS max_s,
    min(idx) AS first, max(idx) AS last
FROM calls WHERE {where}
GROUP BY {keys}
"""
"""Every group, kept in the engine: a trace's targets can be a million (a socket per
connection), and only the groups the report shows come back to Python."""

_LAYOUT = """
SELECT count(*) AS groups, coalesce(bool_and(following IS NULL OR last < following), true)
    AS runs, coalesce(sum(timed) = sum(calls), true) AS all_timed
FROM (SELECT last, timed, calls, lead(first) OVER (ORDER BY first) AS following FROM g)
"""
"""Whether every group is one run of rows and every call has a duration (how pandas summed)."""

_EXTRA = """
SELECT gid, {extra} FROM (
    SELECT c.*, f.gid FROM (SELECT * FROM calls WHERE {where}) c JOIN chosen f ON {match}
) GROUP BY gid
"""
"""The `extra` aggregates of the chosen groups only (a list of the distinct syscalls of each
of a million targets is not held for the fifty shown)."""

_SHOWN = "SELECT * FROM g {where} ORDER BY first"
_UNTIMED = """
SELECT * FROM (
    SELECT * FROM g WHERE timed > 0
    UNION ALL
    (SELECT * FROM g WHERE timed = 0 ORDER BY calls DESC, {order} LIMIT {top})
) ORDER BY first
"""

_LEVELS = """
SELECT f.gid, c.duration_s AS duration, count(*) AS n
FROM (SELECT * FROM calls WHERE {where} AND duration_s IS NOT NULL) c
JOIN chosen f ON {match}
GROUP BY f.gid, c.duration_s
"""
"""How many calls of each chosen group took each duration (`strace_stats._levels_from`)."""


def grouped(
    calls: pa.Table | Coded,
    keys: list[str],
    where: str,
    quantiles: tuple[float, ...] = (),
    mean: bool = False,
    extra: dict[str, str] | None = None,
    reads: tuple[str, ...] = (),
    top: int | None = None,
    digits: int = 9,
    known: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Per group of `keys` of the calls `where` selects: calls, errors, total_s, min_s,
    max_s, with `mean` avg_s and one column per quantile (``p50_s`` ...), plus the `extra`
    aggregates (name → SQL over the columns `reads`); the groups in the order of their
    first call. A group without a single duration has NaN figures, as pandas gives. With
    `top`, only the `top` groups of the largest totals are shown, so only they (and those
    tied with the last of them) need pandas' last digits; when fewer than `top` groups have
    a duration, the others are shown by calls (most first), then by `keys` (ascending, a
    missing key last): a trace without ``-T`` brings back `top` groups, not every target.
    Keys of coded `calls` (`Coded`) come back as texts; `extra` aggregates as the engine
    gives them (codes of a coded column). `known`, when `where` selects the calls that
    returned with those columns known, lets interleaved fragile groups be read again from
    the calls themselves (`strace_rescan`) instead of through the engine."""
    coded_calls = calls if isinstance(calls, Coded) else Coded(calls)
    calls = coded_calls.table
    extra = extra or {}
    columns = sorted({*keys, "errno", "duration_s", "status", *reads})
    sql = _GROUPED.format(keys=", ".join(keys), where=where)

    def shown(ask: engine.Ask) -> tuple[pa.Table, pa.Table, float | None]:
        ask(sql)
        layout = ask(_LAYOUT)
        cut: float | None = None
        if top is not None and layout["groups"][0].as_py() > top:
            found = ask(strace_stats._CUT.format(offset=top - 1))["total_s"].to_pylist()
            cut = float(found[0]) if found else -np.inf
        if cut is None:
            return ask(_SHOWN.format(where="")), layout, cut
        if cut == -np.inf:  # fewer than `top` groups have a duration: the others by calls
            order = ", ".join(f"{key} ASC NULLS LAST" for key in keys)
            return ask(_UNTIMED.format(order=order, top=top)), layout, cut
        # (the module's ULPS read when called: tests set it)
        floor = float(cut - strace_stats.ULPS * np.spacing(abs(cut)))
        where_shown = f"WHERE timed > 0 AND total_s >= CAST('{floor!r}' AS DOUBLE)"
        return ask(_SHOWN.format(where=where_shown)), layout, cut

    result, layout, cut = engine.session(
        shown, calls=lambda: engine.numbered(calls.select(columns))
    )
    added: list[tuple[str, Any]] = []
    if quantiles:
        added += _levels(calls, result.select(keys), keys, where, quantiles)
    if extra and result.num_rows:
        added += _extra(calls, result.select(keys), keys, where, extra, columns).items()
    else:
        added += [(name, pd.Series([], dtype=object)) for name in extra]
    return strace_stats._frame(
        coded_calls, keys, where, result, layout, cut, mean, added, digits, known
    )


def _extra(
    calls: pa.Table,
    groups: pa.Table,
    keys: list[str],
    where: str,
    extra: dict[str, str],
    columns: list[str],
) -> dict[str, list[object]]:
    """The `extra` aggregates (name → SQL) of every group of `groups`, in its order."""
    sql = _EXTRA.format(
        extra=", ".join(f"{expression} AS {name}" for name, expression in extra.items()),
        where=where,
        match=strace_stats._match(keys),
    )
    result = engine.query(
        sql,
        setup=JOIN_SMALL_SIDE,
        calls=lambda: engine.numbered(calls.select(columns)),
        chosen=strace_stats._chosen(groups, np.ones(groups.num_rows, dtype=bool)),
    )
    at = np.empty(groups.num_rows, dtype=np.int64)
    at[result["gid"].to_numpy()] = np.arange(result.num_rows)
    return {name: result[name].take(pa.array(at)).to_pylist() for name in extra}


def _levels(
    calls: pa.Table,
    groups: pa.Table,
    keys: list[str],
    where: str,
    quantiles: tuple[float, ...],
) -> list[tuple[str, np.ndarray]]:
    """Per quantile, its column: for every group of `groups` the quantile of its durations
    as pandas interpolates it (`strace_stats._levels_from`)."""
    every = np.ones(groups.num_rows, dtype=bool)
    sql = _LEVELS.format(match=strace_stats._match(keys), where=where)
    columns = sorted({*keys, "duration_s", "status", "errno"})
    counts = engine.query(
        sql,
        setup=JOIN_SMALL_SIDE,
        calls=calls.select(columns),
        chosen=strace_stats._chosen(groups, every),
    )
    return strace_stats._levels_from(counts, np.arange(groups.num_rows), groups.num_rows, quantiles)


_TARGET_EXTRA = {
    "target_kind": "arg_min_null(target_kind, idx)",
    "syscalls": "list(DISTINCT syscall)",
}
"""What the targets show beyond the figures: a target's kind is its first call's."""


def syscall_frame(calls: pa.Table | Coded) -> pd.DataFrame:
    """The frame `strace.syscall_summary` reads, of the calls alone."""
    return grouped(
        calls, ["syscall"], strace._returned(()), quantiles=strace.QUANTILES, mean=True, known=()
    )


def thread_frame(calls: pa.Table | Coded) -> pd.DataFrame:
    """The frame `strace.per_thread_summary` reads, of the calls alone."""
    return grouped(
        calls,
        ["tid", "syscall"],
        strace._returned(("tid",)),
        quantiles=strace.QUANTILES,
        mean=True,
        known=("tid",),
    )


def target_frame(calls: pa.Table | Coded, top: int | None) -> pd.DataFrame:
    """The frame `strace.target_summary` reads, of the calls alone (every target without
    `top`)."""
    return grouped(
        calls,
        ["target"],
        strace._returned(("target",)),
        extra=_TARGET_EXTRA,
        reads=("target_kind", "syscall"),
        top=top,
        known=("target",),
    )


def latency_frame(calls: pa.Table | Coded, top: int | None) -> pd.DataFrame:
    """The frame `strace.latency_by_target` reads, of the calls alone (every (syscall,
    target) without `top`)."""
    return grouped(
        calls,
        ["syscall", "target"],
        strace._returned(()),
        quantiles=(0.5, 0.95),
        top=top,
        known=(),
    )


def summaries_alone(
    calls: pa.Table | Coded, tasks: pa.Table, targets: int, latency: int
) -> dict[str, Any]:
    """The four grouped summaries of `strace.section`, each from its own query of `calls`
    (which must have calls that returned: the section makes none otherwise)."""
    return {
        "syscalls": strace.syscall_summary(syscall_frame(calls)),
        "threads": strace.per_thread_summary(thread_frame(calls), tasks),
        "targets": strace.target_summary(target_frame(calls, targets), calls, targets),
        "latency": strace.latency_by_target(latency_frame(calls, latency), latency),
    }
