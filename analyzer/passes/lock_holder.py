"""IOD014 lock_holder: the thread or process that held a lock while others waited for it.

A pile of waiters tells where the pain is; the holder tells why. This pass replays the lock
state (`analyzer.derive.strace_locks`) and names, per lock, the owner whose holds made the
others wait, how long each hold lasted and what the holder did while it held the lock.

**File locks** (``flock``, ``fcntl`` record and OFD locks, SQLite's lock bytes). The locks
are replayed call by call: taken when the call returns 0, given up by LOCK_UN/F_UNLCK, by a
close of the file (POSIX record locks go with ANY fd of the file the process closes:
fcntl(2), "Advisory record locking") and by the process's exit. A blocking ``flock`` or
``F_SETLKW`` that took a while is a wait; refused ``F_SETLK``/``LOCK_NB`` tries (EAGAIN,
EACCES) and the sleeps until the same thread's next try are a busy-wait (SQLite's busy
handler: ``sqlite3_busy_timeout`` sleeps 1, 2, 5 ... 100 ms between tries). Each moment of a
wait is charged to the conflicting hold of another owner that covered it (overlapping
ranges, one of them a write lock); a hold whose owner was itself waiting then (a SQLite
writer that got RESERVED and now waits for EXCLUSIVE) passes the charge on to the hold it
waited for, so the root of the chain is named. SQLite in rollback-journal mode (src/
os_unix.c): a reader keeps a read lock on the SHARED range (0x40000002, 510 bytes) for its
whole read transaction; a writer needs a write lock on it (EXCLUSIVE) to commit and gets
SQLITE_BUSY until every reader is gone: the long reader is the culprit, not the writers
that sleep-retry (IOD012 sleep_retry, folded into this finding: the same waiting).

**Futexes.** An uncontended acquire makes no syscall; a contended one waits in ``FUTEX_WAIT*``
and the release that ends the wait is the holder's ``FUTEX_WAKE`` on the same address
(`strace_locks.who_woke`). So the holder of a mutex or of a CPython ``threading.Lock`` (a
``sem_t`` up to 3.12: one futex word) is the thread whose wake ended the waits, and its hold is
seen from the first of those waits to its wake (`strace_locks.attribute_waits`, which follows
hand-offs between waiters back to the thread that held the lock first). A thread that also
queues on the address is judged hold by hold: a hold of `MINOR_HOLD_S` or more that ended the
others' waits is work under the lock (a logging handler's rollover run by whichever worker's
call crossed maxBytes), shorter ones are a convoy's hand-offs (IOD005). A holder that spent the
hold doing something (a network call, file I/O, CPU) rather than waiting on other futexes is
reported with what it did; a waker that was itself parked on another futex or in ``epoll_wait``
(an event loop between events, submitting work to its executor) is a producer signalling idle
consumers (IOD005 calls those idle), not a holder. Only single futex words are read: a glibc
condition variable's waiters are woken by a signaller, not a holder (and the GIL's, IOD013
gil_contention).

``cost_s`` is the waiting the holder caused (the waiters' time, each moment once); the
finding explains the lock_contention, thread_pileup, sleep_retry and slow_syscall findings
on the same lock or file (the same waiting: their cost is not added).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow.compute as pc

from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_locks import (
    WAIT,
    WAKE,
    Activity,
    FileLocks,
    Futexes,
    Held,
    Resources,
    activity,
    attribute_waits,
    futex_batches,
    futex_key,
    futex_summary,
    replay_file_locks,
    root_charges,
    waits_and_wakes,
    who_woke,
)
from analyzer.derive.strace_rows import lines_at, numbers_at, taken
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
from analyzer.passes.common import parked_s, plural
from analyzer.passes.targets import describe, encode_resources, with_paths

CODE = "IOD014"
KIND = "lock_holder"
MIN_WAIT_S = 0.1
"""Waiting a holder caused below this is not reported."""
LONG_HOLD_S = 0.5
"""A hold this long that made others wait (with `ERROR_WAIT_S` of waiting) is an error."""
ERROR_WAIT_S = 1.0
IDLE_SHARE = 0.5
"""A futex waker that spent this share of the 'hold' waiting on other futexes was idle (a
producer), not a holder."""
MAX_FINDINGS = 5
"""Findings per trace at most (most waiting first)."""
EXPLAINED_KINDS = ("lock_contention", "thread_pileup", "sleep_retry", "slow_syscall")


MINOR_HOLD_S = 0.1
"""Holds all shorter than this are short critical sections (often lengthened by the holder
waiting for the GIL inside them): info, not a problem to chase."""


def _severity(wait_s: float, longest_hold_s: float) -> Severity:
    if wait_s >= ERROR_WAIT_S and longest_hold_s >= LONG_HOLD_S:
        return "error"
    return "warning" if longest_hold_s >= MINOR_HOLD_S else "info"


def _did(found: Activity, span_words: str) -> tuple[str, list[dict[str, Any]]]:
    """What the holder did while holding, in words, and as evidence rows."""
    rows = [dict(row) for row in found.by_resource if float(row["seconds"]) >= 0.001]
    parts = []
    for row in rows[:3]:
        resource = str(row["resource"])
        syscalls = "/".join(str(name) for name in row["syscalls"])
        parts.append(f"{float(row['seconds']):.3f} s in {syscalls} on {_plain(resource)}")
    other = found.other_s
    if other >= 0.001:
        parts.append(f"{other:.3f} s outside syscalls (CPU, or calls strace did not show)")
    if not parts:
        return "", rows
    return f" While {span_words} it spent " + ", ".join(parts) + ".", rows


def _plain(resource: str) -> str:
    if resource.startswith(("tcp ", "udp ")):
        kind, peer = resource.split(" ", 1)
        return describe(kind, resource) if peer else resource
    if resource.startswith("/"):
        return f"file {resource}"
    return resource


def _peer(found: Activity) -> str | None:
    """The network peer the holder spent the most time on during its holds, if any."""
    for row in found.by_resource:
        resource = str(row["resource"])
        if resource.startswith(("tcp ", "udp ")) and float(row["seconds"]) >= 0.001:
            return resource
    return None


def _fix(peer: str | None, sqlite: bool, fsync: bool, futex: bool) -> str:
    if sqlite:
        text = (
            "Keep read transactions short: do not hold a SQLite read transaction (an open "
            "cursor, BEGIN ... COMMIT) across network calls or slow processing; read what you "
            "need, end the transaction, then work. Switch the database to WAL mode "
            "(PRAGMA journal_mode=WAL), where readers do not block writers."
        )
    else:
        text = (
            "Hold the lock only to read or update the shared state: do the slow work (network "
            "calls, uploads, fsyncs, heavy computation) before taking it or after releasing "
            "it, or on a copy (write a new file and rename it into place)."
        )
    if peer:
        text += f" Never hold it across a call to {_plain(peer)}; give that call a timeout."
    if fsync and not sqlite:
        text += " An fsync under the lock makes every waiter wait for the disk."
    if futex:
        text += " Refresh a cache by building the new value outside the lock and swapping it in."
    return text


def _owner_name(trace: StraceTables, pid: int, tid: int) -> str | None:
    tasks = trace.tasks
    if tasks.num_rows == 0 or "comm" not in tasks.column_names:
        return None
    mask = pc.fill_null(pc.equal(tasks["tid"], tid), False)
    names = [name for name in tasks.filter(mask)["comm"].to_pylist() if name]
    return names[0] if names else None


def _file_findings(trace: StraceTables, locks: FileLocks, config: PassConfig) -> list[Finding]:
    charges = root_charges(locks)
    if not charges:
        return []
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, charge in enumerate(charges):
        hold = locks.holds[charge.hold]
        groups[(hold.target, hold.pid)].append(index)
    findings = []
    calls = trace.syscalls
    for (target, pid), members in groups.items():
        pieces = [charges[i] for i in members]
        wait_s = _union_length([(p.start, p.end) for p in pieces])
        if wait_s < MIN_WAIT_S:
            continue
        hold_ids = sorted({p.hold for p in pieces})
        holds = [locks.holds[i] for i in hold_ids]
        durations = [hold.end - hold.start for hold in holds]
        waiters = sorted({(locks.waits[p.wait].pid, locks.waits[p.wait].tid) for p in pieces})
        waits = sorted({p.wait for p in pieces})
        retry = [locks.waits[i] for i in waits if locks.waits[i].how == "retry"]
        blocked = [locks.waits[i] for i in waits if locks.waits[i].how == "blocked"]
        tids = sorted({hold.tid for hold in holds})
        found = activity(
            trace,
            tids,
            np.array([hold.start for hold in holds]),
            np.array([hold.end for hold in holds]),
            _resources(trace),
        )
        sqlite = target in locks.sqlite
        names = sorted(set().union(*(hold.names for hold in holds)))
        held_names = [name for name in names if name not in ("SHARED (getting)", "PENDING")]
        peer = _peer(found)
        fsync = any(
            "fsync" in row["syscalls"] or "fdatasync" in row["syscalls"]
            for row in found.by_resource
        )
        longest = max(durations)
        tid = tids[0]
        name = _owner_name(trace, pid, tid)
        who = f"process {pid}" + (f" ({name})" if name else "")
        if len(tids) == 1 and tid != pid:
            who = f"thread {tid} of process {pid}" + (f" ({name})" if name else "")
        lock_words = (
            f"SQLite's {'/'.join(held_names) or 'SHARED'} lock on {target}"
            if sqlite
            else f"{'a flock' if holds[0].owner[0] == 'flock' else 'a record lock'} on {target}"
        )
        waiting = []
        if blocked:
            waiting.append(f"{plural(len(blocked), 'blocked lock call')}")
        if retry:
            tries = sum(wait.tries for wait in retry)
            waiting.append(
                f"{tries} refused {'try' if tries == 1 else 'tries'} with sleeps in between"
                + (" (SQLITE_BUSY and the busy handler's retries)" if sqlite else "")
            )
        waiter_words = ", ".join(
            str(tid_) if tid_ == pid_ else f"{pid_}/{tid_}" for pid_, tid_ in waiters[:6]
        )
        doing, rows = _did(found, "holding it")
        message = (
            f"{who.capitalize() if who[0].islower() else who} held {lock_words} "
            f"{plural(len(holds), 'time')} ({sum(durations):.3f} s in all, longest "
            f"{longest:.3f} s) while {plural(len(waiters), 'other thread')} ({waiter_words}) "
            f"waited for it {wait_s:.3f} s: {' and '.join(waiting)}.{doing}"
        )
        if sqlite:
            message += (
                " In rollback-journal mode a writer cannot commit while a reader holds SHARED:"
                " the reader's long transaction is the cause, the writers' retries the effect."
            )
        role = (
            "reader"
            if sqlite and "SHARED" in held_names and "EXCLUSIVE" not in held_names
            else "lock holder"
        )
        what = ("SQLite SHARED" if role == "reader" else "SQLite locks") if sqlite else "the lock"
        title = (
            f"{who[0].upper() + who[1:]} held {what} on {target.rsplit('/', 1)[-1]} "
            f"{longest:.2f} s while {plural(len(waiters), 'other')} waited {wait_s:.2f} s"
        )
        resource_text = (
            f"SQLite database {target} ({'/'.join(held_names) or 'SHARED'} lock)"
            if sqlite
            else f"{'flock' if holds[0].owner[0] == 'flock' else 'fcntl lock'} on {target}"
        )
        if peer:
            resource_text += f", held across calls to {_plain(peer)}"
        first_rows = np.array([row for hold in holds[:3] for row in hold.rows[:1]], np.int64)
        cited = [int(line) for line in lines_at(calls, first_rows) if not math.isnan(line)]
        findings.append(
            Finding(
                code=CODE,
                kind=KIND,
                severity=_severity(wait_s, longest),
                title=title,
                message=message,
                evidence={
                    "lock": "sqlite" if sqlite else holds[0].owner[0],
                    "target": target,
                    "holder_pid": pid,
                    "holder_tids": tids,
                    "holds": len(holds),
                    "hold_total_s": float(sum(durations)),
                    "hold_max_s": float(longest),
                    "hold_list": [
                        {
                            "start": hold.start,
                            "duration_s": hold.end - hold.start,
                            "locks": sorted(hold.names),
                            "open_at_end": hold.open_at_end,
                        }
                        for hold in holds[: config.max_samples]
                    ],
                    "locks_held": names,
                    "wait_total_s": wait_s,
                    "waiters": [{"pid": p, "tid": t} for p, t in waiters[: config.max_samples * 2]],
                    "waiter_count": len(waiters),
                    "blocked_calls": len(blocked),
                    "refused_tries": sum(wait.tries for wait in retry),
                    "wanted": sorted({locks.waits[i].wanted for i in waits}),
                    "during_holds": rows,
                    "during_holds_outside_syscalls_s": found.other_s,
                    "peer": peer,
                },
                fix=_fix(peer, sqlite, fsync, futex=False),
                input=trace.input,
                pid=pid,
                tid=tid,
                start=float(min(hold.start for hold in holds)),
                duration_s=float(
                    max(hold.end for hold in holds) - min(hold.start for hold in holds)
                ),
                cost_s=wait_s,
                lines=tuple(cited),
                culprit=Culprit(pid=pid, tid=tid, name=name, role=role),
                resource=Resource("sqlite" if sqlite else "lock", target, resource_text),
                explains=tuple(Explains(target, kind) for kind in EXPLAINED_KINDS),
            )
        )
    return findings


RESOURCE_COLUMNS = ("target", "fd", "args")
"""What `with_paths` reads."""


def _resources(trace: StraceTables) -> Resources:
    """The resources of given rows of the trace's calls, encoded for those rows alone: a
    row's resource (its target, or the path it names) depends on that row only, so this
    gives each row the name `trace_resources` gives it without encoding every call."""

    def of_rows(rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        encoded = encode_resources(with_paths(taken(trace.syscalls, RESOURCE_COLUMNS, rows)))
        return encoded.codes, encoded.names

    return of_rows


def _union_length(intervals: list[tuple[float, float]]) -> float:
    """The time covered by intervals that may overlap (waits of several threads at once
    count once per thread: call per waiter)."""
    return float(sum(end - start for start, end in intervals if end > start))


def _single_waits(futexes: Futexes) -> np.ndarray:
    """The waits on a single futex word (not a condition variable's pair) with a start and
    an end not before it."""
    valid = (futexes.keys >= 0) & ~np.isnan(futexes.starts) & (futexes.ends >= futexes.starts)
    single = ~futexes.key_condvar[np.maximum(futexes.keys, 0)]
    return (futexes.op == WAIT) & valid & single


def _futex_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    """Per single-word futex with `MIN_WAIT_S` of waiting (`futex_summary`), most first, the
    holder finding; only those keys' calls are read back, a batch of keys at a time."""
    summary = futex_summary(trace)
    if summary is None:
        return []
    single = ~summary.index.key_condvar
    # the single words' waits (a condition variable's are not summed)
    totals = np.where(single, summary.total, 0.0)
    candidates = np.flatnonzero(single & (summary.waiters > 0) & (totals >= MIN_WAIT_S))
    if len(candidates) == 0:
        return []
    chosen = candidates[np.argsort(-totals[candidates], kind="stable")][: MAX_FINDINGS * 4]
    findings = []
    for batch, futexes in futex_batches(
        trace, summary.index, chosen.tolist(), summary.calls, waits_and_wakes
    ):
        waiting = _single_waits(futexes)
        wake = futexes.op == WAKE
        for key in batch:
            waits = np.flatnonzero(waiting & (futexes.keys == key))
            wakes = np.flatnonzero(wake & (futexes.keys == key))
            wakes = wakes[np.argsort(futexes.starts[wakes], kind="stable")]
            finding = _futex_finding(trace, futexes, key, waits, wakes, config)
            if finding is not None:
                findings.append(finding)
    return findings


def _futex_finding(
    trace: StraceTables,
    futexes: Futexes,
    key: int,
    waits: np.ndarray,
    wakes: np.ndarray,
    config: PassConfig,
) -> Finding | None:
    starts, ends, tids = futexes.starts[waits], futexes.ends[waits], futexes.tids[waits]
    if len(np.unique(tids)) < max(config.lock_min_waiters, 1):
        return None
    woken = numbers_at(trace.syscalls, "retval", futexes.rows[waits]) == 0
    wake_retvals = numbers_at(trace.syscalls, "retval", futexes.rows[wakes])
    # A wake that woke several waiters at once is a broadcast (notify_all, Event.set, an
    # executor's shutdown): the waiters were parked on a condition, not queued behind a
    # holder; a mutex release wakes one waiter. Such waits are nobody's hold.
    wake_starts = futexes.starts[wakes]
    broadcasts = wake_starts[wake_retvals > 1]
    if len(broadcasts):
        last = np.searchsorted(wake_starts, ends, side="right") - 1
        ended_by = np.where(last >= 0, wake_retvals[np.maximum(last, 0)], 0)
        woken &= ~((ended_by > 1) & (wake_starts[np.maximum(last, 0)] >= starts))
    wakers = who_woke(starts, ends, woken, futexes.starts[wakes], futexes.tids[wakes])
    held = attribute_waits(tids, starts, ends, wakers, futexes.starts[wakes], futexes.tids[wakes])
    # A holder that queues on the address at other times is judged hold by hold: in a
    # convoy (IOD005) waiters hand the lock on after short critical sections; a hold of
    # `MINOR_HOLD_S` or more is work done under the lock while the others queued.
    outside = (held.holder >= 0) & (~held.waiter_holder | (_hold_lengths(held) >= MINOR_HOLD_S))
    # A thread created after a wait began cannot have held the lock the waiter queued for:
    # its wake is a signal (a semaphore posted, a thread start handshake), not a release.
    created = dict(
        zip(trace.tasks["tid"].to_pylist(), trace.tasks["created_s"].to_pylist(), strict=True)
    )
    born = np.array(
        [created.get(int(tid)) if tid >= 0 else None for tid in held.holder.tolist()],
        dtype=np.float64,
    )
    outside &= ~(born > held.start)
    if not outside.any():
        return None
    by_holder = {
        int(tid): float((held.end - held.start)[outside & (held.holder == tid)].sum())
        for tid in np.unique(held.holder[outside])
    }
    holder, wait_s = max(by_holder.items(), key=lambda item: item[1])
    mine = outside & (held.holder == holder)
    waiters = sorted({int(t) for t in tids[held.wait[mine]]})
    if wait_s < MIN_WAIT_S or len(waiters) < max(config.lock_min_waiters, 1):
        return None
    # the holds: the stretches the waiters spent behind it (union of their pieces)
    hold_starts, hold_ends = _merge(held.start[mine], held.end[mine])
    found = activity(trace, [holder], hold_starts, hold_ends, _resources(trace))
    if found.span_s > 0 and parked_s(found) >= IDLE_SHARE * found.span_s:
        return None  # a producer parked elsewhere, not a holder doing work
    address = futexes.addresses[int(futexes.key_address[key])]
    pid = int(futexes.key_pid[key])
    durations = hold_ends - hold_starts
    peer = _peer(found)
    name = _owner_name(trace, pid, holder)
    who = f"Thread {holder}" + (f" ({name})" if name else "") + f" of process {pid}"
    doing, rows = _did(found, "the others waited")
    longest = float(durations.max())
    own_waits = (
        "It never waited on the address itself: an uncontended acquire makes no syscall, so "
        "its wake is the release the waiters queued for."
        if holder not in set(tids.tolist())
        else "It queued on the address itself at other times, but these holds lasted "
        f"{MINOR_HOLD_S:g} s or more before its wake released the waiters: work under the "
        "lock, not a convoy's quick hand-off."
    )
    message = (
        f"{who} held the lock on futex {address} while {plural(len(waiters), 'other thread')} "
        f"queued on it: they waited {wait_s:.3f} s for it across {plural(len(durations), 'hold')} "
        f"(each seen from the first wait to its FUTEX_WAKE: {durations.sum():.3f} s in all, "
        f"longest {longest:.3f} s). {own_waits}{doing}"
    )
    resource_text = f"lock futex {address} in process {pid}"
    if peer:
        resource_text += f", held across calls to {_plain(peer)}"
        message += f" It held the lock across a network call to {_plain(peer)}."
    lines = lines_at(trace.syscalls, futexes.rows[waits[np.argsort(-(ends - starts))[:3]]])
    resource_key = futex_key(pid, address)
    return Finding(
        code=CODE,
        kind=KIND,
        severity=_severity(wait_s, longest),
        title=(
            f"{who} held futex {address} {longest:.2f} s while "
            f"{plural(len(waiters), 'thread')} queued"
        ),
        message=message,
        evidence={
            "lock": "futex",
            "futex": address,
            "holder_pid": pid,
            "holder_tids": [holder],
            "holds": len(durations),
            "hold_total_s": float(durations.sum()),
            "hold_max_s": longest,
            "hold_list": [
                {"start": float(s), "duration_s": float(e - s)}
                for s, e in zip(
                    hold_starts[: config.max_samples], hold_ends[: config.max_samples], strict=True
                )
            ],
            "wait_total_s": wait_s,
            "waiters": [{"pid": pid, "tid": t} for t in waiters[: config.max_samples * 2]],
            "waiter_count": len(waiters),
            "during_holds": rows,
            "during_holds_outside_syscalls_s": found.other_s,
            "during_holds_futex_wait_s": found.futex_wait_s,
            "peer": peer,
        },
        fix=_fix(peer, sqlite=False, fsync=False, futex=True),
        input=trace.input,
        pid=pid,
        tid=holder,
        start=float(hold_starts.min()),
        duration_s=float(hold_ends.max() - hold_starts.min()),
        cost_s=wait_s,
        lines=tuple(int(line) for line in lines if not np.isnan(line)),
        culprit=Culprit(pid=pid, tid=holder, name=name, role="lock holder"),
        resource=Resource("futex", resource_key, resource_text),
        explains=tuple(Explains(resource_key, kind) for kind in EXPLAINED_KINDS),
    )


def _hold_lengths(held: Held) -> np.ndarray:
    """Per piece, the length of its holder's hold it is part of (the holder's pieces merged)."""
    lengths = np.zeros(len(held.holder), dtype=np.float64)
    for tid in np.unique(held.holder[held.holder >= 0]).tolist():
        mine = np.flatnonzero(held.holder == tid)
        hold_starts, hold_ends = _merge(held.start[mine], held.end[mine])
        at = np.searchsorted(hold_starts, held.start[mine], side="right") - 1
        lengths[mine] = (hold_ends - hold_starts)[at]
    return lengths


def _merge(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals (each end not before its start), by start: an interval that
    starts at or before the latest end so far joins the one before."""
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    if len(starts) == 0:
        return starts, ends
    reach = np.maximum.accumulate(ends)
    opens = np.concatenate([[True], starts[1:] > reach[:-1]])
    firsts = np.flatnonzero(opens)
    lasts = np.append(firsts[1:] - 1, len(starts) - 1)
    return starts[firsts], reach[lasts]


def trace_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    findings = _file_findings(trace, replay_file_locks(trace), config)
    findings += _futex_findings(trace, config)
    findings.sort(key=lambda finding: -finding.cost_s)
    return findings[:MAX_FINDINGS]


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [finding for trace in inputs.traces for finding in trace_findings(trace, config)]


PASS = Pass(CODE, KIND, run, __doc__ or "")
