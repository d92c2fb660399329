"""The report's `cloudwatch` section: each exported metric's range and its worst stretches.

Built from `cloud_metrics` (`analyzer.formats.cloudwatch`). Per metric (and statistic, and
query id): how many values, their period, unit, min/mean/max, the worst value (the lowest of
a credit balance, the highest of anything else) with its time and line, the series, and the
stretches of consecutive periods past a known limit (`LIMITS`): a BurstBalance or other
credit balance at or below 20 %, a VolumeQueueLength of 1 or more, CPU at 90 % or more.
Values CloudWatch marked incomplete (``PartialData``, ``InternalError``) are counted.
docs/sources/cloudwatch.md documents every key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer.model import Derived
from analyzer.sections.series import clock_of, finished, none, series, spread

LIMITS: dict[str, tuple[str, float, str]] = {
    "BurstBalance": ("low", 20.0, "EBS gp2/st1/sc1 burst credits nearly spent (%)"),
    "EBSIOBalance%": ("low", 20.0, "the instance's EBS I/O burst credits nearly spent (%)"),
    "EBSByteBalance%": ("low", 20.0, "the instance's EBS throughput credits nearly spent (%)"),
    "CPUCreditBalance": ("low", 1.0, "a burstable instance's CPU credits spent"),
    "VolumeQueueLength": ("high", 1.0, "I/O requests waiting on the volume"),
    "DiskQueueDepth": ("high", 1.0, "I/O requests waiting on the RDS volume"),
    "CPUUtilization": ("high", 90.0, "CPU saturated (%)"),
    "VolumeThroughputPercentage": ("high", 90.0, "io1/io2 volume at its provisioned IOPS (%)"),
    "CPUSurplusCreditsCharged": ("high", 0.0, "CPU surplus credits charged"),
}
"""Metric -> (which side is bad, the limit, what crossing it means)."""
TOP_STRETCHES = 5


def direction(metric: str | None) -> str:
    """``low`` for metrics whose low values are bad (credit balances), else ``high``."""
    if metric in LIMITS:
        return LIMITS[metric][0]
    return "low" if metric and "Balance" in metric else "high"


def bad(metric: str | None, values: np.ndarray) -> np.ndarray | None:
    """Which values cross the metric's known limit (None when it has none)."""
    if metric not in LIMITS:
        return None
    side, limit, _ = LIMITS[metric]
    return values <= limit if side == "low" else values >= limit


def stretches(
    metric: str | None, times: np.ndarray, values: np.ndarray, lines: np.ndarray, period: float
) -> list[dict[str, Any]]:
    """Runs of consecutive periods past the metric's limit, longest and worst first."""
    crossed = bad(metric, values)
    if crossed is None or not crossed.any():
        return []
    found = []
    start = None
    flags = [*crossed.tolist(), False]
    for index, flag in enumerate(flags):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            part = slice(start, index)
            worst = values[part].min() if direction(metric) == "low" else values[part].max()
            found.append(
                {
                    "first_at": float(times[start]),
                    "last_at": float(times[index - 1]),
                    "duration_s": float(times[index - 1] - times[start] + period),
                    "periods": index - start,
                    "worst": float(worst),
                    "first_line": none(lines[start]),
                }
            )
            start = None
    found.sort(key=lambda row: (-row["periods"], row["first_at"]))
    return found[:TOP_STRETCHES]


def _past_limit(metric: str | None, values: np.ndarray) -> int | None:
    crossed = bad(metric, values)
    return None if crossed is None else int(crossed.sum())


def metric_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    found = []
    keys = ["input", "metric", "stat", "query_id"]
    for (name, metric, stat, query), rows in frame.groupby(keys, sort=False, dropna=False):
        rows = rows.sort_values("ts", kind="stable")
        times = rows["ts"].to_numpy(dtype=np.float64)
        values = rows["value"].to_numpy(dtype=np.float64)
        lines = rows["line_no"].to_numpy(dtype=np.float64)
        gaps = np.diff(times)
        period = float(np.median(gaps)) if len(gaps) else 0.0
        side = direction(none(metric))
        worst = int(np.argmin(values) if side == "low" else np.argmax(values))
        statuses = rows["status_code"].dropna()
        limit = LIMITS.get(none(metric) or "")
        found.append(
            {
                "input": name,
                "metric": none(metric),
                "stat": none(stat),
                "query_id": none(query),
                "unit": none(rows["unit"].dropna().iloc[0]) if rows["unit"].notna().any() else None,
                "values": len(rows),
                "period_s": period,
                "first_at": float(times[0]),
                "last_at": float(times[-1]),
                **spread(values),
                "bad_when": side,
                "limit": limit[1] if limit else None,
                "limit_means": limit[2] if limit else None,
                "worst": {
                    "value": float(values[worst]),
                    "at": float(times[worst]),
                    "line": none(lines[worst]),
                },
                "past_limit": _past_limit(none(metric), values),
                "stretches": stretches(none(metric), times, values, lines, period),
                "not_complete": int((statuses != "Complete").sum()),
                "series": series(times, values),
            }
        )
    found.sort(key=lambda row: (-(row["past_limit"] or 0), row["metric"] or "", row["stat"] or ""))
    return found


def cloudwatch_section(table: pa.Table) -> dict[str, Any]:
    """The report's `cloudwatch` section for the run's metric values."""
    frame = table.to_pandas()
    notes = [
        "CloudWatch values are per period (60 s or 300 s): a spike shorter than the period "
        "is averaged away; Maximum keeps it. Times are UTC, each the start of its period."
    ]
    if (frame["status_code"].dropna() != "Complete").any():
        notes.append(
            "Some get-metric-data results are not Complete (PartialData: more pages behind "
            "a NextToken; InternalError): their series may have gaps."
        )
    return finished(
        {
            "clock": clock_of("epoch" if len(frame) else None),
            "metrics": metric_rows(frame),
            "notes": notes,
        }
    )


def section(derived: Derived) -> dict[str, Any]:
    """The report's `cloudwatch` key."""
    return {"cloudwatch": cloudwatch_section(derived.tables["cloud_metrics"])}
