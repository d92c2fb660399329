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

from analyzer.derive.asyncio import DEFAULT_SLOW_CALLBACK_S, MISUSE_KINDS, SAMPLE_CHARS
from analyzer.model import Derived
from analyzer.sections.strace import records

TIMELINE_LIMIT = 2000
"""Episodes in the timeline at most: the longest are kept, the others only counted."""


def _slow_groups(slow: pd.DataFrame, key: str) -> list[dict[str, Any]]:
    frame = slow.dropna(subset=[key])
    if frame.empty:
        return []
    grouped = frame.groupby(key, sort=False)["duration_s"]
    times = frame.groupby(key, sort=False)["time_s"]
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
    table = table.sort_values(["total_s", key], ascending=[False, True])
    return records(
        table[[key, "count", "total_s", "max_s", "p95_s", "first_time_s", "last_time_s"]]
    )


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
    mask = pc.and_(
        pc.equal(events["kind"], "slow_callback"),
        pc.and_(pc.is_valid(events["time_s"]), pc.is_valid(events["duration_s"])),
    )
    steps = events.filter(mask)
    if steps.num_rows == 0:
        return [], 0
    duration = steps["duration_s"].to_numpy()
    keep = np.arange(steps.num_rows)
    omitted = 0
    if steps.num_rows > limit:
        keep = np.sort(np.argsort(-duration, kind="stable")[:limit])
        omitted = steps.num_rows - limit
    kept = steps.take(pa.array(keep, pa.int64()))  # Python values only for the kept rows
    kept_duration = duration[keep]
    start = kept["time_s"].to_numpy() - kept_duration
    columns = {name: kept[name].to_pylist() for name in _TIMELINE_TEXT}
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


def _location_groups(slow: pd.DataFrame) -> list[dict[str, Any]]:
    """Slow steps by code location; steps whose repr names no ``file:line`` (a bound method
    or a ``functools.partial`` callback) are grouped by the callback (or coroutine) instead,
    with ``location`` null, so that no step is left out of the table."""
    located = _slow_groups(slow, "location")
    for group in located:
        group["callback"] = None
    unlocated = slow[slow["location"].isna()]
    unlocated = unlocated.assign(what=unlocated["callback"].fillna(unlocated["coro"]))
    by_callback = _slow_groups(unlocated, "what")
    for group in by_callback:
        group["callback"] = group.pop("what")
        group["location"] = None
    groups = located + by_callback
    groups.sort(key=lambda group: (-group["total_s"], group["location"] or group["callback"]))
    return groups


_TIMELINE_TEXT = ("location", "task_name", "coro", "callback", "input", "line_start")


def asyncio_section(events: pa.Table) -> dict[str, Any]:
    """The report's `asyncio` section for the loop events of all asyncio inputs."""
    frame = events.select(
        [
            "input",
            "line_start",
            "kind",
            "time_s",
            "duration_s",
            "coro",
            "task_name",
            "callback",
            "location",
            "exc_type",
            "uvloop",
        ]
    ).to_pandas()  # without the texts: only the samples' are read (from `events`)
    slow = frame[frame["kind"] == "slow_callback"]
    misuse = frame[frame["kind"].isin(MISUSE_KINDS)]
    misuse_groups = []
    if not misuse.empty:
        keyed = misuse.assign(where=misuse["location"].fillna(""))
        for (kind, where), group in keyed.groupby(["kind", "where"], sort=True):
            first = group.iloc[0]
            misuse_groups.append(
                {
                    "kind": kind,
                    "location": where or None,
                    "count": len(group),
                    "exception": first["exc_type"],
                    "sample": {
                        "input": first["input"],
                        "line": int(first["line_start"]),
                        "text": events["text"][int(first.name)].as_py()[:SAMPLE_CHARS],
                    },
                }
            )
        misuse_groups.sort(key=lambda item: (-item["count"], item["kind"]))
    uvloop = bool(frame["uvloop"].fillna(False).any())
    notes = [
        f"Debug mode logs only callbacks and task steps that took at least "
        f"loop.slow_callback_duration ({DEFAULT_SLOW_CALLBACK_S:g} s unless the application "
        "changed it); shorter blocking is not in the log."
    ]
    if uvloop:
        notes.append("The log comes from uvloop, which does not time protocol callbacks.")
    timeline, omitted = blocking_timeline(events)
    if len(slow) and not timeline:
        notes.append("The log has no timestamps on its slow steps, so there is no timeline.")
    if omitted:
        notes.append(
            f"The timeline lists the {TIMELINE_LIMIT} longest of {TIMELINE_LIMIT + omitted} "
            "timed slow steps."
        )
    return {
        "records": len(frame),
        "by_kind": {str(k): int(v) for k, v in frame["kind"].value_counts().sort_index().items()},
        "slow_callbacks": {
            "count": len(slow),
            "total_s": float(slow["duration_s"].sum()) if len(slow) else 0.0,
            "by_location": _location_groups(slow),
            "by_coroutine": _slow_groups(slow, "coro"),
        },
        "misuse": misuse_groups,
        "timeline": timeline,
        "timeline_omitted": omitted,
        "uvloop": uvloop,
        "notes": notes,
    }


def section(derived: Derived) -> dict[str, Any]:
    """The report's `asyncio` key: the section of the run's loop events."""
    return {"asyncio": asyncio_section(derived.tables["loop_events"])}
