"""IOD004 thread_pileup: many threads blocked at once in the same wait on one resource.

A saturated thread pool waiting on one slow backend, or a crowd of workers blocked reading
one pipe, shows itself as many threads inside the same kind of call on the same resource at
the same time. Calls are put in families that mean the same wait (`FAMILIES`: receiving from
a socket peer, sending to it, connecting to it, reading or writing a pipe, file I/O, file
locks, device I/O, accepting on a listener) and grouped per (family, resource), where the
resource is what threads share (a socket's *peer*, so workers with different local ports
share it; a path; a pipe). Event-loop waits (epoll/poll/select) are idling, not a pile-up,
and futex waits belong to `lock_contention`: neither is counted here.

For each group a sweep line counts the calls in flight over time (+1 at each call's start,
-1 at its end; calls still in flight when the trace ends last to its end). Calls that never
return (``exit``) are left out, and so are calls shorter than `BLOCKED_MIN_S` (1 ms): such a
thread is working, not blocked. A group is a finding when the count reached
`PassConfig.pileup_min_threads` and stayed at or above it for at least
`PassConfig.pileup_min_s` in one stretch. The evidence compares the peak with the number of
threads that ever blocked in such calls on the resource: when they are equal the whole pool
was stuck at once. A pile-up is an error when one stretch lasts `LONG_PILEUP_S`, or when the
whole pool was stuck for `SATURATED_SHARE` of the trace; otherwise a warning. Pile-ups in
``accept`` are idle workers waiting for clients (info).

``cost_s`` is the thread-seconds spent blocked in the group while the count was at or above
the threshold (the integral of the count over those stretches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, is_in
from analyzer.derive import strace_slices
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_families import FLUSHES
from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs, Resource, Severity
from analyzer.passes.call_names import NamedScan
from analyzer.passes.common import (
    MAX_TIMELINE_POINTS,
    Steps,
    Stretches,
    cited_lines,
    downsample,
    in_flight,
    numbers,
    plural,
    step_stats,
    stretches_above,
)
from analyzer.passes.targets import describe, encode_resources

CODE = "IOD004"
KIND = "thread_pileup"
MAX_FINDINGS = 20
"""Findings per trace at most (largest cost first)."""
LONG_PILEUP_S = 1.0
"""A pile-up that holds this long in one stretch is an error."""
BLOCKED_MIN_S = 0.001
"""Calls shorter than this are a thread at work, not a blocked thread, and are not counted
(it also keeps the pass cheap: most I/O calls of a busy trace are shorter)."""
HALF_MICROSECOND = 5e-7
SATURATED_SHARE = 0.25
"""A saturated pile-up (every thread that used the resource blocked at once) that holds for
this share of the trace's wall time is an error."""


@dataclass(frozen=True)
class Family:
    """Calls that mean the same wait on the same kind of target."""

    name: str
    syscalls: frozenset[str]
    target_classes: frozenset[str]
    waiting: str
    """What the blocked threads wait for, with ``{where}`` for the resource."""


SOCKETS = frozenset({"tcp", "udp", "unix", "socket"})
_READS = frozenset({"read", "readv", "pread64", "preadv", "preadv2"})
_WRITES = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2"})
_SOCKET_READS = frozenset({"recv", "recvfrom", "recvmsg", "recvmmsg", "read", "readv"})
_SOCKET_WRITES = frozenset({"send", "sendto", "sendmsg", "sendmmsg", "write", "writev"})
_FILE_LOCKS = frozenset({"flock", "fcntl", "fcntl64"})

FAMILIES: tuple[Family, ...] = (
    Family("receive", _SOCKET_READS, SOCKETS, "waiting for {where} to answer"),
    Family("send", _SOCKET_WRITES, SOCKETS, "waiting for {where} to take what they send"),
    Family("connect", frozenset({"connect"}), SOCKETS, "waiting to connect to {where}"),
    Family("accept", frozenset({"accept", "accept4"}), SOCKETS, "waiting for clients on {where}"),
    Family("pipe read", _READS, frozenset({"pipe"}), "waiting for data on {where}"),
    Family("pipe write", _WRITES, frozenset({"pipe"}), "waiting for the reader to drain {where}"),
    Family(
        "file I/O", _READS | _WRITES | FLUSHES, frozenset({"file"}), "queueing on I/O to {where}"
    ),
    Family("file lock", _FILE_LOCKS, frozenset({"file"}), "waiting for a lock on {where}"),
    Family("device I/O", _READS | _WRITES, frozenset({"device"}), "queueing on I/O to {where}"),
)
IDLE_FAMILIES = frozenset({"accept"})
"""Families whose pile-up is idle workers rather than a bottleneck (severity info)."""

_ALL_SYSCALLS = frozenset().union(*(family.syscalls for family in FAMILIES))


