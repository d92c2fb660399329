"""IOD008 d_state: threads that waited in uninterruptible sleep (D), usually for the disk.

Reads `perf_off_cpu` (each switch-out paired with the thread's next switch-in, from
``sched:sched_switch`` recorded system-wide). A thread whose off-CPU intervals in state D
add up to `PassConfig.d_state_min_s` is reported with its interval count, longest wait,
share of the time it was observed, and the top stacks it blocked in (when recorded with
``-g``) with the kernel function that waited and what that usually means (page-cache
fault, fsync/journal, device queue full, NFS...). At most `MAX_THREADS` threads are
reported, most D time first; from `ERROR_S` of D time on one thread it is an error.
``cost_s`` is the thread's D time. Times are on perf's clock.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.perf_stacks import StackIndex, perf_input
from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs

CODE = "IOD008"
KIND = "d_state"
ERROR_S = 1.0
"""D time on one thread from which the finding is an error."""
MAX_THREADS = 10
"""Threads reported at most (most D time first)."""
TOP_STACKS = 3
STACK_DEPTH = 10
D_STATE = r"(?:^|\|)D"
"""prev_state D, alone or in a ``|``-joined set (``D|K``)."""
SCHEDULER_FRAMES = frozenset(
    {
        "__schedule",
        "schedule",
        "schedule_preempt_disabled",
        "schedule_timeout",
        "io_schedule",
        "io_schedule_timeout",
        "bit_wait_io",
        "__traceiter_sched_switch",
    }
)
"""Leaf frames that say "it slept", not why; dropped from the stack text."""
WAIT_REASONS: tuple[tuple[str, str], ...] = (
    (r"nfs|rpc_wait|sunrpc", "waiting on an NFS server"),
    (r"fuse", "waiting on a FUSE filesystem"),
    (
        r"jbd2|fsync|file_write_and_wait|blkdev_issue_flush|submit_bio_wait|sync_file",
        "flushing to disk (fsync or the filesystem journal)",
    ),
    (r"blk_mq_get_tag|get_request|wbt_wait|rq_qos", "waiting for a free slot in the device queue"),
    (
        r"filemap_fault|folio_wait|wait_on_page|page_fault|do_read_fault|readahead",
        "reading file pages from disk (page-cache miss)",
    ),
    (r"blkdev_read|blk_|bio|ext4_read|xfs_buf", "waiting for a block read"),
    (r"mutex|rwsem|down_read|down_write", "waiting on a kernel lock"),
)
"""(regex on the stack text, what the wait usually is): the first match wins."""


def wait_reason(stack: str | None) -> str | None:
    """What a D-state stack usually means, in words (None when nothing matches)."""
    if not stack:
        return None
    for pattern, reason in WAIT_REASONS:
        if re.search(pattern, stack):
            return reason
    return None


def d_intervals(table: pa.Table) -> pd.DataFrame:
    """The D-state off-CPU intervals, with seconds columns."""
    in_d = pc.fill_null(pc.match_substring_regex(table["state"], D_STATE), False)
    frame = (
        table.filter(in_d)
        .select(["tid", "pid", "comm", "start_ns", "end_ns", "duration_ns", "stack_id", "out_line"])
        .to_pandas()
    )
    frame["start_s"] = frame["start_ns"].astype(np.float64) / 1e9
    frame["end_s"] = frame["end_ns"].astype(np.float64) / 1e9
    frame["seconds"] = frame["duration_ns"].astype(np.float64) / 1e9
    return frame


def _observed(table: pa.Table) -> pd.Series:
    """Per thread: the span its off-CPU records cover (first switch-out to last switch-in)."""
    frame = table.select(["tid", "start_ns", "end_ns"]).to_pandas()
    spans = frame.groupby("tid").agg(first=("start_ns", "min"), last=("end_ns", "max"))
    return (spans["last"] - spans["first"]).astype(np.float64) / 1e9


def _top_stacks(index: StackIndex | None, waits: pd.DataFrame) -> list[dict[str, Any]]:
    """The stacks the thread blocked in, most D time first."""
    with_stack = waits[waits["stack_id"].notna()]
    if index is None or with_stack.empty:
        return []
    by_stack = with_stack.groupby(with_stack["stack_id"].astype(np.int64))["seconds"].agg(
        ["sum", "count"]
    )
    prefixes = index.prefixes(by_stack.index, STACK_DEPTH, SCHEDULER_FRAMES)
    aligned = by_stack.reindex(prefixes.stack_ids)
    ranked = prefixes.heaviest(
        aligned["sum"].to_numpy(), STACK_DEPTH, TOP_STACKS, also=aligned["count"].to_numpy()
    )
    return [
        {"stack": stack, "total_s": total, "count": int(count), "reason": wait_reason(stack)}
        for stack, total, count in ranked
    ]


def _fix(reason: str | None) -> str:
    if reason and "NFS" in reason:
        return (
            "The thread waits on the NFS server: check its latency and load, mount with "
            "suitable options (nconnect, actimeo), or move hot files to local disk."
        )
    if reason and "flush" in reason:
        return (
            "Synchronous flushes keep the thread waiting for the disk: fsync less often "
            "(group commit, batch writes), move the fsync off the request path, or use a "
            "faster volume (see slow_block_io for the device's latency)."
        )
    if reason and "page" in reason:
        return (
            "Page-cache misses make the thread wait for the disk: give the process more "
            "memory for the page cache, prefetch (readahead, madvise) or use a faster volume."
        )
    return (
        "D state is almost always disk I/O: find the file or device (slow_block_io, the "
        "stacks above), then use a faster volume, cache more, or move blocking I/O off the "
        "latency-critical threads."
    )


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    table = inputs.perf.get("perf_off_cpu")
    if table is None or table.num_rows == 0:
        return []
    waits = d_intervals(table)
    if waits.empty:
        return []
    per_thread = waits.groupby("tid").agg(
        total_s=("seconds", "sum"),
        intervals=("seconds", "size"),
        max_s=("seconds", "max"),
        first_s=("start_s", "min"),
    )
    per_thread = per_thread[per_thread["total_s"] >= config.d_state_min_s]
    if per_thread.empty:
        return []
    observed = _observed(table)
    index = StackIndex.build(inputs.perf)
    source = perf_input(inputs.perf)
    findings = []
    for tid, row in per_thread.sort_values("total_s", ascending=False).head(MAX_THREADS).iterrows():
        tid = int(tid)
        mine = waits[waits["tid"] == tid]
        comm = mine["comm"].dropna()
        pid = mine["pid"].dropna()
        longest = mine.loc[mine["seconds"].idxmax()]
        stacks = _top_stacks(index, mine)
        reason = stacks[0]["reason"] if stacks else None
        span = float(observed.get(tid, np.nan))
        evidence: dict[str, Any] = {
            "tid": tid,
            "pid": int(pid.iloc[0]) if len(pid) else None,
            "comm": str(comm.iloc[-1]) if len(comm) else None,
            "d_state_s": float(row["total_s"]),
            "intervals": int(row["intervals"]),
            "max_s": float(row["max_s"]),
            "observed_s": span,
            "share_of_observed": float(row["total_s"]) / span if span > 0 else None,
            "threshold_s": config.d_state_min_s,
            "top_stacks": stacks,
            "reason": reason,
            "first_at": float(row["first_s"]),
            "clock": "perf",
        }
        who = f"Thread {tid}" + (f" ({evidence['comm']})" if evidence["comm"] else "")
        message = (
            f"{who} spent {row['total_s']:.3f} s in uninterruptible sleep (D state) over "
            f"{int(row['intervals'])} waits, the longest {row['max_s'] * 1e3:.1f} ms"
        )
        if evidence["share_of_observed"] is not None:
            message += f" ({evidence['share_of_observed']:.0%} of the {span:.3f} s observed)"
        message += "."
        if stacks:
            message += f" Mostly {reason or 'blocked'} in {stacks[0]['stack'].split(' <- ')[0]}."
        lines = [
            int(x)
            for x in mine.sort_values("seconds", ascending=False)["out_line"]
            .head(config.max_samples)
            .dropna()
        ]
        findings.append(
            Finding(
                code=CODE,
                kind=KIND,
                severity="error" if row["total_s"] >= ERROR_S else "warning",
                title=f"{who} waited {row['total_s']:.2f} s in D state"
                + (f" ({reason})" if reason else ""),
                message=message,
                evidence=evidence,
                fix=_fix(reason),
                input=source,
                pid=evidence["pid"],
                tid=tid,
                start=float(longest["start_s"]),
                duration_s=float(longest["seconds"]),
                cost_s=float(row["total_s"]),
                lines=tuple(sorted(lines)),
            )
        )
    return findings


PASS = Pass(CODE, KIND, run, __doc__ or "")
