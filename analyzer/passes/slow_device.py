"""IOD022 slow_device: threads that waited on file I/O (fsync, writes, reads) while iostat
showed the device under them slow or CloudWatch the volume past its limits: the storage
conclusion of IOD017, with the device that explains it.

Evidence, all put on the strace trace's clock by `analyzer.derive.timeline`:

- **strace**: the earlier slow_syscall and thread_pileup findings (IOD001, IOD004) whose
  resource is a file or directory and whose call is a flush (fsync, fdatasync,
  sync_file_range, msync, syncfs), a write or a read: the window from their first slow call
  to the end of the last, the threads, the time they waited, the directory they share;
- **iostat** (``-x -t``): the device rows reported inside that window (one interval of slack
  on each side). The device is the one with the highest mean await (reads and writes
  weighted by their rates) among those that did I/O then; it is slow when its await
  reached `SLOW_AWAIT_MS`, its queue (aqu-sz) `BUSY_QUEUE` or its %util `BUSY_UTIL_PCT`.
  iostat names devices, strace names paths: the match is by time (the busiest device while
  the calls waited), which the evidence says;
- **CloudWatch**: a BurstBalance (or EBS credit balance) at or below 20 %, or a
  VolumeQueueLength (DiskQueueDepth) of 1 or more, in a period that overlaps the window
  (periods are 60 or 300 s: a one-period slack);
- **top/ps**: the waiting threads seen in D (uninterruptible sleep: the kernel waits for
  the block layer) during the window, with their wait channel;
- **py-spy**: the waiting threads' Python stacks in the dumps taken during the window.

The pass needs iostat or CloudWatch inputs and their evidence (the device slow, or the
volume past its limits, while the calls waited); from strace alone IOD017 (slow_storage)
groups the files by directory or device. The finding explains IOD017's finding and the
per-file findings (the verdict folds them into it) and its cost is the time they cost.
Without strace findings, a device saturated for `MIN_REPORTS` reports in a row, or a volume
past its limit for `MIN_PERIODS` periods, is a warning on its own.

Why a slow device makes fsync slow: fsync writes the file's dirty pages and waits for them
(``file_write_and_wait_range``) and for a cache flush; each request waits in the device queue
(aqu-sz) and at the device (await). On EBS gp2/st1/sc1 an empty burst bucket caps IOPS or
throughput at the baseline, so requests queue (VolumeQueueLength) and await grows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analyzer.derive.strace_families import FLUSHES
from analyzer.passes.base import (
    Culprit,
    Explains,
    Finding,
    Pass,
    PassConfig,
    PassInputs,
    Resource,
    Severity,
)
from analyzer.passes.evidence import Timeline, citation, file_line, has_evidence, timeline

CODE = "IOD022"
KIND = "slow_device"
SLOW_AWAIT_MS = 20.0
BUSY_QUEUE = 1.0
BUSY_UTIL_PCT = 80.0
MIN_REPORTS = 3
MIN_PERIODS = 3
CLOUD_LIMITS: dict[str, tuple[str, float]] = {
    "BurstBalance": ("low", 20.0),
    "EBSIOBalance%": ("low", 20.0),
    "EBSByteBalance%": ("low", 20.0),
    "VolumeQueueLength": ("high", 1.0),
    "DiskQueueDepth": ("high", 1.0),
}
STORAGE_CALLS = FLUSHES | frozenset(
    {
        "write",
        "pwrite64",
        "writev",
        "pwritev",
        "pwritev2",
        "read",
        "pread64",
        "readv",
        "preadv",
        "preadv2",
        "fallocate",
        "ftruncate",
    }
)
FILE_KINDS = frozenset({"file", "directory"})


def storage_findings(earlier: Sequence[Finding]) -> list[Finding]:
    """The earlier findings about calls on files that wait for storage: IOD017's conclusions
    about a directory or device and the per-file IOD001/IOD004 findings."""
    found: list[Finding] = []
    for finding in earlier:
        if finding.severity == "info":
            continue
        if finding.kind == "slow_storage":
            found.append(finding)
            continue
        if finding.kind not in ("slow_syscall", "thread_pileup"):
            continue
        if finding.resource is None or finding.resource.kind not in FILE_KINDS:
            continue
        calls = {finding.evidence.get("syscall")} | {
            row.get("syscall")
            for row in finding.evidence.get("syscalls") or ()
            if isinstance(row, dict)
        }
        if calls & STORAGE_CALLS:
            found.append(finding)
    return found


def _window(findings: Sequence[Finding]) -> tuple[float, float] | None:
    starts, ends = [], []
    for finding in findings:
        for call in finding.evidence.get("outliers") or ():
            if isinstance(call, dict) and call.get("start") is not None:
                starts.append(float(call["start"]))
                ends.append(float(call["start"]) + float(call.get("duration_s") or 0.0))
        if finding.start is not None:
            starts.append(finding.start)
            ends.append(finding.start + (finding.duration_s or 0.0))
    if not starts:
        return None
    return min(starts), max(ends)


def _threads(findings: Sequence[Finding]) -> set[int]:
    tids: set[int] = set()
    for finding in findings:
        for tid in finding.evidence.get("threads") or ():
            if isinstance(tid, dict):
                tid = tid.get("tid")
            if isinstance(tid, int):
                tids.add(tid)
        if finding.tid is not None:
            tids.add(finding.tid)
    return tids


def _directory(findings: Sequence[Finding]) -> str | None:
    for finding in findings:
        if finding.kind == "slow_storage" and finding.evidence.get("directory"):
            return str(finding.evidence["directory"])
    paths = [
        str(finding.evidence.get("target") or finding.evidence.get("resource") or "")
        for finding in findings
    ]
    paths = [path for path in paths if path.startswith("/")]
    if not paths:
        return None
    common = os.path.commonpath(paths)
    return common if len(paths) > 1 or common != paths[0] else os.path.dirname(common)


def _calls(findings: Sequence[Finding]) -> set[str]:
    calls = {str(f.evidence["syscall"]) for f in findings if f.evidence.get("syscall")}
    for finding in findings:
        for row in finding.evidence.get("operations") or ():
            if isinstance(row, dict):
                calls.update(str(name) for name in row.get("syscalls") or ())
    return calls


def device_evidence(
    reports: pd.DataFrame, window: tuple[float, float] | None
) -> dict[str, Any] | None:
    """The busiest device while the calls waited (or over the whole input without a window)."""
    if reports.empty:
        return None
    rows = reports
    if window is not None:
        aligned = reports[reports["at"].notna()]
        if aligned.empty:
            return None
        gaps = np.diff(np.sort(aligned["at"].unique()))
        slack = float(np.median(gaps)) if len(gaps) else 1.0
        rows = aligned[(aligned["at"] >= window[0] - slack) & (aligned["at"] <= window[1] + slack)]
    if rows.empty:
        return None
    io = rows["r_s"].fillna(0.0) + rows["w_s"].fillna(0.0) + rows["tps"].fillna(0.0)
    active = rows[io > 0]
    if active.empty:
        return None
    per_device = active.groupby(["input", "device"], sort=False)
    means = per_device["await"].mean().sort_values(ascending=False)
    name, device = means.index[0]
    mine = rows[(rows["input"] == name) & (rows["device"] == device)].sort_values("at")
    worst = mine.loc[mine["await"].idxmax()]
    util = mine["util_pct"].to_numpy(dtype=np.float64)
    queue = mine["aqu_sz"].to_numpy(dtype=np.float64)
    slow = bool(
        (mine["await"] >= SLOW_AWAIT_MS).any()
        or (np.nan_to_num(queue) >= BUSY_QUEUE).any()
        or (np.nan_to_num(util) >= BUSY_UTIL_PCT).any()
    )
    return {
        "input": str(name),
        "device": str(device),
        "reports": len(mine),
        "await_mean_ms": float(mine["await"].mean()),
        "await_max_ms": float(mine["await"].max()),
        "w_await_max_ms": _max(mine["w_await_ms"]),
        "aqu_sz_mean": _mean(mine["aqu_sz"]),
        "aqu_sz_max": _max(mine["aqu_sz"]),
        "util_mean_pct": _mean(mine["util_pct"]),
        "util_max_pct": _max(mine["util_pct"]),
        "w_s_mean": _mean(mine["w_s"]),
        "wkb_s_mean": _mean(mine["wkb_s"]),
        "worst_line": int(worst["line_no"]),
        "worst_time_text": None if pd.isna(worst["time_text"]) else str(worst["time_text"]),
        "first_line": int(mine["line_no"].min()),
        "last_line": int(mine["line_no"].max()),
        "slow": slow,
        "other_devices": sorted({str(d) for d in active["device"].unique()} - {str(device)}),
        "match": "the device with the highest await while the calls waited"
        if window is not None
        else "the device with the highest await",
    }


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.mean()) if len(values) else None


def _max(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.max()) if len(values) else None


def cloud_evidence(
    values: pd.DataFrame, window: tuple[float, float] | None
) -> list[dict[str, Any]]:
    """The volume metrics past their limits (in the window when there is one)."""
    if values.empty:
        return []
    found: list[dict[str, Any]] = []
    for (name, metric, stat, query), rows in values.groupby(
        ["input", "metric", "stat", "query_id"], sort=False, dropna=False
    ):
        if metric not in CLOUD_LIMITS:
            continue
        rows = rows.sort_values("ts")
        gaps = np.diff(rows["ts"].to_numpy(dtype=np.float64))
        period = float(np.median(gaps)) if len(gaps) else 60.0
        if window is not None:
            rows = rows[rows["at"].notna()]
            rows = rows[
                (rows["at"] + period >= window[0] - period) & (rows["at"] <= window[1] + period)
            ]
        side, limit = CLOUD_LIMITS[str(metric)]
        past = rows[rows["value"] <= limit] if side == "low" else rows[rows["value"] >= limit]
        if past.empty or (window is None and len(past) < MIN_PERIODS):
            continue
        worst = past.loc[past["value"].idxmin() if side == "low" else past["value"].idxmax()]
        found.append(
            {
                "input": str(name),
                "metric": str(metric),
                "stat": None if pd.isna(stat) else str(stat),
                "query_id": None if pd.isna(query) else str(query),
                "limit": limit,
                "bad_when": side,
                "periods_past_limit": len(past),
                "period_s": period,
                "worst": float(worst["value"]),
                "worst_ts": float(worst["ts"]),
                "worst_line": None if pd.isna(worst["line_no"]) else int(worst["line_no"]),
                "first_ts": float(past["ts"].min()),
                "last_ts": float(past["ts"].max()),
            }
        )
    found.sort(key=lambda row: -int(row["periods_past_limit"]))
    return found


def _blocked(
    frame: pd.DataFrame, tids: set[int], window: tuple[float, float]
) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    rows = frame[
        frame["tid"].isin(list(tids)) & frame["at"].between(window[0] - 1.0, window[1] + 1.0)
    ]
    found: list[dict[str, Any]] = []
    for (source, name, tid), group in rows.groupby(["source", "input", "tid"], sort=False):
        wchan = group["wchan"].dropna()
        found.append(
            {
                "source": str(source),
                "input": str(name),
                "tid": int(tid),
                "name": None if pd.isna(group["name"].iloc[0]) else str(group["name"].iloc[0]),
                "snapshots_in_d": len(group),
                "wchan": str(wchan.mode().iloc[0]) if len(wchan) else None,
                "lines": [int(line) for line in group["line"].head(5)],
            }
        )
    found.sort(key=lambda row: -int(row["snapshots_in_d"]))
    return found


def _stacks(
    frame: pd.DataFrame, tids: set[int], window: tuple[float, float]
) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    rows = frame[
        frame["tid"].isin(list(tids)) & frame["at"].between(window[0] - 1.0, window[1] + 1.0)
    ]
    found: list[dict[str, Any]] = []
    for row in rows.head(12).itertuples(index=False):
        found.append(
            {
                "input": str(row.input),
                "line": int(row.line),
                "tid": int(row.tid),
                "name": row.name,
                "state": str(row.state) + ("+gil" if row.holds_gil else ""),
                "top": row.top,
                "stack": list(row.stack[:3]),
            }
        )
    return found


def _device_words(device: dict[str, Any]) -> str:
    text = f"await up to {device['await_max_ms']:.0f} ms (mean {device['await_mean_ms']:.0f})"
    if device["aqu_sz_max"] is not None:
        text += f", aqu-sz up to {device['aqu_sz_max']:.1f}"
    if device["util_max_pct"] is not None:
        text += f", %util up to {device['util_max_pct']:.0f}%"
    return text


def _cloud_words(metrics: list[dict[str, Any]]) -> str:
    parts = []
    for row in metrics[:2]:
        name = row["metric"] + (f" ({row['query_id']})" if row["query_id"] else "")
        limit = "at or below" if row["bad_when"] == "low" else "at or above"
        parts.append(
            f"{name} {limit} {row['limit']:g} for {row['periods_past_limit']} periods "
            f"(worst {row['worst']:g}, {file_line(row['input'], row['worst_line'])})"
        )
    return "; ".join(parts)


def _with_strace(
    findings: list[Finding],
    device: dict[str, Any] | None,
    cloud: list[dict[str, Any]],
    blocked: list[dict[str, Any]],
    stacks: list[dict[str, Any]],
    window: tuple[float, float],
    line: Timeline,
) -> Finding:
    lead = max(findings, key=lambda finding: finding.cost_s)
    concluded = [finding for finding in findings if finding.kind == "slow_storage"]
    # IOD017's cost already sums the per-file waits under its directory.
    cost = float(sum(finding.cost_s for finding in concluded or findings))
    tids = sorted(_threads(findings))
    directory = _directory(findings)
    calls = sorted(_calls(findings))
    severity: Severity = "error" if any(f.severity == "error" for f in findings) else "warning"
    where = directory or "files"
    on = f"device {device['device']}" if device else ("the volume" if cloud else "")
    threads = f"{len(tids)} thread{'s' if len(tids) != 1 else ''}"
    title = f"Slow storage: {threads} waited {cost:.1f} s in {'/'.join(calls)} under {where}"
    if on:
        title += f", on {on}"
    parts = []
    cited: list[dict[str, Any]] = []
    if device:
        title += f" ({_device_words(device)}, iostat)"
        parts.append(
            f"iostat shows {device['device']} ({device['match']}) with {_device_words(device)} "
            f"over {device['reports']} reports "
            f"({file_line(device['input'], device['first_line'])} to {device['last_line']}; "
            f"worst at {file_line(device['input'], device['worst_line'])})"
        )
        cited.append(
            citation(
                "iostat",
                device["input"],
                device["worst_line"],
                f"{device['device']}: await {device['await_max_ms']:.0f} ms",
            )
        )
    if cloud:
        parts.append(f"CloudWatch shows {_cloud_words(cloud)}")
        for row in cloud[:2]:
            cited.append(
                citation(
                    "cloudwatch",
                    row["input"],
                    row["worst_line"],
                    f"{row['metric']} {row['worst']:g}",
                )
            )
    if blocked:
        shown = ", ".join(
            f"{row['tid']} ({row['snapshots_in_d']}x, {file_line(row['input'], row['lines'][0])})"
            for row in blocked[:4]
        )
        parts.append(f"{blocked[0]['source']} saw the waiting threads in D state: {shown}")
        for row in blocked[:3]:
            cited.append(
                citation(row["source"], row["input"], row["lines"][0], f"tid {row['tid']} in D")
            )
    if stacks:
        shown = "; ".join(
            f"{row['name'] or row['tid']} in {row['top']} ({file_line(row['input'], row['line'])})"
            for row in stacks[:3]
        )
        parts.append(f"py-spy caught them in {shown}")
        for row in stacks[:3]:
            cited.append(
                citation("pyspy", row["input"], row["line"], f"{row['name']} in {row['top']}")
            )
    files = max(
        [len({f.resource.key for f in findings if f.resource is not None and f not in concluded})]
        + [int(f.evidence.get("files") or 0) for f in concluded]
    )
    message = (
        f"{len(tids)} threads of pid {lead.pid} waited {cost:.3f} s in {', '.join(calls)} on "
        f"{files} file{'s' if files != 1 else ''} under {where} (strace, "
        f"{file_line(lead.input, lead.lines[0] if lead.lines else None)}). "
        + ". ".join(parts)
        + ". One slow device or volume, not slow files."
    )
    resource_text = f"{where} on {on}" if on else f"{where} (the storage under it)"
    if device:
        resource_text += f" ({_device_words(device)})"
    elif cloud:
        resource_text += f" ({_cloud_words(cloud)})"
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=title,
        message=message,
        evidence={
            "syscalls": calls,
            "directory": directory,
            "files": files,
            "threads": tids,
            "wait_total_s": cost,
            "window": [window[0], window[1]],
            "device": device,
            "cloud": cloud,
            "d_state": blocked,
            "stacks": stacks,
            "alignment": line.methods(
                [*([device["input"]] if device else []), *(row["input"] for row in cloud)]
            ),
            "citations": cited,
        },
        fix=(
            "The storage is the bottleneck, not the files: check the volume's limits (its IOPS "
            "and throughput caps; on EBS gp2 the burst balance, on gp3 the provisioned "
            "throughput; a blkio/io.max throttle) and move the data to a faster volume or raise "
            "them; write less often (batch records, group commit, fsync once per batch); size "
            "the writer pool to the device, with backpressure in front of it."
        ),
        input=lead.input,
        pid=lead.pid,
        start=window[0],
        duration_s=window[1] - window[0],
        cost_s=cost,
        lines=tuple(sorted({line for f in findings for line in f.lines}))[:10],
        culprit=Culprit(pid=lead.pid, role="the process waiting on the storage"),
        resource=Resource(
            "device" if on else "directory",
            f"device {device['device']}"
            if device
            else ("volume" if cloud else f"directory {where}"),
            resource_text,
        ),
        explains=tuple(
            Explains(f.resource.key, kind=f.kind) for f in findings if f.resource is not None
        ),
    )


def _device_only(
    device: dict[str, Any] | None, reports: pd.DataFrame, cloud: list[dict[str, Any]]
) -> Finding | None:
    saturated = 0
    if device is not None and device["slow"]:
        rows = reports[
            (reports["input"] == device["input"]) & (reports["device"] == device["device"])
        ]
        busy = (
            (rows["await"] >= SLOW_AWAIT_MS)
            | (rows["aqu_sz"].fillna(0.0) >= BUSY_QUEUE)
            | (rows["util_pct"].fillna(0.0) >= BUSY_UTIL_PCT)
        ).to_numpy()
        run = best = 0
        for flag in busy:
            run = run + 1 if flag else 0
            best = max(best, run)
        saturated = best
    if saturated < MIN_REPORTS and not cloud:
        return None
    parts, cited = [], []
    title = "Slow storage"
    key, text = "volume", "the volume"
    if device is not None and saturated >= MIN_REPORTS:
        title += f": {device['device']} saturated for {saturated} reports ({_device_words(device)})"
        parts.append(f"iostat shows {device['device']} with {_device_words(device)}")
        cited.append(citation("iostat", device["input"], device["worst_line"], device["device"]))
        key, text = (
            f"device {device['device']}",
            f"device {device['device']} ({_device_words(device)})",
        )
    if cloud:
        words = _cloud_words(cloud)
        title += ("; " if parts else ": ") + words
        parts.append(f"CloudWatch shows {words}")
        for row in cloud[:2]:
            cited.append(citation("cloudwatch", row["input"], row["worst_line"], row["metric"]))
        if key == "volume":
            name = cloud[0]["query_id"] or cloud[0]["metric"]
            key, text = f"volume {name}", f"the volume of {name} ({words})"
    first = cloud[0] if cloud else None
    return Finding(
        code=CODE,
        kind=KIND,
        severity="warning",
        title=title,
        message=". ".join(parts) + ". No strace input shows which calls waited for it.",
        evidence={"device": device, "cloud": cloud, "citations": cited},
        fix=(
            "Check the volume's limits (IOPS and throughput caps, the EBS burst balance) and "
            "what writes to it; capture strace -f -tt -T -yy of the service at the same time "
            "to see which calls wait."
        ),
        input=(device or first or {}).get("input"),
        lines=tuple(line for line in (row["line"] for row in cited) if line is not None)[:5],
        resource=Resource("device", key, text),
    )


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    if not has_evidence(inputs, ("iostat_devices", "cloud_metrics")):
        return []
    from analyzer.derive.evidence_joins import (
        blocked_threads,
        cloud_values,
        device_reports,
        pyspy_threads,
    )

    line = timeline(inputs)
    reports = device_reports(inputs.tables, line.alignments)
    values = cloud_values(inputs.tables, line.alignments)
    if reports.empty and values.empty:
        return []
    waits = storage_findings(inputs.earlier)
    waits = [finding for finding in waits if line.on_trace(finding.input)]
    window = _window(waits) if waits else None
    if window is not None:
        device = device_evidence(reports, window)
        cloud = cloud_evidence(values, window)
        if (device is not None and device["slow"]) or cloud:
            tids = _threads(waits)
            blocked = _blocked(blocked_threads(inputs.tables, line.alignments), tids, window)
            stacks = _stacks(pyspy_threads(inputs.tables, line.alignments), tids, window)
            return [_with_strace(waits, device, cloud, blocked, stacks, window, line)]
        return []
    finding = _device_only(device_evidence(reports, None), reports, cloud_evidence(values, None))
    return [finding] if finding is not None else []


PASS = Pass(CODE, KIND, run, __doc__ or "", after=("slow_syscall", "thread_pileup", "slow_storage"))
