"""The `asyncio` section of the report: what the event loop said about itself.

Built from the `loop_events` table. Slow callbacks are grouped by code location and by
coroutine (count, total, max, p95, first and last time); the misuse messages (exceptions,
tasks destroyed while pending, never-retrieved exceptions, never-awaited coroutines,
resource warnings) are grouped by kind and location with one sample record each. The section
also says what the log cannot show: debug mode logs only steps that took at least
`loop.slow_callback_duration` (0.1 s unless the application changed it), and uvloop does not
time protocol callbacks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from analyzer.summary import records

MISUSE_KINDS = (
    "exception",
    "task_destroyed_pending",
    "never_retrieved",
    "never_awaited",
    "resource_warning",
)
DEFAULT_SLOW_CALLBACK_S = 0.1
SAMPLE_CHARS = 2000


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
            "text",
        ]
    ).to_pandas()
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
                        "text": first["text"][:SAMPLE_CHARS],
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
    return {
        "records": len(frame),
        "by_kind": {str(k): int(v) for k, v in frame["kind"].value_counts().sort_index().items()},
        "slow_callbacks": {
            "count": len(slow),
            "total_s": float(slow["duration_s"].sum()) if len(slow) else 0.0,
            "by_location": _slow_groups(slow, "location"),
            "by_coroutine": _slow_groups(slow, "coro"),
        },
        "misuse": misuse_groups,
        "uvloop": uvloop,
        "notes": notes,
    }
