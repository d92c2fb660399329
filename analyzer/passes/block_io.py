"""IOD007 slow_block_io: disks that were slow to serve block requests, from perf tracepoints.

Reads `perf_block_io` (each request's issue and completion, paired from
``block:block_rq_issue``/``block_rq_complete``). Per device: the request count, latency
percentiles (issue -> complete: the time the device took), bytes, the read/write/flush
split, the queue depth over time (requests in flight, by a sweep over the issue and
completion times) with its peak, the time the device was busy (at least one request in
flight), and the issuing threads that waited most. A device becomes a finding when its p95
latency reaches `PassConfig.block_io_slow_s` or its slowest request took ten times that.

``cost_s`` is the busy time: requests overlap (queue depth), so summing their latencies
would count the same second many times over; the busy time is the wall time the device
spent serving this workload. Times are on perf's clock (seconds, as ``perf script`` prints).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.perf_stacks import perf_input
from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs, Severity

CODE = "IOD007"
KIND = "slow_block_io"
MAX_SLOWEST_FACTOR = 10.0
"""A device whose slowest request took this many times `block_io_slow_s` is reported even
when its p95 is fine (a stall)."""
ERROR_FACTOR = 10.0
"""p95 at this many times the threshold (or a request of 1 s or more) makes it an error."""
TOP_WAITERS = 5


def queue_depth(issue_ns: np.ndarray, complete_ns: np.ndarray) -> tuple[int, float, float]:
    """(peak requests in flight, when the peak began (s), seconds with at least one in flight).

    A sweep line: +1 at each issue, -1 at each completion; at equal times completions go
    first, so back-to-back requests do not count as overlapping.
    """
    if len(issue_ns) == 0:
        return 0, float("nan"), 0.0
    # one integer sort key: time * 2, +1 for issues, so completions sort first at a tie
    keys = np.concatenate([issue_ns.astype(np.int64) * 2 + 1, complete_ns.astype(np.int64) * 2])
    keys.sort()
    times = (keys >> 1).astype(np.float64) / 1e9
    depth = np.cumsum(np.where(keys & 1, 1, -1))
    peak = int(np.argmax(depth))
    busy = float(np.sum(np.diff(times)[depth[:-1] > 0]))
    return int(depth[peak]), float(times[peak]), busy


OPERATIONS = ("flush", "read", "write", "discard", "other")


def _operation(rwbs: pd.Series, flush: pd.Series) -> pd.Categorical:
    """flush, read, write, discard or other, from the RWBS flags (categorical: each distinct
    value is classified once) and the flush column."""
    categories = rwbs.cat.categories.astype(str)
    by_flags = np.select(
        [categories.str.contains(flag, regex=False) for flag in "RWD"], [1, 2, 3], 4
    ).astype(np.int8)
    codes = rwbs.cat.codes.to_numpy()
    ops = np.where(codes >= 0, np.append(by_flags, 4)[codes], 4)
    ops = np.where(flush.fillna(False).to_numpy(dtype=bool), 0, ops)
    return pd.Categorical.from_codes(ops, categories=OPERATIONS)


def _stats(latency: np.ndarray) -> dict[str, float | None]:
    if len(latency) == 0:
        return {"p50_s": None, "p95_s": None, "p99_s": None, "max_s": None}
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {"p50_s": p50, "p95_s": p95, "p99_s": p99, "max_s": float(latency.max())}


def _frame(table: pa.Table) -> pd.DataFrame:
    for name in ("dev", "rwbs", "comm"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.dictionary_encode(table[name]))
    frame = table.select(
        [
            "dev",
            "rwbs",
            "flush",
            "bytes",
            "issue_ns",
            "complete_ns",
            "latency_ns",
            "comm",
            "pid",
            "tid",
            "issue_line",
            "complete_line",
        ]
    ).to_pandas()
    frame = frame[frame["latency_ns"].notna()].copy()
    for name in ("issue", "complete", "latency"):
        frame[f"{name}_s"] = frame[f"{name}_ns"].astype(np.float64) / 1e9
    frame["op"] = _operation(frame["rwbs"], frame["flush"])
    return frame


def _waiters(requests: pd.DataFrame) -> list[dict[str, Any]]:
    grouped = (
        requests.groupby(["comm", "tid", "pid"], dropna=False, sort=False, observed=True)[
            "latency_s"
        ]
        .agg(requests="count", total_s="sum", max_s="max")
        .reset_index()
        .sort_values(["total_s", "requests"], ascending=False)
        .head(TOP_WAITERS)
    )
    return [
        {
            "comm": None if pd.isna(row.comm) else str(row.comm),
            "tid": None if pd.isna(row.tid) else int(row.tid),
            "pid": None if pd.isna(row.pid) else int(row.pid),
            "requests": int(row.requests),
            "total_s": float(row.total_s),
            "max_s": float(row.max_s),
        }
        for row in grouped.itertuples(index=False)
    ]


def device_evidence(dev: str, requests: pd.DataFrame, config: PassConfig) -> dict[str, Any]:
    """Every figure of one device's requests."""
    latency = requests["latency_s"].to_numpy()
    depth, depth_at, busy = queue_depth(
        requests["issue_ns"].to_numpy(), requests["complete_ns"].to_numpy()
    )
    first, last = float(requests["issue_s"].min()), float(requests["complete_s"].max())
    ops = requests.groupby("op", observed=True).agg(
        count=("latency_s", "size"),
        total=("latency_s", "sum"),
        max=("latency_s", "max"),
        bytes=("bytes", "sum"),
    )
    by_op = {
        str(op): {
            "requests": int(row["count"]),
            "bytes": int(row["bytes"]),
            "total_s": float(row["total"]),
            "max_s": float(row["max"]),
        }
        for op, row in ops.iterrows()
    }
    flushes = requests.loc[requests["op"] == "flush", "latency_s"].to_numpy()
    slowest = requests.nlargest(config.max_samples, "latency_s")
    return {
        "device": dev,
        "requests": len(requests),
        "bytes": int(requests["bytes"].fillna(0).sum()),
        **_stats(latency),
        "mean_s": float(latency.mean()),
        "total_latency_s": float(latency.sum()),
        "slow_requests": int((latency >= config.block_io_slow_s).sum()),
        "threshold_s": config.block_io_slow_s,
        "by_operation": by_op,
        "flush_p95_s": float(np.percentile(flushes, 95)) if len(flushes) else None,
        "queue_depth_peak": depth,
        "queue_depth_peak_at": depth_at,
        "busy_s": busy,
        "span_s": last - first,
        "busy_share": busy / (last - first) if last > first else None,
        "first_at": first,
        "waiters": _waiters(requests),
        "slowest": [
            {
                "issue_at": float(row.issue_s),
                "latency_s": float(row.latency_s),
                "rwbs": row.rwbs,
                "bytes": None if pd.isna(row.bytes) else int(row.bytes),
                "comm": None if pd.isna(row.comm) else str(row.comm),
                "tid": None if pd.isna(row.tid) else int(row.tid),
                "line": None if pd.isna(row.issue_line) else int(row.issue_line),
            }
            for row in slowest.itertuples(index=False)
        ],
        "clock": "perf",
    }


