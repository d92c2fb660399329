"""IOD001 slow_syscall: which calls were slow, on what file, socket, pipe or device.

Calls are grouped per trace by (syscall, resource) where the resource is what two threads
can share (a socket's peer, a path, a pipe). A group becomes a finding when one of its
calls took at least `PassConfig.slow_syscall_s`, or when together its calls held threads
for at least `slow_syscall_share` of the trace's wall time. Idle waits (epoll, futex,
sleeps, accept, wait4 ...) are left to the loop, lock and pile-up passes.

A read that blocked on a pipe waited for its writer. When every thread that writes the pipe
was itself waiting for input during the slow reads (on a futex or a queue, in
poll/select/epoll or accept, reading a pipe or socket: `WRITER_WAITS`), nothing was being
produced: the readers are idle consumers waiting for work (a `multiprocessing.Pool`'s workers
reading the task pipe, its result handler reading the result pipe), and the finding is info.
A slow producer is a writer busy or blocked elsewhere; a full pipe is the write side's story
(IOD018 pipe_backpressure).

Its severity weighs the calls against the time of the threads that made them (their count
times the wall time): N pool threads that each spend 2% of their time on a peer add up to
N × 2% of one wall clock, but each of them was free 98% of the time. A group without one
slow call whose threads spent less than `slow_syscall_share` of their time in it is a busy
pool on a fast resource: info.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from analyzer.arrays import contiguous, is_in
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_durations, call_times
from analyzer.derive.strace_families import (
    FLUSHES,
    IDLE_WAITS,
    LOOP_WAITS,
    SOCKET_CLASSES,
)
from analyzer.derive.strace_waits import WAITS_ON_SETS, resource_waits, waits_for_client
from analyzer.passes.base import (
    Culprit,
    Finding,
    Pass,
    PassConfig,
    PassInputs,
    Resource,
    Severity,
)
from analyzer.passes.common import cited_lines, numbers, percentile, plural
from analyzer.passes.targets import EncodedResources, describe, trace_resources

CODE = "IOD001"
KIND = "slow_syscall"
MAX_GROUPS = 20
"""Findings per trace at most (largest total first); the syscalls table has the rest."""

_READS = {"read", "pread64", "readv", "preadv", "preadv2", "recvfrom", "recvmsg", "recv"}
_WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2", "sendto", "sendmsg", "send"}


WRITER_WAITS = frozenset(
    {*LOOP_WAITS, "futex", "accept", "accept4", "pause", "rt_sigsuspend", "rt_sigtimedwait"}
)
"""What a pipe's writer waits in when it has nothing to write: for its own input (a queue, a
lock, a client, a signal). Sleeps and child waits are not in it: they may pace or do work."""
INPUT_CLASSES = frozenset({"pipe", *SOCKET_CLASSES})
"""Reads on these are a writer waiting for its own input too."""
IDLE_PRODUCER_SHARE = 0.5
"""A writer that waited for input this share of the slow reads' time was not producing."""


