"""IOD005 lock_contention: threads queueing on one lock (a mutex or GIL convoy).

Every lock, condition variable and semaphore of glibc (and so of CPython) sleeps in
``futex``: a thread that must wait calls ``futex(addr, FUTEX_WAIT*, ...)`` (or
``FUTEX_LOCK_PI*`` for priority-inheritance mutexes), and the thread that releases calls
``futex(addr, FUTEX_WAKE*, ...)`` on the same address. Calls are grouped per (process,
futex address, the first argument); per address the pass counts the waits, their total and
longest time, the peak number of threads waiting at once (a sweep line, as in
`thread_pileup`), the waiting threads and the waking threads.

A mutex convoy and an idle condition variable look alike in strace (both are many threads
in FUTEX_WAIT on one address); who wakes whom tells them apart. Each wait that was woken
(returned 0) is attributed to the last FUTEX_WAKE* call on the same address that started
while it waited. When at least `HANDOFF_SHARE` of those wake-ups came from a thread that
itself waits on the address, the threads hand the lock to each other: ``kind = "mutex"``, a
lock convoy (many short waits, each release waking the next waiter). Priority-inheritance
waits are mutexes by definition. Otherwise the waiters are woken by other threads that never
wait there (a producer signalling idle workers, e.g. a ThreadPoolExecutor's queue, or
``join`` waiting for threads to end): ``kind = "condition"``, idle time, not contention.

An address is reported when at least `PassConfig.lock_min_waiters` threads waited on it at
once and its waits add up to `PassConfig.lock_min_wait_s`. A mutex convoy is a warning; an
error when its threads spent `SEVERE_SHARE` of their time (threads × wall time) waiting on it
or one wait lasted `LONG_WAIT_S`; info when they spent less than `MINOR_SHARE` (the GIL
handed around a busy pool, a start-up chain). Condition waits are info. At most
`MAX_INFO_FINDINGS` info findings are kept. ``cost_s`` is the total wait.

Only the ``futex`` syscall is read: the futex2 calls (``futex_wait``, ``futex_waitv``, Linux
6.7+) are not grouped.

A glibc condition variable (``pthread_cond_t``, glibc 2.25+) puts its waiters on two
adjacent futex words, one per waiter group (``__g_signals[2]``), and alternates between them:
two 8-byte-aligned neighbours ``A`` and ``A+4`` of one process that are both waited on with
``FUTEX_WAIT_BITSET`` are one condition variable and are grouped as ``A`` (the finding says
so). Mutexes and semaphores wait on a single word.

In CPython a waiter for the GIL sleeps on such a condition variable, while a contended
``threading.Lock`` sleeps on a semaphore (one word): so in a Python process a convoy on a
condition-variable pair is most likely the GIL, and one on a single word a lock or the GIL
(the GIL's own mutex is a single word too). Python 3.13's ``threading.Lock`` (a PyMutex
that parks waiters in a parking lot) was checked with fixtures/diagnosis's lock_convoy.py:
under strace its convoy also shows on one address, 79 waits and 8.23 s of the 8.25 s the
program measured, as under 3.11.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_times
from analyzer.derive.strace_tasks import process_runtime
from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs, Severity
from analyzer.passes.common import (
    MAX_TIMELINE_POINTS,
    cited_lines,
    downsample,
    in_flight,
    numbers,
    percentile,
    plural,
    step_stats,
    stretches_above,
)

CODE = "IOD005"
KIND = "lock_contention"
MAX_FINDINGS = 10
"""Mutex findings per trace at most (largest total wait first)."""
MAX_INFO_FINDINGS = 3
"""Info findings (condition waits, minor convoys) per trace at most."""
HANDOFF_SHARE = 0.5
"""Share of wake-ups coming from other waiters above which the address is a mutex."""
LONG_WAIT_S = 1.0
"""A single wait this long on a contended mutex makes the finding an error."""
MINOR_SHARE = 0.05
"""A convoy whose threads spent less than this share of their time waiting is minor (info):
the GIL handed around a busy pool, a start-up or shut-down chain."""
SEVERE_SHARE = 0.5
"""A convoy whose threads spent at least this share of their time waiting is an error."""

WAIT_OPS = frozenset(
    {
        "FUTEX_WAIT",
        "FUTEX_WAIT_BITSET",
        "FUTEX_LOCK_PI",
        "FUTEX_LOCK_PI2",
        "FUTEX_WAIT_REQUEUE_PI",
    }
)
WAKE_OPS = frozenset(
    {
        "FUTEX_WAKE",
        "FUTEX_WAKE_BITSET",
        "FUTEX_WAKE_OP",
        "FUTEX_UNLOCK_PI",
        "FUTEX_REQUEUE",
        "FUTEX_CMP_REQUEUE",
        "FUTEX_CMP_REQUEUE_PI",
    }
)
PI_OPS = frozenset({"FUTEX_LOCK_PI", "FUTEX_LOCK_PI2"})
_WAIT, _WAKE = 1, 2
ARGS_HEAD = 64
"""Bytes of the arguments that surely hold the address (up to 18) and the operation (up to
``FUTEX_WAIT_REQUEUE_PI_PRIVATE``)."""
_ADDRESS_AND_OP = r"^\s*(?P<address>[^,\s]+)(?:,\s*(?P<op>[A-Z0-9_]+))?"


def base_op(op: str | None) -> str | None:
    """``FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME`` -> ``FUTEX_WAIT_BITSET``."""
    if not op:
        return None
    head = op.split("|", 1)[0].strip()
    return head.removesuffix("_PRIVATE")


@dataclass(frozen=True)
class _Futexes:
    """The futex calls of a trace with what the pass needs per call."""

    rows: np.ndarray
    """Row of each call in the syscalls table."""
    op: np.ndarray
    """_WAIT, _WAKE or 0 (another operation) per call."""
    op_name: np.ndarray
    """Index in `op_names` of each call's operation."""
    op_names: list[str]
    """Operations without flags (``FUTEX_WAIT_BITSET``), ``?`` for an unreadable one."""
    keys: np.ndarray
    """(process, address) code per call, -1 without an address."""
    addresses: list[str]
    key_address: np.ndarray
    """Index in `addresses` of each key."""
    key_pid: np.ndarray
    key_condvar: np.ndarray
    """Whether each key is a glibc condition variable's word pair (see the module docstring)."""
    starts: np.ndarray
    ends: np.ndarray
    tids: np.ndarray