# --- the sweep line, shared with lock_contention ---------------------------------------------


# --- the pass ---------------------------------------------------------------------------------


def _family_table(syscall_names: list[str], class_names: list[str]) -> np.ndarray:
    """[syscall code, target class code] -> index in FAMILIES, -1 where the pair is not a
    pile-up wait; the extra last row and column stand for a null syscall or class."""
    table = np.full((len(syscall_names) + 1, len(class_names) + 1), -1, dtype=np.int64)
    for index in reversed(range(len(FAMILIES))):
        family = FAMILIES[index]
        rows = [row for row, name in enumerate(syscall_names) if name in family.syscalls]
        columns = [col for col, name in enumerate(class_names) if name in family.target_classes]
        table[np.ix_(rows, columns)] = index
    return table


def _blocking_lock_calls(calls: pa.Table) -> np.ndarray:
    """Mask of flock/fcntl calls that can block: flock without LOCK_NB, fcntl F_*SETLKW."""
    args = calls["args"]
    flock = is_in(calls["syscall"], frozenset({"flock"}))
    fcntl = is_in(calls["syscall"], frozenset({"fcntl", "fcntl64"}))
    waits = filled_numpy(pc.match_substring(args, "SETLKW"), False)
    nonblocking = filled_numpy(pc.match_substring(args, "LOCK_NB"), False)
    return (flock & ~nonblocking) | (fcntl & waits) | ~(flock | fcntl)


@dataclass(frozen=True)
class _Calls:
    """The calls that can pile up (`rows` of `calls`), with their group (family, resource)
    codes."""

    calls: pa.Table
    rows: np.ndarray
    groups: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    syscall_codes: np.ndarray
    syscall_names: list[str]
    resource_names: list[str]
    resource_classes: list[str | None]
    width: int


def _blocking_calls(trace: StraceTables) -> _Calls | None:
    """The calls that block in a pile-up family for at least `BLOCKED_MIN_S`, grouped."""
    calls = trace.syscalls
    if calls.num_rows == 0:
        return None
    # a slice at a time: most calls of a busy trace are short reads and writes
    rows, starts, ends = strace_slices.timed_rows(
        calls,
        ["syscall"],
        NamedScan(trace, _ALL_SYSCALLS),
        trace.last_s,
        min_duration_s=BLOCKED_MIN_S,
    )
    if len(rows) == 0:
        return None
    # what a finding cites is read for its calls only (`_group_finding`)
    table = strace_slices.take(calls, ["syscall", "target"], rows)
    encoded = encode_resources(table["target"])
    syscalls = pc.dictionary_encode(contiguous(table["syscall"]))
    syscall_names = syscalls.dictionary.to_pylist()
    syscall_codes = np.asarray(filled_numpy(syscalls.indices, -1), dtype=np.int64)
    class_names = sorted({name for name in encoded.classes if name is not None})
    class_of_resource = np.array(
        [class_names.index(name) if name is not None else -1 for name in encoded.classes] + [-1],
        dtype=np.int64,
    )
    family = _family_table(syscall_names, class_names)[
        syscall_codes, class_of_resource[encoded.codes]
    ]
    locks = np.flatnonzero(is_in(table["syscall"], _FILE_LOCKS))
    if len(locks):
        lock_calls = strace_slices.take(calls, ["syscall", "args"], rows[locks])
        family[locks] = np.where(_blocking_lock_calls(lock_calls), family[locks], -1)
    keep = np.flatnonzero((family >= 0) & (encoded.codes >= 0))
    width = len(encoded.names)
    return _Calls(
        calls,
        rows[keep],
        (family * width + encoded.codes)[keep],
        starts[keep],
        ends[keep],
        syscall_codes[keep],
        syscall_names,
        encoded.names,
        encoded.classes,
        width,
    )