MEMORY_CALLS = frozenset(
    {"mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "mlock", "munlock", "msync"}
)


def fix_for(syscall: str, target_class: str | None, where: str | None) -> str:
    """The mitigation that fits a slow call of this kind on this kind of target (`where`
    is None for calls that take no fd)."""
    if syscall in MEMORY_CALLS - FLUSHES and target_class is None:
        return (
            f"{syscall} is slow when it maps, unmaps or protects large regions: in a process "
            "with many threads each change pays for a TLB shoot-down on every CPU they ran on, "
            "and under memory pressure it waits for reclaim. Reuse buffers instead of mapping "
            "and unmapping them per request (a pool; glibc's M_MMAP_THRESHOLD and "
            "MALLOC_ARENA_MAX for malloc), and check memory pressure (PSI, swap)."
        )
    if syscall in FLUSHES:
        return (
            f"Each {syscall} waits for the disk to persist data: batch writes per flush "
            "(group commit), flush less often where durability allows, or move the file "
            "to a faster volume; check the device's latency and queue depth (perf block:*)."
        )
    if target_class in ("tcp", "udp", "unix"):
        if syscall in ("connect",):
            return (
                f"Connecting to {where} is slow: reuse connections (a pool), add a connect "
                "timeout, and check the peer's accept backlog."
            )
        if syscall in _WRITES:
            return (
                f"{where} is not draining what is sent: the peer is slow to read; add "
                "timeouts and back-pressure, or batch small writes."
            )
        return (
            f"Threads wait for {where} to answer: the backend is slow. Check it, set "
            "timeouts, cache or batch requests, and size the client pool for its latency."
        )
    if target_class == "pipe":
        return f"The process at the other end of {where} is slow to produce or consume."
    if target_class in ("file", "device"):
        if syscall in _READS or syscall in _WRITES:
            return (
                f"Blocking I/O on {where}: read or write in larger blocks, rely on the page "
                "cache, move it off the request path (a thread or run_in_executor in async "
                "code), or use a faster volume."
            )
        return (
            f"Metadata calls on {where} are slow (often a network or overloaded "
            "filesystem): cache the result or move the file to local storage."
        )
    return f"Look at why {syscall} blocks: the table of slow calls lists the source lines."


def _candidate_groups(
    keys: np.ndarray, durations: np.ndarray, wall_s: float | None, config: PassConfig
) -> pd.DataFrame:
    stats = (
        pd.DataFrame({"key": keys, "duration": durations})
        .groupby("key", sort=False)["duration"]
        .agg(count="count", total_s="sum", max_s="max")
        .reset_index()
    )
    share_floor = config.slow_syscall_share * wall_s if wall_s else float("inf")
    keep = (stats["max_s"] >= config.slow_syscall_s) | (
        (stats["total_s"] >= share_floor) & (stats["total_s"] >= config.slow_syscall_s)
    )
    return stats[keep].sort_values("total_s", ascending=False).head(MAX_GROUPS)


def _covered(lo: np.ndarray, hi: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> float:
    """Seconds of the calls [starts, ends) inside the disjoint sorted intervals [lo, hi)."""
    lengths = hi - lo
    before = np.concatenate([[0.0], np.cumsum(lengths)])

    def upto(times: np.ndarray) -> np.ndarray:
        at = np.searchsorted(lo, times, side="right") - 1
        safe = np.maximum(at, 0)
        part = np.clip(times - lo[safe], 0.0, lengths[safe])
        return np.where(at >= 0, before[safe] + part, 0.0)

    return float(np.clip(upto(ends) - upto(starts), 0.0, None).sum())


def idle_writers(
    trace: StraceTables,
    encoded: EncodedResources,
    resource_code: int,
    read_starts: np.ndarray,
    read_ends: np.ndarray,
) -> tuple[list[int], float] | None:
    """The threads that wrote to the pipe `resource_code`, and the least share of the reads'
    time any of them spent waiting for its own input (`WRITER_WAITS`, reads on pipes and
    sockets); None when no writer is in the trace."""
    calls = trace.syscalls
    names = calls["syscall"]
    tids = numbers(calls["tid"])
    writer_rows = np.flatnonzero(
        is_in(names, frozenset(_WRITES)) & (encoded.codes == resource_code)
    )
    writers = sorted({int(t) for t in tids[writer_rows] if not np.isnan(t)})
    order = np.argsort(read_starts, kind="stable")
    lo_list: list[float] = []
    hi_list: list[float] = []
    for start, end in zip(read_starts[order].tolist(), read_ends[order].tolist(), strict=True):
        if lo_list and start <= hi_list[-1]:
            hi_list[-1] = max(hi_list[-1], end)
        else:
            lo_list.append(start)
            hi_list.append(end)
    lo, hi = np.array(lo_list), np.array(hi_list)
    span = float((hi - lo).sum())
    if not writers or span <= 0:
        return None
    input_class = np.append(
        np.array([c in INPUT_CLASSES for c in encoded.classes], dtype=bool), False
    )[encoded.codes]
    waiting = is_in(names, WRITER_WAITS) | (is_in(names, frozenset(_READS)) & input_class)
    shares = []
    for writer in writers:
        rows = np.flatnonzero(waiting & (tids == writer))
        starts, ends = call_times(calls, rows, trace.last_s)
        known = ~np.isnan(starts) & ~np.isnan(ends)
        shares.append(_covered(lo, hi, starts[known], ends[known]) / span)
    return writers, min(shares)


def trace_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    """The slow_syscall findings of one trace."""
    calls = trace.syscalls
    if calls.num_rows == 0:
        return []
    duration = call_durations(calls)
    # A poll on one connected socket, pipe or file is a wait on that resource, not idling.
    waiting = ~is_in(calls["syscall"], IDLE_WAITS) | resource_waits(calls, trace.wait_fds)
    # A server reading its client's next request is idle, however long that takes.
    waiting &= ~waits_for_client(calls, trace.wait_fds)
    keep = ~np.isnan(duration) & waiting
    if not keep.any():
        return []
    rows = np.flatnonzero(keep)
    syscall_codes = pc.dictionary_encode(contiguous(calls["syscall"].take(rows)))
    syscall_names = syscall_codes.dictionary.to_pylist()
    encoded = trace_resources(trace)
    resource_codes = encoded.codes[rows]
    width = len(encoded.names) + 1
    keys = np.asarray(syscall_codes.indices.to_numpy(zero_copy_only=False), np.int64) * width + (
        resource_codes + 1
    )
    kept_durations = duration[rows]
    groups = _candidate_groups(keys, kept_durations, trace.wall_s, config)
    if groups.empty:
        return []
    starts = numbers(calls["start_s"])
    tids = numbers(calls["tid"])
    pids = numbers(calls["pid"])
    lines = cited_lines(calls)
    errnos = pc.is_valid(calls["errno"]).to_numpy(zero_copy_only=False)
    has_fd = pc.is_valid(calls["fd"]).to_numpy(zero_copy_only=False)
    findings = []
    for group in groups.itertuples(index=False):
        syscall = syscall_names[int(group.key) // width]
        resource_code = int(group.key) % width - 1
        resource = encoded.names[resource_code] if resource_code >= 0 else None
        target_class = encoded.classes[resource_code] if resource_code >= 0 else None
        member = keys == group.key
        member_rows = rows[member]
        durations = kept_durations[member]
        order = np.argsort(-durations, kind="stable")
        slowest = member_rows[order[0]]
        # munmap, brk, a path-less stat ...: calls without an fd are not "on" anything
        fdless = resource is None and not has_fd[member_rows].any()
        where = None if fdless else describe(target_class, resource)
        on_where = f" on {where}" if where else ""
        p95 = percentile(durations, 95)
        outliers: list[dict[str, Any]] = [
            {
                "line": int(lines[row]),
                "tid": None if np.isnan(tids[row]) else int(tids[row]),
                "start": float(starts[row]),
                "duration_s": float(duration[row]),
            }
            for row in member_rows[order[: config.max_samples]]
            if duration[row] >= config.slow_syscall_s
        ]
        slow_calls = int((durations >= config.slow_syscall_s).sum())
        member_tid_values = tids[member_rows]
        member_tids = (
            np.unique(member_tid_values[~np.isnan(member_tid_values)]).astype(np.int64).tolist()
        )
        share = group.total_s / trace.wall_s if trace.wall_s else None
        thread_share = (
            group.total_s / (max(len(member_tids), 1) * trace.wall_s) if trace.wall_s else None
        )
        errors = int(errnos[member_rows].sum())
        evidence: dict[str, Any] = {
            "syscall": syscall,
            "target": resource,
            "target_kind": target_class,
            "count": int(group.count),
            "total_s": float(group.total_s),
            "p95_s": p95,
            "max_s": float(group.max_s),
            "share_of_wall": share,
            "share_of_thread_time": thread_share,
            "errors": errors,
            "threads": member_tids[: config.max_samples * 4],
            "thread_count": len(member_tids),
            "slow_calls": slow_calls,
            "outliers": outliers,
            "threshold_s": config.slow_syscall_s,
        }
        severity: Severity = (
            "error"
            if group.max_s >= 1.0 or (thread_share or 0) >= 0.5
            else "warning"
            if slow_calls or (thread_share or 0) >= config.slow_syscall_share
            else "info"
        )
        producer = ""
        if target_class == "pipe" and syscall in _READS and resource_code >= 0:
            judged = member_rows[durations >= config.slow_syscall_s]
            judged = judged if len(judged) else member_rows
            idle = idle_writers(
                trace, encoded, resource_code, starts[judged], starts[judged] + duration[judged]
            )
            if idle is not None:
                writers, writers_waiting = idle
                evidence["writers"] = writers[: config.max_samples * 4]
                evidence["writers_waiting_share"] = writers_waiting
                if writers_waiting >= IDLE_PRODUCER_SHARE:
                    severity = "info"
                    producer = (
                        f" The pipe's {plural(len(writers), 'writer')} "
                        f"({', '.join(str(t) for t in writers[:5])}) waited for input "
                        f"{writers_waiting:.0%} of that time or more: nothing was being "
                        "produced, the readers were idle consumers waiting for work."
                    )
        share_text = ""
        if len(member_tids) > 1 and thread_share is not None:
            share_text = (
                f", {thread_share:.0%} of the time of its {len(member_tids)} threads over the "
                f"{trace.wall_s:.3f} s traced"
            )
        elif share:
            share_text = f", {share:.0%} of the {trace.wall_s:.3f} s traced"
        message = (
            f"{group.count} {syscall} call{'s' if group.count != 1 else ''}{on_where} "
            f"took {group.total_s:.3f} s in total{share_text} "
            f"(p95 {p95 * 1e3:.1f} ms, max {group.max_s * 1e3:.1f} ms) across "
            f"{len(member_tids)} thread{'s' if len(member_tids) != 1 else ''}; "
            + (
                f"{slow_calls} took {config.slow_syscall_s * 1e3:g} ms or more."
                if slow_calls
                else f"none took {config.slow_syscall_s * 1e3:g} ms or more: reported for the "
                "share of the traced time these calls held threads."
            )
            + (
                " The threads were free the rest of their time: many quick calls from "
                "several threads (a busy pool on a fast resource), not a slow one."
                if severity == "info" and not producer
                else ""
            )
            + producer
        )
        if syscall in WAITS_ON_SETS and where:
            title = f"Waits for {where} in {syscall}"
        else:
            title = f"Slow {syscall}{on_where}"
        if slow_calls == 0 and thread_share:
            # Reported for the time it holds, not for one slow call: say so.
            title = f"{syscall}{on_where} held threads {thread_share:.0%} of their time"
        pid = None if np.isnan(pids[slowest]) else int(pids[slowest])
        tid = int(tids[slowest]) if len(member_tids) == 1 else None
        findings.append(
            Finding(
                code=CODE,
                kind=KIND,
                severity=severity,
                title=title,
                message=message,
                evidence=evidence,
                fix=fix_for(syscall, target_class, where),
                input=trace.input,
                pid=pid,
                tid=tid,
                start=float(starts[slowest]),
                duration_s=float(duration[slowest]),
                cost_s=float(group.total_s),
                lines=tuple(o["line"] for o in outliers),
                culprit=Culprit(pid=pid, tid=tid, role="waiting"),
                resource=(
                    Resource(target_class or "other", resource, where)
                    if resource is not None and where
                    else None
                ),
            )
        )
    return findings


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [finding for trace in inputs.traces for finding in trace_findings(trace, config)]


PASS = Pass(CODE, KIND, run, __doc__ or "")