def _codes(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(array, -1).to_numpy(zero_copy_only=False), np.int64)


def futex_calls(trace: StraceTables) -> _Futexes | None:
    """The futex calls of `trace`, keyed by (process, address).

    The address and the operation are the first two arguments; they are read from the
    distinct heads (`ARGS_HEAD` bytes) of the argument texts (few: one per address and
    operation), not from each call.
    """
    calls = trace.syscalls
    named = pc.fill_null(pc.equal(calls["syscall"], "futex"), False)
    rows = np.flatnonzero(np.asarray(named.to_numpy(zero_copy_only=False)))
    if len(rows) == 0:
        return None
    args = pc.cast(calls["args"].take(rows), pa.binary())
    heads = pc.dictionary_encode(pc.binary_slice(args, 0, ARGS_HEAD).combine_chunks())
    parts = pc.extract_regex(pc.cast(heads.dictionary, pa.string()), _ADDRESS_AND_OP)
    head_address = pc.dictionary_encode(pc.struct_field(parts, "address"))
    op_names = [base_op(text) or "?" for text in pc.struct_field(parts, "op").to_pylist()]
    op_names.append("?")
    op_kinds = np.array(
        [_WAIT if name in WAIT_OPS else _WAKE if name in WAKE_OPS else 0 for name in op_names],
        dtype=np.int64,
    )
    head = _codes(heads.indices)
    op_name = np.where(head >= 0, head, len(heads.dictionary))
    address = np.append(_codes(head_address.indices), -1)[head]
    pids = np.nan_to_num(numbers(calls["pid"])[rows], nan=-1).astype(np.int64)
    addresses = head_address.dictionary.to_pylist()
    bitset_waits = np.array([name == "FUTEX_WAIT_BITSET" for name in op_names])[op_name]
    address, paired = _condvar_pairs(pids, address, bitset_waits, addresses)
    width = len(addresses) + 1
    combined = np.where(address >= 0, (pids + 1) * width + address, -1)
    keys, unique = pd.factorize(combined)
    keys = np.where(combined >= 0, keys, -1)
    starts, ends = call_times(calls, rows, trace.last_s)
    return _Futexes(
        rows=rows,
        op=op_kinds[op_name],
        op_name=op_name,
        op_names=op_names,
        keys=keys,
        addresses=addresses,
        key_address=unique % width,
        key_pid=unique // width - 1,
        key_condvar=np.isin(unique, paired),
        starts=starts,
        ends=ends,
        tids=numbers(calls["tid"])[rows].astype(np.int64),
    )


