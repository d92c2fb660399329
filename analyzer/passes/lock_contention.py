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

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_locks import (
    PI_OPS,
    WAKE,
    Futexes,
    FutexSummary,
    activity,
    attribute_waits,
    futex_batches,
    futex_key,
    futex_slices,
    futex_summary,
    timed_waits,
    waits_and_wakes,
    who_woke,
)
from analyzer.derive.strace_rows import lines_at, numbers_at, process_runtime_of, taken
from analyzer.passes.base import (
    Culprit,
    Finding,
    Pass,
    PassConfig,
    PassInputs,
    Resource,
    Severity,
)
from analyzer.passes.common import (
    MAX_TIMELINE_POINTS,
    downsample,
    in_flight,
    parked_s,
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
CONVOY_SHARE = 0.5
"""Share of the waiting spent behind other waiters' holds from which hand-offs are a convoy."""
IDLE_SHARE = 0.5
"""A non-waiting waker that spent this share of the waits parked (on other futexes, or in
an event loop's epoll_wait, a server's accept: `parked_s`) is a producer signalling idle
threads, not a lock holder."""
LONG_WAIT_S = 1.0
"""A single wait this long on a contended mutex makes the finding an error."""
MINOR_SHARE = 0.05
"""A convoy whose threads spent less than this share of their time waiting is minor (info):
the GIL handed around a busy pool, a start-up or shut-down chain."""
SEVERE_SHARE = 0.5
"""A convoy whose threads spent at least this share of their time waiting is an error."""


def _runs_python(trace: StraceTables, pid: int) -> bool | None:
    """Whether the process runs Python; None when the trace does not show what it runs."""
    runtime = process_runtime_of(trace, pid)
    return None if runtime is None else runtime == "python"


@dataclass(frozen=True)
class _Address:
    """The waits and wakes on one (process, address), and who woke whom."""

    key: int
    waits: np.ndarray
    """Indices into the `Futexes` arrays."""
    wakes: np.ndarray
    """Indices into the `Futexes` arrays, by start time."""
    waiters: list[int]
    handoff_share: float | None
    kind: str
    convoy_share: float | None = None
    """Share of the waiting spent behind holds of other waiters (None: not computed)."""
    holder: int | None = None
    """For ``held`` (and a convoy-looking ``condition``): the thread that is not a waiter
    and that the waiters spent the most time behind."""
    holder_idle_share: float | None = None
    """The share of that time it spent waiting on other futexes."""


def classify(
    futexes: Futexes,
    key: int,
    waits: np.ndarray,
    wakes: np.ndarray,
    woken: np.ndarray,
    trace: StraceTables | None = None,
) -> _Address:
    """Mutex, held or condition (see the module docstring) for the waits and wakes of one
    key; `woken` tells per wait whether it returned 0 (was woken). With the `trace`, a key
    whose waiters hand off to each other is a convoy only when the waiting was spent behind
    other waiters' holds; spent behind a thread that never waits there, it is `held` when
    that thread was busy meanwhile and `condition` when it was parked (`parked_s`)."""
    wakes = wakes[np.argsort(futexes.starts[wakes], kind="stable")]
    waiter_tids = futexes.tids[waits]
    starts, ends = futexes.starts[waits], futexes.ends[waits]
    woke = who_woke(starts, ends, woken, futexes.starts[wakes], futexes.tids[wakes])
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
    kind = "mutex" if is_mutex else "condition"
    convoy_share: float | None = None
    holder: int | None = None
    holder_idle_share: float | None = None
    if is_mutex and not priority_inheritance and trace is not None:
        held = attribute_waits(
            waiter_tids, starts, ends, woke, futexes.starts[wakes], futexes.tids[wakes]
        )
        seconds = held.end - held.start
        known = held.holder >= 0
        behind_waiters = float(seconds[known & held.waiter_holder].sum())
        behind_others = float(seconds[known & ~held.waiter_holder].sum())
        if behind_waiters + behind_others > 0:
            convoy_share = behind_waiters / (behind_waiters + behind_others)
        if convoy_share is not None and convoy_share < CONVOY_SHARE:
            outside = known & ~held.waiter_holder
            by_holder = pd.Series(seconds[outside]).groupby(held.holder[outside]).sum()
            holder = int(by_holder.idxmax())
            mine = outside & (held.holder == holder)
            did = activity(trace, [holder], held.start[mine], held.end[mine])
            holder_idle_share = parked_s(did) / did.span_s if did.span_s > 0 else None
            idle = holder_idle_share is not None and holder_idle_share >= IDLE_SHARE
            kind = "condition" if idle else "held"
    return _Address(
        key,
        waits,
        wakes,
        waiters.tolist(),
        handoff_share,
        kind,
        convoy_share,
        holder,
        holder_idle_share,
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
    futexes: Futexes,
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
    errnos = taken(calls, ["errno"], futexes.rows[waits])["errno"]
    ops = sorted({futexes.op_names[code] for code in np.unique(futexes.op_name[waits])})
    wake_tids = futexes.tids[wakes]
    wakers = (
        pd.Series(wake_tids).value_counts().sort_index().sort_values(ascending=False, kind="stable")
    )
    retvals = numbers_at(calls, "retval", futexes.rows[wakes])
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
        "share_behind_waiters": found.convoy_share,
        "holder": found.holder,
        "holder_share_parked": found.holder_idle_share,
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
    elif kind == "held":
        spent = f" Its threads spent {share:.0%} of their time waiting." if share else ""
        body = (
            f" Their waits ended with a chain of hand-offs that started at a release by "
            f"thread {found.holder}, which never waited there itself and was busy meanwhile: "
            f"they queued behind its hold ({1 - (found.convoy_share or 0.0):.0%} of the "
            f"waiting), not behind each other (IOD014 lock_holder says what it did).{spent}"
        )
        title = f"{peak} threads queued on futex {address} behind thread {found.holder}"
    elif found.holder is not None:
        body = (
            f" Each wait ended with a chain of wake-ups that started at thread {found.holder}, "
            f"which never waited there and was itself parked on other futexes, in epoll_wait or "
            f"in accept "
            f"({found.holder_idle_share or 0.0:.0%} of the time): a signal passed along "
            f"(work submitted, a queue shut down), {what}, i.e. idle threads, not lock "
            f"contention."
        )
        title = f"{plural(len(waiters), 'thread')} idle on futex {address} (condition wait)"
    else:
        by = ", ".join(str(tid) for tid in wakers.index[:3]) or "no traced thread"
        body = (
            f" They were woken by other threads ({by}) rather than by each other: "
            f"{what}, i.e. idle threads waiting for work or an event, not lock contention."
        )
        title = f"{plural(len(waiters), 'thread')} idle on futex {address} (condition wait)"
    longest = np.argsort(-durations, kind="stable")[: config.max_samples]
    lines = lines_at(calls, futexes.rows[waits[longest]])
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
        culprit=Culprit(
            pid=pid if pid >= 0 else None,
            tid=found.holder if kind == "held" else None,
            role={"mutex": "convoy", "held": "lock holder"}.get(kind, "idle waiters"),
        ),
        resource=Resource(
            "futex",
            futex_key(pid, address),
            f"futex {address} in process {pid}"
            + (" (likely the GIL)" if condvar and python else ""),
        ),
    )


def _sweep(
    trace: StraceTables,
    waits: FutexSummary,
    busy: np.ndarray,
    threshold: int,
) -> tuple[pd.DataFrame, dict[int, list[list[float]]], dict[int, Futexes]]:
    """`step_stats` of the waits of each `busy` key (in key order, as one sweep over all of
    them gives), and the timeline of those that reach `threshold` waiters: swept one key
    at a time, so the change points held are one key's, not the trace's. The keys' calls
    are read a batch of keys at a time (`futex_batches`); when one batch held them all, its
    calls per key come back too."""
    keys = np.flatnonzero(busy)
    # one origin for every key, as one sweep had
    origin = float(waits.first[keys].min())
    parts: list[pd.DataFrame] = []
    timelines: dict[int, list[list[float]]] = {}
    kept: dict[int, Futexes] = {}
    batches = 0
    for batch, futexes in futex_batches(
        trace, waits.index, keys.tolist(), waits.calls, waits_and_wakes
    ):
        batches += 1
        valid = timed_waits(futexes)
        for key in batch:
            rows = np.flatnonzero(valid & (futexes.keys == key))
            steps = in_flight(
                np.full(len(rows), key), futexes.starts[rows], futexes.ends[rows], origin
            )
            part = step_stats(steps, stretches_above(steps, threshold), threshold)
            parts.append(part)
            if int(part["peak"].iloc[0]) >= threshold:
                timelines[key] = downsample(steps.times, steps.counts, MAX_TIMELINE_POINTS)
                kept[key] = futexes
        if batches > 1:
            kept.clear()
    return pd.concat(parts, ignore_index=True), timelines, kept if batches == 1 else {}


def _calls_of(
    trace: StraceTables, waits: FutexSummary, keys: list[int], kept: dict[int, Futexes]
) -> Iterator[tuple[int, Futexes]]:
    """Each of `keys` with its waits and wakes (and maybe other keys'), in that order:
    those `_sweep` kept, else read a batch of keys at a time."""
    if all(key in kept for key in keys):
        yield from ((key, kept[key]) for key in keys)
        return
    for batch, futexes in futex_batches(trace, waits.index, keys, waits.calls, waits_and_wakes):
        yield from ((key, futexes) for key in batch)


def _sort_orders(
    trace: StraceTables, waits: FutexSummary, wanted: list[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per key of `wanted`, the order (positions among its waits, and among its wakes, in
    row order) in which ``np.argsort`` (not stable) of the keys of every wait (and of every
    wake) of the trace lists them: the order the pass has always given them to `classify`,
    which decides ties (the longest waits cited, the wakes at one time). The argsort needs
    every wait's key (8 bytes each, while it runs); only the wanted keys' orders are kept."""
    found: list[dict[int, np.ndarray]] = []
    pieces: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for futexes, _ in futex_slices(trace, waits.index, waits_and_wakes):
        pieces[0].append(futexes.keys[timed_waits(futexes)])
        pieces[1].append(futexes.keys[futexes.op == WAKE])
    for parts in pieces:
        keys = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        parts.clear()
        order = np.argsort(keys)
        bounds = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=max(wanted) + 2))])
        del keys
        per_key = {}
        for key in wanted:
            members = order[bounds[key] : bounds[key + 1]]
            per_key[key] = np.searchsorted(np.sort(members), members)
        found.append(per_key)
    return {key: (found[0][key], found[1][key]) for key in wanted}


def trace_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    """The lock_contention findings of one trace. The waits are summed per key first
    (`futex_summary`), and only the calls of the keys with enough waiters and waiting are
    read back, a batch of keys at a time."""
    waits = futex_summary(trace)
    if waits is None:
        return []
    threshold = max(config.lock_min_waiters, 1)
    # a thread waits once at a time, so an address needs `threshold` distinct waiters
    busy = (waits.waiters >= threshold) & (waits.total >= config.lock_min_wait_s)
    if not busy.any():
        return []
    stats, timelines, kept = _sweep(trace, waits, busy, threshold)
    stats["total_s"] = waits.total[stats["group"].to_numpy()]
    candidates = stats[stats["peak"] >= threshold].sort_values("total_s", ascending=False)
    order = [int(key) for key in candidates["group"].tolist()]
    rows_of_key = {int(row.group): row for row in candidates.itertuples(index=False)}
    orders = _sort_orders(trace, waits, order) if order else {}
    pythons: dict[int, bool | None] = {}
    serious: list[Finding] = []
    minor: list[Finding] = []
    for key, futexes in _calls_of(trace, waits, order, kept):
        if len(serious) >= MAX_FINDINGS and len(minor) >= MAX_INFO_FINDINGS:
            break
        row = rows_of_key[key]
        on_key = futexes.keys == key
        wait_order, wake_order = orders[key]
        members = np.flatnonzero(timed_waits(futexes) & on_key)[wait_order]
        found = classify(
            futexes,
            key,
            members,
            np.flatnonzero(on_key & (futexes.op == WAKE))[wake_order],
            # a wait that returned 0 was woken (not timed out, nor EAGAIN: the value changed)
            numbers_at(trace.syscalls, "retval", futexes.rows[members]) == 0,
            trace,
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
        if found.kind != "condition" and pid not in pythons:
            pythons[pid] = _runs_python(trace, pid)
        chosen.append(
            _address_finding(
                trace, futexes, row, found, timelines[key], pythons.get(pid), severity, config
            )
        )
    return serious + minor


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [finding for trace in inputs.traces for finding in trace_findings(trace, config)]


PASS = Pass(CODE, KIND, run, __doc__ or "")
