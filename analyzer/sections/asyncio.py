"""The `asyncio` section of the report: what the event loop said about itself.

Built from the `loop_events` table. Slow callbacks are grouped by code location and by
coroutine (count, total, max, p95, first and last time); the misuse messages (exceptions,
tasks destroyed while pending, never-retrieved exceptions, never-awaited coroutines,
resource warnings) are grouped by kind and location with one sample record each. When the
log has timestamps, the slow steps also form a timeline of blocking episodes
(`blocking_timeline`). The section also says what the log cannot show: debug mode logs only
steps that took at least `loop.slow_callback_duration` (0.1 s unless the application changed
it), and uvloop does not time protocol callbacks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy, numbers
from analyzer.derive.asyncio import (
    DEFAULT_SLOW_CALLBACK_S,
    MISUSE_KINDS,
    SAMPLE_CHARS,
    RowValues,
    first_codes,
    pair_codes,
    take,
)
from analyzer.model import Derived
from analyzer.sections.strace import records

TIMELINE_LIMIT = 2000
"""Episodes in the timeline at most: the longest are kept, the others only counted."""


def _slow_groups(
    codes: np.ndarray, names: list[Any], key: str, duration: np.ndarray, time_s: np.ndarray
) -> list[dict[str, Any]]:
    """Slow steps grouped by `key` (`codes` into `names`, -1 for null: left out), with
    pandas on the numbers only: the key's strings are looked up per group."""
    kept = codes >= 0
    if not kept.any():
        return []
    frame = pd.DataFrame(
        {"code": codes[kept], "duration_s": duration[kept], "time_s": time_s[kept]}
    )
    grouped = frame.groupby("code", sort=False)["duration_s"]
    times = frame.groupby("code", sort=False)["time_s"]
    table = pd.DataFrame(
        {
            "count": grouped.size(),
            "total_s": grouped.sum(),
            "max_s": grouped.max(),
            "p95_s": grouped.quantile(0.95),
            "first_time_s": times.min(),
            "last_time_s": times.max(),
        }
    ).reset_index()
    table[key] = pd.Series(np.array(names, dtype=object)[table["code"].to_numpy()], dtype=object)
    table = table.sort_values(["total_s", key], ascending=[False, True])
    return records(
        table[[key, "count", "total_s", "max_s", "p95_s", "first_time_s", "last_time_s"]]
    )


def _valid(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=bool)


def blocking_timeline(
    events: pa.Table, limit: int = TIMELINE_LIMIT
) -> tuple[list[dict[str, Any]], int]:
    """The timed slow callbacks and task steps as blocking episodes, in time order, and how
    many were left out (beyond the `limit` longest).

    Each episode is ``{time_s, duration_s, location, task, coro, callback, input, line}``.
    asyncio logs ``Executing ... took X seconds`` when the step has ended, so the episode
    began about X before the record's time: ``time_s`` is the log time minus ``duration_s``
    (Unix seconds; a log time printed without a zone is read as UTC, see `loop_events`).
    ``location`` is the step's ``file:line`` (the coroutine's, or the callback's when it is a
    plain function; None for bound-method callbacks such as a transport's ``_read_ready``),
    ``task`` the task name (None for callbacks and for 3.7's unnamed tasks), ``coro`` and
    ``callback`` what ran, ``input`` and ``line`` the record. Steps without a time (a log
    without timestamps, journalctl ``short`` times without a year) are not in it.
    """
    slow = filled_numpy(pc.equal(events["kind"], "slow_callback"), False)
    rows = np.flatnonzero(slow & _valid(events["time_s"]) & _valid(events["duration_s"]))
    if not len(rows):
        return [], 0
    duration = numbers(events["duration_s"])[rows]
    keep = np.arange(len(rows))
    omitted = 0
    if len(rows) > limit:
        keep = np.sort(np.argsort(-duration, kind="stable")[:limit])
        omitted = len(rows) - limit
    kept = rows[keep]  # Python values only for the kept rows
    kept_duration = duration[keep]
    start = numbers(events["time_s"])[kept] - kept_duration
    columns = {name: take(events[name], kept).to_pylist() for name in _TIMELINE_TEXT}
    order = sorted(
        range(len(keep)),
        key=lambda i: (start[i], columns["input"][i], columns["line_start"][i]),
    )
    timeline = []
    for i in order:
        timeline.append(
            {
                "time_s": round(float(start[i]), 6),
                "duration_s": float(kept_duration[i]),
                "location": columns["location"][i],
                "task": columns["task_name"][i],
                "coro": columns["coro"][i],
                "callback": columns["callback"][i],
                "input": columns["input"][i],
                "line": columns["line_start"][i],
            }
        )
    return timeline, omitted