def _condvar_pairs(
    pids: np.ndarray, address: np.ndarray, bitset_waits: np.ndarray, addresses: list[str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """`address` (codes into `addresses`) with the second word of each glibc condition
    variable replaced by its first, and the (process, first word) keys so formed, encoded as
    ``(pid + 1) * (len(addresses) + 1) + code`` like the caller's keys."""
    width = len(addresses) + 1
    values = np.array([_hex(text) for text in addresses] + [-1], dtype=np.int64)
    waited = np.unique(((pids + 1) * width + address)[bitset_waits & (address >= 0)])
    waited_pids, waited_codes = waited // width - 1, waited % width
    code_of = {int(value): code for code, value in enumerate(values[:-1]) if value >= 0}
    waited_keys = set(waited.tolist())
    pairs: dict[int, int] = {}
    for pid, code in zip(waited_pids.tolist(), waited_codes.tolist(), strict=True):
        value = int(values[code])
        first = code_of.get(value - 4)
        if value % 8 == 4 and first is not None and (pid + 1) * width + first in waited_keys:
            pairs[(pid + 1) * width + code] = first
    if not pairs:
        return address, np.empty(0, dtype=np.int64)
    seconds = np.array(sorted(pairs), dtype=np.int64)
    firsts = np.array([pairs[key] for key in seconds.tolist()], dtype=np.int64)
    combined = np.where(address >= 0, (pids + 1) * width + address, -1)
    at = np.minimum(np.searchsorted(seconds, combined), len(seconds) - 1)
    second = seconds[at] == combined
    remapped = np.where(second, firsts[at], address)
    return remapped, np.unique(seconds // width * width + firsts)


def _hex(text: str | None) -> int:
    try:
        return int(text, 16) if text and text.startswith("0x") else -1
    except ValueError:
        return -1


def _runs_python(trace: StraceTables, pid: int) -> bool | None:
    """Whether the process runs Python; None when the trace does not show what it runs."""
    runtime = process_runtime(trace, pid)
    return None if runtime is None else runtime == "python"


def _who_woke(
    wait_starts: np.ndarray,
    wait_ends: np.ndarray,
    woken: np.ndarray,
    wake_starts: np.ndarray,
    wake_tids: np.ndarray,
) -> np.ndarray:
    """Per wait, the thread whose FUTEX_WAKE (the last one on the address that started
    while the wait was in progress) woke it; -1 when it was not woken or no wake fits.
    `wake_starts` must be sorted."""
    if len(wake_starts) == 0:
        return np.full(len(wait_starts), -1, dtype=np.int64)
    last = np.searchsorted(wake_starts, wait_ends, side="right") - 1
    found = woken & (last >= 0)
    found[found] &= wake_starts[last[found]] >= wait_starts[found]
    return np.where(found, wake_tids[np.maximum(last, 0)], -1)


@dataclass(frozen=True)
class _Address:
    """The waits and wakes on one (process, address), and who woke whom."""

    key: int
    waits: np.ndarray
    """Indices into the `_Futexes` arrays."""
    wakes: np.ndarray
    """Indices into the `_Futexes` arrays, by start time."""
    waiters: list[int]
    handoff_share: float | None
    kind: str


def classify(
    futexes: _Futexes, key: int, waits: np.ndarray, wakes: np.ndarray, woken: np.ndarray
) -> _Address:
    """Mutex or condition (see the module docstring) for the waits and wakes of one key;
    `woken` tells per wait whether it returned 0 (was woken)."""
    wakes = wakes[np.argsort(futexes.starts[wakes], kind="stable")]
    waiter_tids = futexes.tids[waits]
    woke = _who_woke(
        futexes.starts[waits],
        futexes.ends[waits],
        woken,
        futexes.starts[wakes],
        futexes.tids[wakes],
    )
    waiters = np.unique(waiter_tids)
    attributed = woke >= 0
    handoffs = attributed & np.isin(woke, waiters) & (woke != waiter_tids)
    handoff_share = float(handoffs.sum() / attributed.sum()) if attributed.any() else None
    priority_inheritance = any(
        futexes.op_names[code] in PI_OPS for code in np.unique(futexes.op_name[waits])
    )
    is_mutex = priority_inheritance or (
        len(waiters) >= 2 and handoff_share is not None and handoff_share >= HANDOFF_SHARE
    )
    return _Address(
        key,
        waits,
        wakes,
        waiters.tolist(),
        handoff_share,
        "mutex" if is_mutex else "condition",
    )


def _wait_words(kind: str, python: bool | None, condvar: bool = False) -> str:
    if kind == "condition":
        return "a condition variable or queue"
    if condvar:
        gil = " (in a Python process, most likely the GIL, which CPython waits for on one)"
        return "a condition variable" + (gil if python is not False else "")
    if python:
        return "a threading.Lock or the GIL (strace alone cannot tell them apart)"
    if python is None:
        return "a mutex (in a Python process: a lock or the GIL)"
    return "a mutex"


def fix_for(kind: str, python: bool | None) -> str:
    """The mitigation for a contended mutex (or the note for an idle condition wait)."""
    if kind == "condition":
        return (
            "Nothing to fix here: these threads wait for work or for an event, and are woken "
            "by others. Shrink the pool if it is oversized; if work was queued while they "
            "waited, look at the producer."
        )
    text = (
        "Shorten the critical section (compute and do I/O outside the lock, hold it only "
        "to read or update shared state), never hold a lock across I/O or sleep, and use "
        "finer-grained locks (per object or shard) or lock-free hand-off (a queue)."
    )
    if python is not False:
        text += (
            " If it is the GIL (CPU-bound Python code in several threads), move the CPU work "
            "to processes (ProcessPoolExecutor, multiprocessing) or to native code that "
            "releases the GIL."
        )
    return text


def waiting_share(total_s: float, threads: int, wall_s: float | None) -> float | None:
    """The share of the waiting threads' time (threads × the trace's wall time) spent
    waiting on the address."""
    if not wall_s or threads == 0:
        return None
    return total_s / (threads * wall_s)


def _severity(kind: str, share: float | None, max_s: float) -> Severity:
    if kind == "condition":
        return "info"
    if max_s >= LONG_WAIT_S or (share is not None and share >= SEVERE_SHARE):
        return "error"
    if share is not None and share < MINOR_SHARE:
        return "info"
    return "warning"


def _address_finding(
    trace: StraceTables,
    futexes: _Futexes,
    stats: Any,
    found: _Address,
    timeline: list[list[float]],
    python: bool | None,
    severity: Severity,
    config: PassConfig,
) -> Finding:
    waits, wakes, waiters, kind = found.waits, found.wakes, found.waiters, found.kind
    handoff_share = found.handoff_share
    address = futexes.addresses[int(futexes.key_address[found.key])]
    condvar = bool(futexes.key_condvar[found.key])
    pid = int(futexes.key_pid[found.key])
    calls = trace.syscalls
    starts, ends = futexes.starts[waits], futexes.ends[waits]
    durations = ends - starts
    errnos = calls["errno"].take(futexes.rows[waits])
    ops = sorted({futexes.op_names[code] for code in np.unique(futexes.op_name[waits])})
    wake_tids = futexes.tids[wakes]
    wakers = (
        pd.Series(wake_tids).value_counts().sort_index().sort_values(ascending=False, kind="stable")
    )
    retvals = numbers(calls["retval"])[futexes.rows[wakes]]
    total_s = float(durations.sum())
    max_s = float(durations.max())
    share = waiting_share(total_s, len(waiters), trace.wall_s)
    p95 = percentile(durations, 95)
    errno_counts = dict(zip(*pc.value_counts(errnos).flatten(), strict=True))
    timeouts = errno_counts.get("ETIMEDOUT", 0)
    changed = errno_counts.get("EAGAIN", 0)
    peak = int(stats.peak)
    evidence: dict[str, Any] = {
        "futex": address,
        "condition_variable": condvar,
        "peak_waiters": peak,
        "wait_total_s": total_s,
        "threads": waiters[: config.max_samples * 4],
        "thread_count": len(waiters),
        "kind": kind,
        "pid": pid,
        "peak_at": float(stats.peak_at),
        "waits": len(waits),
        "max_wait_s": max_s,
        "p95_wait_s": p95,
        "mean_wait_s": total_s / len(waits),
        "wakers": [
            {"tid": int(tid), "wakes": int(count)}
            for tid, count in wakers.head(config.max_samples).items()
        ],
        "waker_count": len(wakers),
        "wakes": len(wakes),
        "wakes_that_woke": int((retvals > 0).sum()),
        "share_woken_by_waiters": handoff_share,
        "timeouts": timeouts,
        "eagain": changed,
        "operations": ops,
        "share_of_time_waiting": share,
        "held_s": float(stats.held_s),
        "threshold_waiters": config.lock_min_waiters,
        "timeline": timeline,
        "timeline_label": "threads waiting",
    }
    what = _wait_words(kind, python, condvar)
    words = f"futex {address}"
    if condvar:
        evidence["futex_words"] = [address, hex(int(address, 16) + 4)]
        words = f"futex {address} (+4, the two words of a glibc condition variable)"
    offset = ""
    if trace.first_s is not None:
        offset = f" ({stats.peak_at - trace.first_s:.3f} s into the trace)"
    process = f" in process {pid}" if pid >= 0 else ""
    head = (
        f"Up to {plural(peak, 'thread')} waited at once on {words}{process}{offset}: "
        f"{plural(len(waits), 'wait')}, {total_s:.3f} s in total (longest {max_s:.3f} s, p95 "
        f"{p95 * 1e3:.1f} ms) across {plural(len(waiters), 'thread')}."
    )
    if kind == "mutex":
        handoffs = f"{handoff_share:.0%} of wake-ups" if handoff_share is not None else "wake-ups"
        spent = ""
        if share is not None:
            spent = f" Its threads spent {share:.0%} of their time waiting for it"
            spent += " (minor)." if severity == "info" else "."
        body = (
            f" The waiting threads are the ones that wake each other ({handoffs} came from "
            f"another waiter): a lock convoy on {what}, each release handing it to the next "
            f"waiter. {float(stats.held_s):.3f} s passed with {config.lock_min_waiters} or more "
            f"threads queued.{spent}"
        )
        gil = " (likely the GIL)" if condvar and python else ""
        title = f"Lock convoy: {peak} threads queued on futex {address}{gil}"
        if severity == "info":
            title = f"Minor lock convoy: {peak} threads queued on futex {address}{gil}"
    else:
        by = ", ".join(str(tid) for tid in wakers.index[:3]) or "no traced thread"
        body = (
            f" They were woken by other threads ({by}) rather than by each other: "
            f"{what}, i.e. idle threads waiting for work or an event, not lock contention."
        )
        title = f"{plural(len(waiters), 'thread')} idle on futex {address} (condition wait)"
    longest = np.argsort(-durations, kind="stable")[: config.max_samples]
    lines = cited_lines(calls)[futexes.rows[waits[longest]]]
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=title,
        message=head + body,
        evidence=evidence,
        fix=fix_for(kind, python),
        input=trace.input,
        pid=pid if pid >= 0 else None,
        tid=waiters[0] if len(waiters) == 1 else None,
        start=float(starts.min()),
        duration_s=float(ends.max() - starts.min()),
        cost_s=total_s,
        lines=tuple(int(line) for line in lines if not np.isnan(line)),
    )


def trace_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    """The lock_contention findings of one trace."""
    futexes = futex_calls(trace)
    if futexes is None:
        return []
    is_wait = (
        (futexes.op == _WAIT)
        & (futexes.keys >= 0)
        & ~np.isnan(futexes.starts)
        & (futexes.ends >= futexes.starts)
    )
    wait_rows = np.flatnonzero(is_wait)
    if len(wait_rows) == 0:
        return []
    threshold = max(config.lock_min_waiters, 1)
    keys = futexes.keys[wait_rows]
    total = np.bincount(keys, weights=futexes.ends[wait_rows] - futexes.starts[wait_rows])
    # a thread waits once at a time, so an address needs `threshold` distinct waiters
    pairs = np.unique(keys * (int(futexes.tids.max()) + 1) + futexes.tids[wait_rows])
    waiters = np.bincount(pairs // (int(futexes.tids.max()) + 1), minlength=len(total))
    busy = (waiters >= threshold) & (total >= config.lock_min_wait_s)
    sweep = busy[keys]
    if not sweep.any():
        return []
    steps = in_flight(keys[sweep], futexes.starts[wait_rows][sweep], futexes.ends[wait_rows][sweep])
    stats = step_stats(steps, stretches_above(steps, threshold), threshold)
    stats["total_s"] = total[stats["group"].to_numpy()]
    candidates = stats[stats["peak"] >= threshold].sort_values("total_s", ascending=False)
    wake_rows = np.flatnonzero((futexes.op == _WAKE) & (futexes.keys >= 0))
    wake_keys = futexes.keys[wake_rows]
    # a wait that returned 0 was woken (not timed out, nor EAGAIN: the value had changed)
    woken_rows = numbers(trace.syscalls["retval"])[futexes.rows[wait_rows]] == 0
    wait_order = np.argsort(keys)
    wake_order = np.argsort(wake_keys)
    sorted_keys, sorted_wake_keys = keys[wait_order], wake_keys[wake_order]
    pythons: dict[int, bool | None] = {}
    serious: list[Finding] = []
    minor: list[Finding] = []
    for row in candidates.itertuples(index=False):
        if len(serious) >= MAX_FINDINGS and len(minor) >= MAX_INFO_FINDINGS:
            break
        key = int(row.group)
        lo, hi = np.searchsorted(sorted_keys, [key, key + 1])
        members = wait_order[lo:hi]
        lo, hi = np.searchsorted(sorted_wake_keys, [key, key + 1])
        found = classify(
            futexes, key, wait_rows[members], wake_rows[wake_order[lo:hi]], woken_rows[members]
        )
        longest = float(np.max(futexes.ends[found.waits] - futexes.starts[found.waits]))
        share = waiting_share(float(row.total_s), len(found.waiters), trace.wall_s)
        severity = _severity(found.kind, share, longest)
        chosen, limit = (
            (minor, MAX_INFO_FINDINGS) if severity == "info" else (serious, MAX_FINDINGS)
        )
        if len(chosen) >= limit:
            continue
        pid = int(futexes.key_pid[key])
        if found.kind == "mutex" and pid not in pythons:
            pythons[pid] = _runs_python(trace, pid)
        index = int(np.searchsorted(steps.group_ids, key))
        span = slice(steps.bounds[index], steps.bounds[index + 1])
        timeline = downsample(steps.times[span], steps.counts[span], MAX_TIMELINE_POINTS)
        chosen.append(
            _address_finding(
                trace, futexes, row, found, timeline, pythons.get(pid), severity, config
            )
        )
    return serious + minor


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [finding for trace in inputs.traces for finding in trace_findings(trace, config)]


PASS = Pass(CODE, KIND, run, __doc__ or "")