def fix_for(evidence: dict[str, Any]) -> str:
    """The mitigation that fits what dominates the device's slow time."""
    ops = evidence["by_operation"]
    flush_time = ops.get("flush", {}).get("total_s", 0.0)
    text = (
        f"Device {evidence['device']} (find it with lsblk -o NAME,MAJ:MIN) is slow to serve "
        "requests: move the data to a faster disk or volume class (provisioned IOPS and "
        "throughput, local NVMe)"
    )
    if flush_time >= 0.25 * evidence["total_latency_s"]:
        text += (
            ", and flush less: fewer fsync/fdatasync calls (group commit, batch writes per "
            "flush), where durability allows"
        )
    elif ops.get("write", {}).get("total_s", 0.0) >= ops.get("read", {}).get("total_s", 0.0):
        text += ", and write in larger sequential blocks instead of many small ones"
    else:
        text += ", and keep hot data in memory (page cache, an application cache)"
    return text + (
        f". Compare the queue depth (peak {evidence['queue_depth_peak']}) with the device's "
        "limit (/sys/block/DEV/queue/nr_requests; cloud volumes throttle at their IOPS "
        "quota): latency that grows with depth means the device is saturated."
    )


def _count(number: int, noun: str) -> str:
    plural = {"flush": "flushes", "discard": "discards"}.get(noun, noun + "s")
    return f"{number} {noun if number == 1 else plural}"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    ms = seconds * 1e3
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.3g} ms"