def fix_for(family: str, where: str, mean_call_s: float, peak: int) -> str:
    """The mitigation that fits a pile-up of this family of calls on `where`."""
    if family in ("receive", "send", "connect") and where.endswith(":53"):
        return (
            f"Threads queue on DNS lookups to {where}: cache resolutions (in the process, or "
            "a local caching resolver such as nscd or systemd-resolved), reuse connections "
            "instead of resolving per request, and set resolver timeouts (options timeout: "
            "and attempts: in resolv.conf)."
        )
    if family in ("receive", "send"):
        throughput = f"{peak / mean_call_s:.0f}" if mean_call_s > 0 else "few"
        return (
            f"Each call to {where} waited {mean_call_s:.3f} s on average, so {peak} threads "
            f"serve at most ~{throughput} requests/s: size the pool for the backend's latency "
            "× request rate (or bound the queue in front of it), put timeouts on the calls, "
            "cache or batch requests, pool connections, and find out why the backend is slow."
        )
    if family == "connect":
        return (
            f"Connecting to {where} is slow and threads queue on it: reuse connections (a "
            "connection pool, keep-alive) instead of connecting per request, add connect "
            "timeouts, and check the peer's accept backlog (listen queue) and load."
        )
    if family == "accept":
        return (
            f"Idle workers waiting for clients on {where}: normal for a threaded or prefork "
            "server. If clients see latency the bottleneck is elsewhere; with many idle "
            "workers, shrink the pool or use SO_REUSEPORT / EPOLLEXCLUSIVE against a "
            "thundering herd."
        )
    if family == "pipe read":
        return (
            f"Threads wait for the writer of {where}: the producer is too slow for its "
            "consumers. Speed up or parallelise the producer, or use fewer readers."
        )
    if family == "pipe write":
        return (
            f"The reader of {where} does not keep up: speed it up, add readers, or use a "
            "bigger buffer (F_SETPIPE_SZ) to absorb bursts."
        )
    if family == "file lock":
        return (
            f"Threads queue for a lock on {where}: hold it for less time, split the file, "
            "or use a database or a single writer instead of a lock file."
        )
    return (
        f"Threads queue on I/O to {where}: batch or coalesce the I/O (fewer, larger calls, "
        "one flush per batch), keep hot data in memory, spread it over several files or "
        "volumes, or use a faster volume; check the device latency (perf block:*)."
    )


def _severity(family: str, longest_s: float, saturated: bool, wall_s: float | None) -> Severity:
    if family in IDLE_FAMILIES:
        return "info"
    if longest_s >= LONG_PILEUP_S or (
        saturated and wall_s and longest_s >= SATURATED_SHARE * wall_s
    ):
        return "error"
    return "warning"