def _location_groups(
    events: pa.Table, slow: np.ndarray, duration: np.ndarray, time_s: np.ndarray
) -> list[dict[str, Any]]:
    """Slow steps by code location; steps whose repr names no ``file:line`` (a bound method
    or a ``functools.partial`` callback) are grouped by the callback (or coroutine) instead,
    with ``location`` null, so that no step is left out of the table."""
    location, names = first_codes(events["location"].chunks)
    located = _slow_groups(location[slow], names, "location", duration, time_s)
    for group in located:
        group["callback"] = None
    what, what_names = first_codes(
        pc.coalesce(batch["callback"], batch["coro"])
        for batch in events.select(["callback", "coro"]).to_batches()
    )
    unlocated = np.where(location[slow] < 0, what[slow], -1)
    by_callback = _slow_groups(unlocated, what_names, "what", duration, time_s)
    for group in by_callback:
        group["callback"] = group.pop("what")
        group["location"] = None
    groups = located + by_callback
    groups.sort(key=lambda group: (-group["total_s"], group["location"] or group["callback"]))
    return groups


_TIMELINE_TEXT = ("location", "task_name", "coro", "callback", "input", "line_start")


def _misuse_groups(events: pa.Table, kinds: np.ndarray, kind_names: list[Any]) -> list[Any]:
    """The misuse records grouped by kind and location, with one sample record each."""
    wanted = [code for code, name in enumerate(kind_names) if name in MISUSE_KINDS]
    rows = np.flatnonzero(np.isin(kinds, wanted))
    if not len(rows):
        return []
    where, where_names = first_codes(pc.fill_null(c, "") for c in events["location"].chunks)
    codes = pair_codes(kinds[rows], where[rows])
    count = np.bincount(codes)
    first = np.full(len(count), len(rows))
    np.minimum.at(first, codes, np.arange(len(rows)))
    samples = RowValues(events, rows[first])
    every = np.arange(len(count))
    sample = {name: samples.values(name, every) for name in ("input", "line_start", "exc_type")}
    texts = samples.values("text", every)
    keyed = sorted(
        range(len(count)),
        key=lambda g: (kind_names[kinds[rows[first[g]]]], where_names[where[rows[first[g]]]]),
    )
    groups = []
    for g in keyed:
        location = where_names[where[rows[first[g]]]]
        groups.append(
            {
                "kind": kind_names[kinds[rows[first[g]]]],
                "location": location or None,
                "count": int(count[g]),
                "exception": sample["exc_type"][g],
                "sample": {
                    "input": sample["input"][g],
                    "line": int(sample["line_start"][g]),
                    "text": texts[g][:SAMPLE_CHARS],
                },
            }
        )
    groups.sort(key=lambda item: (-item["count"], item["kind"]))
    return groups


def asyncio_section(events: pa.Table) -> dict[str, Any]:
    """The report's `asyncio` section for the loop events of all asyncio inputs: grouped
    from codes and numbers (`first_codes`), so a log of millions of records makes Python
    objects only for its groups and samples."""
    kinds, kind_names = first_codes(events["kind"].chunks)
    slow = kinds == (kind_names.index("slow_callback") if "slow_callback" in kind_names else -2)
    duration = numbers(events["duration_s"])[slow]
    time_s = numbers(events["time_s"])[slow]
    count = int(slow.sum())
    per_kind = np.bincount(kinds[kinds >= 0], minlength=len(kind_names))
    uvloop = bool(pc.any(pc.fill_null(events["uvloop"], False)).as_py() or False)
    notes = [
        f"Debug mode logs only callbacks and task steps that took at least "
        f"loop.slow_callback_duration ({DEFAULT_SLOW_CALLBACK_S:g} s unless the application "
        "changed it); shorter blocking is not in the log."
    ]
    if uvloop:
        notes.append("The log comes from uvloop, which does not time protocol callbacks.")
    timeline, omitted = blocking_timeline(events)
    if count and not timeline:
        notes.append("The log has no timestamps on its slow steps, so there is no timeline.")
    if omitted:
        notes.append(
            f"The timeline lists the {TIMELINE_LIMIT} longest of {TIMELINE_LIMIT + omitted} "
            "timed slow steps."
        )
    coro, coro_names = first_codes(events["coro"].chunks)
    return {
        "records": events.num_rows,
        "by_kind": {
            str(name): int(per_kind[code])
            for code, name in sorted(enumerate(kind_names), key=lambda item: item[1])
        },
        "slow_callbacks": {
            "count": count,
            "total_s": float(pd.Series(duration).sum()) if count else 0.0,
            "by_location": _location_groups(events, slow, duration, time_s),
            "by_coroutine": _slow_groups(coro[slow], coro_names, "coro", duration, time_s),
        },
        "misuse": _misuse_groups(events, kinds, kind_names),
        "timeline": timeline,
        "timeline_omitted": omitted,
        "uvloop": uvloop,
        "notes": notes,
    }


def section(derived: Derived) -> dict[str, Any]:
    """The report's `asyncio` key: the section of the run's loop events."""
    return {"asyncio": asyncio_section(derived.tables["loop_events"])}