def _message(evidence: dict[str, Any], config: PassConfig) -> str:
    ops = sorted(evidence["by_operation"].items(), key=lambda item: -item[1]["requests"])
    split = ", ".join(_count(value["requests"], op) for op, value in ops)
    text = (
        f"Block device {evidence['device']} served {_count(evidence['requests'], 'request')} "
        f"({split}; {evidence['bytes'] / 2**20:.1f} MiB) with latency p50 "
        f"{_ms(evidence['p50_s'])}, p95 {_ms(evidence['p95_s'])}, p99 {_ms(evidence['p99_s'])}"
        f", max {_ms(evidence['max_s'])}; {evidence['slow_requests']} took "
        f"{config.block_io_slow_s * 1e3:g} ms or more. At most "
        f"{_count(evidence['queue_depth_peak'], 'request')} in flight at once; the device was "
        f"busy {evidence['busy_s']:.3f} s"
    )
    if evidence["busy_share"] is not None:
        text += f" ({evidence['busy_share']:.0%} of the {evidence['span_s']:.3f} s with I/O)"
    text += "."
    if evidence["waiters"]:
        top = evidence["waiters"][0]
        who = top["comm"] or "?"
        if top["tid"] is not None:
            who += f" (tid {top['tid']})"
        text += (
            f" Most of it was issued by {who}: {top['requests']} requests, "
            f"{top['total_s']:.3f} s of device time."
        )
    return text


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    table = inputs.perf.get("perf_block_io")
    if table is None or table.num_rows == 0:
        return []
    frame = _frame(table)
    source = perf_input(inputs.perf)
    findings = []
    for dev, requests in frame.groupby("dev", sort=True, observed=True):
        latency = requests["latency_s"].to_numpy()
        p95, worst = float(np.percentile(latency, 95)), float(latency.max())
        slow = config.block_io_slow_s
        if p95 < slow and worst < MAX_SLOWEST_FACTOR * slow:
            continue
        evidence = device_evidence(str(dev), requests, config)
        severity: Severity = "error" if p95 >= ERROR_FACTOR * slow or worst >= 1.0 else "warning"
        slowest = evidence["slowest"][0]
        stall = p95 < slow
        findings.append(
            Finding(
                code=CODE,
                kind=KIND,
                severity=severity,
                title=(
                    f"Block device {dev} stalled: one request took {_ms(worst)}"
                    if stall
                    else f"Slow block device {dev}: p95 {_ms(p95)}"
                ),
                message=_message(evidence, config),
                evidence=evidence,
                fix=fix_for(evidence),
                input=source,
                pid=slowest_pid(requests),
                tid=slowest["tid"],
                start=slowest["issue_at"],
                duration_s=slowest["latency_s"],
                cost_s=evidence["busy_s"],
                lines=tuple(
                    sorted({row["line"] for row in evidence["slowest"] if row["line"] is not None})
                ),
            )
        )
    return findings


def slowest_pid(requests: pd.DataFrame) -> int | None:
    pid = requests.loc[requests["latency_s"].idxmax(), "pid"]
    return None if pd.isna(pid) else int(pid)


PASS = Pass(CODE, KIND, run, __doc__ or "")