def _group_finding(
    trace: StraceTables,
    found: _Calls,
    stats: Any,
    member: np.ndarray,
    stretches: Stretches,
    steps: Steps,
    config: PassConfig,
) -> Finding:
    group = int(stats.group)
    family = FAMILIES[group // found.width]
    resource_code = group % found.width
    resource = found.resource_names[resource_code]
    target_class = found.resource_classes[resource_code]
    where = describe(target_class, resource)
    starts, ends = found.starts[member], found.ends[member]
    table = strace_slices.take(
        found.calls, ["tid", "pid", "line_start", "line_end"], found.rows[member]
    )
    tids = numbers(table["tid"]).astype(np.int64)
    pids = numbers(table["pid"])
    lines = cited_lines(table)
    durations = ends - starts

    # the sweep runs on whole microseconds: compare the calls inside by half of one
    inner_starts, inner_ends = starts + HALF_MICROSECOND, ends - HALF_MICROSECOND
    own = stretches.groups == group
    run_starts, run_ends = stretches.starts[own], stretches.ends[own]
    next_run = np.searchsorted(run_ends, inner_starts, side="right")
    in_pileup = next_run < len(run_starts)
    in_pileup[in_pileup] = run_starts[next_run[in_pileup]] < inner_ends[in_pileup]
    at_peak = (inner_starts <= stats.peak_at + 2 * HALF_MICROSECOND) & (inner_ends > stats.peak_at)
    pileup_threads = sorted(set(tids[in_pileup].tolist()))
    peak_threads = sorted(set(tids[at_peak].tolist()))
    threads_using = len(set(tids.tolist()))
    saturated = int(stats.peak) >= max(threads_using, 2)

    by_syscall = (
        pd.DataFrame({"code": found.syscall_codes[member], "duration": durations})
        .groupby("code")["duration"]
        .agg(["count", "sum"])
        .sort_values("sum", ascending=False)
    )
    syscalls = [
        {
            "syscall": found.syscall_names[int(code)],
            "calls": int(row["count"]),
            "total_s": row["sum"],
        }
        for code, row in by_syscall.iterrows()
    ]
    dominant = syscalls[0]["syscall"]
    process_ids = sorted({int(p) for p in pids[~np.isnan(pids)]})
    pid = process_ids[0] if len(process_ids) == 1 else None
    process_threads = None
    if pid is not None and trace.tasks.num_rows:
        process_threads = int((numbers(trace.tasks["pid"]) == pid).sum()) or None

    index = int(np.searchsorted(steps.group_ids, group))
    span = slice(steps.bounds[index], steps.bounds[index + 1])
    timeline = downsample(steps.times[span], steps.counts[span], MAX_TIMELINE_POINTS)
    mean_call_s = float(durations.mean())
    peak = int(stats.peak)
    offset = stats.peak_at - trace.first_s if trace.first_s is not None else None
    evidence: dict[str, Any] = {
        "resource": resource,
        "syscall": dominant,
        "peak_threads": peak,
        "peak_at": float(stats.peak_at),
        "threads": pileup_threads[: config.max_samples * 4],
        "thread_count": len(pileup_threads),
        "threads_at_peak": peak_threads[: config.max_samples * 4],
        "threads_using": threads_using,
        "process_threads": process_threads,
        "saturated": saturated,
        "target_kind": target_class,
        "family": family.name,
        "syscalls": syscalls,
        "threshold_threads": config.pileup_min_threads,
        "held_s": float(stats.held_s),
        "peak_held_s": float(stats.peak_held_s),
        "longest_s": float(stats.longest_s),
        "stretches": int(stats.stretches),
        "blocked_calls": len(starts),
        "mean_call_s": mean_call_s,
        "max_call_s": float(durations.max()),
        "blocked_total_s": float(durations.sum()),
        "timeline": timeline,
        "timeline_label": "threads blocked",
    }
    waiting = family.waiting.format(where=where)
    when = f" (peak reached {offset:.3f} s into the trace)" if offset is not None else ""
    if threads_using == 1:
        who = "the only thread that ever made such calls on it"
    elif saturated:
        who = f"all {threads_using} threads that ever made such calls on it"
    else:
        who = f"{peak} of the {threads_using} threads that ever made such calls on it"
    story = ""
    if family.name in IDLE_FAMILIES:
        story = " These are idle workers waiting for work, not a bottleneck."
    elif len(process_ids) > 1 and saturated:
        listed = ", ".join(str(p) for p in process_ids[: config.max_samples])
        story = (
            f" They are threads of {len(process_ids)} processes ({listed}"
            f"{', ...' if len(process_ids) > config.max_samples else ''}): not one pool "
            "short of workers, but processes taking turns on one shared resource."
        )
    elif saturated and peak >= max(config.pileup_min_threads, 2):
        story = (
            " The whole pool was stuck at once: while it waits no thread is free for new "
            "work, so requests queue in front of it."
        )
    message = (
        f"Up to {plural(peak, 'thread')} {'was' if peak == 1 else 'were'} blocked at once in "
        f"{dominant}, {waiting}{when}: {who}. At least {config.pileup_min_threads} "
        f"{'was' if config.pileup_min_threads == 1 else 'were'} blocked together for "
        f"{stats.held_s:.3f} s in {plural(int(stats.stretches), 'stretch')} (longest "
        f"{stats.longest_s:.3f} s), all {peak} for {stats.peak_held_s:.3f} s, at a cost of "
        f"{float(stats.cost_s):.3f} thread-seconds of waiting. The {plural(len(starts), 'call')} "
        f"took {mean_call_s:.3f} s on average (max {durations.max():.3f} s).{story}"
    )
    first_lines = np.sort(lines[at_peak])[: config.max_samples]
    return Finding(
        code=CODE,
        kind=KIND,
        severity=_severity(family.name, float(stats.longest_s), saturated, trace.wall_s),
        title=f"{plural(peak, 'thread')} blocked at once in {dominant} on {where}",
        message=message,
        evidence=evidence,
        fix=fix_for(family.name, where, mean_call_s, peak),
        input=trace.input,
        pid=pid,
        tid=pileup_threads[0] if len(pileup_threads) == 1 else None,
        start=float(stats.longest_at),
        duration_s=float(stats.longest_s),
        cost_s=float(stats.cost_s),
        lines=tuple(int(line) for line in first_lines),
        # keyed as the other findings on the same file or peer, so that a cause found
        # there (a lock's holder, a slow device) explains this same waiting
        resource=Resource(target_class or "other", str(resource), where) if resource else None,
    )


def trace_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    """The thread_pileup findings of one trace."""
    found = _blocking_calls(trace)
    threshold = max(config.pileup_min_threads, 1)
    if found is None or len(found.groups) < threshold:
        return []
    calls_per_group = np.bincount(found.groups)
    busy = calls_per_group[found.groups] >= threshold
    if not busy.any():
        return []
    steps = in_flight(found.groups[busy], found.starts[busy], found.ends[busy])
    stretches = stretches_above(steps, threshold)
    stats = step_stats(steps, stretches, threshold)
    candidates = stats[(stats["peak"] >= threshold) & (stats["longest_s"] >= config.pileup_min_s)]
    if candidates.empty:
        return []
    candidates = candidates.sort_values("cost_s", ascending=False).head(MAX_FINDINGS)
    order = np.argsort(found.groups, kind="stable")
    sorted_groups = found.groups[order]
    findings = []
    for row in candidates.itertuples(index=False):
        lo, hi = np.searchsorted(sorted_groups, [row.group, row.group + 1])
        member = np.sort(order[lo:hi])
        findings.append(_group_finding(trace, found, row, member, stretches, steps, config))
    return findings


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [finding for trace in inputs.traces for finding in trace_findings(trace, config)]


PASS = Pass(CODE, KIND, run, __doc__ or "")
