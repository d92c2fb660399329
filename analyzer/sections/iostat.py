"""The report's `iostat` section: per device, how busy it was and how long its requests took,
report by report.

Built from `iostat_devices` and `iostat_cpu` (`analyzer.formats.iostat`). Per device: the
mean and the peak (with its time and line) of r/s, w/s, rkB/s, wkB/s, r_await, w_await,
await (the two weighted by their request rates, or sysstat 11's own), aqu-sz and %util,
their series over time, and the stretches of consecutive reports in which the device was
saturated (%util at `BUSY_UTIL_PCT` or a queue of `BUSY_QUEUE` requests or more). The CPU
part gives %iowait and %steal. A run's first report is the average since boot (unless
iostat ran with ``-y``): it is left out when the run has later reports.
docs/sources/iostat.md documents every key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer.model import Derived
from analyzer.sections.series import clock_of, finished, none, series, spread

BUSY_UTIL_PCT = 80.0
BUSY_QUEUE = 1.0
TOP_DEVICES = 16
"""Devices reported at most (the busiest by peak %util, then by peak await)."""
METRICS = (
    "r_s",
    "w_s",
    "rkb_s",
    "wkb_s",
    "r_await_ms",
    "w_await_ms",
    "aqu_sz",
    "util_pct",
    "tps",
)


def measured_reports(frame: pd.DataFrame) -> pd.DataFrame:
    """The reports of each run but its first (since boot) when the run has others."""
    several = frame.groupby(["input", "run"])["report"].transform("nunique") > 1
    first = frame.groupby(["input", "run"])["report"].transform("min")
    return frame[~several | (frame["report"] > first)]


def combined_await(frame: pd.DataFrame) -> pd.Series:
    """The mean time of a request, reads and writes together: sysstat 11's ``await``, else
    r_await and w_await weighted by r/s and w/s."""
    reads, writes = frame["r_s"].fillna(0.0), frame["w_s"].fillna(0.0)
    weighted = (
        reads * frame["r_await_ms"].fillna(0.0) + writes * frame["w_await_ms"].fillna(0.0)
    ) / (reads + writes).where(reads + writes > 0)
    weighted = weighted.where(frame["r_await_ms"].notna() | frame["w_await_ms"].notna())
    return frame["await_ms"].fillna(weighted)


def stretches(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Runs of consecutive reports in which the device was saturated."""
    busy = (rows["util_pct"].fillna(0.0) >= BUSY_UTIL_PCT) | (
        rows["aqu_sz"].fillna(0.0) >= BUSY_QUEUE
    )
    found = []
    start = None
    flags = [*busy.to_numpy().tolist(), False]
    for index, flag in enumerate(flags):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            part = rows.iloc[start:index]
            found.append(
                {
                    "first_at": none(part["time"].iloc[0]),
                    "last_at": none(part["time"].iloc[-1]),
                    "reports": len(part),
                    "max_await_ms": none(part["await"].max()),
                    "max_aqu_sz": none(part["aqu_sz"].max()),
                    "max_util_pct": none(part["util_pct"].max()),
                    "w_s": none(part["w_s"].mean()),
                    "wkb_s": none(part["wkb_s"].mean()),
                    "first_line": int(part["line_no"].iloc[0]),
                    "last_line": int(part["line_no"].iloc[-1]),
                }
            )
            start = None
    found.sort(key=lambda row: (-row["reports"], -(row["max_await_ms"] or 0.0)))
    return found[:10]


def devices(frame: pd.DataFrame) -> list[dict[str, Any]]:
    found = []
    for (name, device), rows in frame.groupby(["input", "device"], sort=False):
        rows = rows.sort_values(["run", "report"])
        entry: dict[str, Any] = {
            "input": name,
            "device": device,
            "host": none(rows["host"].iloc[0]),
            "reports": len(rows),
        }
        for metric in (*METRICS, "await"):
            values = rows[metric].to_numpy(dtype=np.float64)
            if not np.isfinite(values).any():
                continue
            peak = int(np.nanargmax(values))
            entry[metric] = {
                **spread(values),
                "max_at": none(rows["time"].iloc[peak]),
                "max_line": int(rows["line_no"].iloc[peak]),
            }
        entry["series"] = {
            metric: series(rows["time"].fillna(rows["report"]).to_numpy(), rows[metric].to_numpy())
            for metric in ("await", "aqu_sz", "util_pct", "w_s", "r_s")
            if rows[metric].notna().any()
        }
        entry["saturated"] = stretches(rows)
        found.append(entry)

    def busiest(entry: dict[str, Any]) -> tuple[float, float]:
        util = (entry.get("util_pct") or {}).get("max") or 0.0
        wait = (entry.get("await") or {}).get("max") or 0.0
        return (-util, -wait)

    found.sort(key=busiest)
    return found[:TOP_DEVICES]


def iostat_section(device_table: pa.Table, cpu_table: pa.Table) -> dict[str, Any]:
    """The report's `iostat` section for the run's iostat tables."""
    frame = device_table.drop_columns(["extra"]).to_pandas()
    cpu = cpu_table.drop_columns(["extra"]).to_pandas()
    stamped = pd.concat([frame[["ts", "utc_offset_known"]], cpu[["ts", "utc_offset_known"]]])
    if stamped["ts"].notna().any():
        kind = "epoch" if stamped["utc_offset_known"].fillna(False).all() else "local"
    else:
        kind = None
    frame["time"] = frame["ts"]
    cpu["time"] = cpu["ts"]
    total = len(frame)
    frame = measured_reports(frame)
    frame = frame.assign(**{"await": combined_await(frame)})
    cpu = measured_reports(cpu)
    cpu_part = None
    if not cpu.empty:
        cpu_part = {
            metric: {
                **spread(cpu[metric].to_numpy(dtype=np.float64)),
                "series": series(
                    cpu["time"].fillna(cpu["report"]).to_numpy(), cpu[metric].to_numpy()
                ),
            }
            for metric in ("iowait_pct", "steal_pct", "user_pct", "system_pct", "idle_pct")
            if cpu[metric].notna().any()
        }
    notes = [
        "A run's first report is the average since boot unless iostat ran with -y: it is "
        "left out when the run has later reports."
        if len(frame) < total
        else "Every report is an interval's (a single report is the average since boot).",
        "await is the mean time of a request in the queue and at the device (ms); aqu-sz the "
        "mean number of requests queued or in flight; %util the share of time the device "
        f"had requests (saturated from {BUSY_UTIL_PCT:g}% or a queue of {BUSY_QUEUE:g}).",
    ]
    if kind is None:
        notes.append("iostat ran without -t: the reports have no time, only an order.")
    return finished(
        {
            "clock": clock_of(kind),
            "devices": devices(frame),
            "cpu": cpu_part,
            "notes": notes,
        }
    )


def section(derived: Derived) -> dict[str, Any]:
    """The report's `iostat` key."""
    tables = derived.tables
    return {"iostat": iostat_section(tables["iostat_devices"], tables["iostat_cpu"])}
