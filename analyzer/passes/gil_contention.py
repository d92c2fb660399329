"""IOD013 gil_contention: a thread that waits for CPython's GIL, and the thread that holds it.

How the GIL shows in strace (CPython 3.10-3.13, ``Python/ceval_gil.c``): the GIL is a flag
guarded by a pthread mutex and condition variable (``gil->mutex``, ``gil->cond``). A thread
that wants it (``take_gil``) waits on ``gil->cond`` with a timeout of the switch interval
(``sys.getswitchinterval()``, 5 ms by default): glibc's ``pthread_cond_timedwait`` is a
``futex(A or A+4, FUTEX_WAIT_BITSET_PRIVATE, v, {tv_sec=..}, FUTEX_BITSET_MATCH_ANY)`` on
one of the condition variable's two words (glibc 2.25+: ``__g_signals[2]``), and when it
times out (``ETIMEDOUT``) the waiter sets ``gil_drop_request`` and waits again. The holder
drops the GIL at its next eval-breaker check (``drop_gil``: ``FUTEX_WAKE`` on the same
words), which pure-Python code reaches within microseconds; C code that runs long without
releasing the GIL (the ``_sre`` regex engine, a big ``json`` or ``zlib`` call on an
extension that does not release it) never checks, so the waiter's 5 ms waits time out again
and again. A run of such timed-out waits on one condition variable is a GIL wait, and it is
the same in 3.13 (the GIL still uses the pthread condition variable; the parking lot only
backs PyMutex and threading.Lock). The holder makes few or no syscalls meanwhile (it runs);
threads blocked in syscalls have released the GIL (Py_BEGIN_ALLOW_THREADS).

The pass finds, per process, the condition variables (the two-word keys of
`strace_locks.futex_calls`) whose timed waits time out at a steady interval (the median
timed-out wait between `MIN_INTERVAL_S` and `MAX_INTERVAL_S`): the GIL's. A thread's waits on
it that follow each other within `JOIN_GAP_S` are one stretch; stretches of at least
`MIN_STRETCH_S` are reported. The holder during a stretch is the thread of the process that
spent the most of it outside syscalls (running), checked against the thread whose
FUTEX_WAKE ended the stretch (the drop). With a perf profile of the same run whose times lie
on the trace's clock (``perf record -k CLOCK_REALTIME`` with ``strace -ttt``, or ``perf
script -F +tod``; an epoch profile against a ``-tt`` trace is put on its local clock by
trying every zone offset), the holder's on-CPU samples during the stretches confirm it and
name its hottest frames.

When the holder is itself an event loop that blocked (IOD002 blocked_loop on that thread),
the loop running CPU-bound code is the root cause and this finding is only info: it explains
the other threads' waits. Otherwise it explains the waiting thread's blocked_loop and
cpu_hotspot findings (the same waiting: not added) through the resource key of the GIL's
futex (``futex PID:ADDR``). ``cost_s`` is the waiting threads' total time in the stretches.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.clock_alignment import zone_offsets
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_locks import (
    WAIT,
    WAKE,
    Futexes,
    FutexSummary,
    futex_batches,
    futex_key,
    futex_summary,
    waits_and_wakes,
)
from analyzer.derive.strace_rows import lines_at, numbers_at
from analyzer.derive.strace_thread_time import Gaps, Span, spans_and_gaps, time_in_calls
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
from analyzer.passes.common import numbers, plural

CODE = "IOD013"
KIND = "gil_contention"
MIN_INTERVAL_S = 0.002
MAX_INTERVAL_S = 0.05
"""The median timed-out wait of a GIL condition variable lies in this range (the switch
interval, 5 ms by default, plus strace's overhead)."""
MIN_TIMEOUTS = 3
JOIN_GAP_S = 0.01
"""Waits of one thread this close are one stretch when, in between, it made at most
`JOIN_CALLS` calls (re-taking and releasing ``gil->mutex``): it never got to run."""
JOIN_CALLS = 2
MIN_STRETCH_S = 0.05
"""Stretches shorter than this are the GIL's ordinary switching."""
MIN_WAIT_S = 0.2
"""Waiting in stretches below this (per process) is not reported."""
ERROR_STRETCH_S = 0.5
"""A stretch this long (a thread kept off the CPU by the GIL for half a second) is an error."""
ON_CPU = ("cpu-clock", "task-clock", "cpu-cycles", "cycles", "ref-cycles")
HOT_FRAMES = 5


def _timed(args: list[str | None]) -> np.ndarray:
    return np.array(["tv_sec" in (text or "") for text in args], dtype=bool)


def gil_keys(summary: FutexSummary) -> list[int]:
    """The condition-variable keys whose timed waits time out at a steady interval."""
    found = []
    for key, lengths in summary.timed_out.items():
        if len(lengths) < MIN_TIMEOUTS:
            continue
        median = float(np.median(lengths))
        if MIN_INTERVAL_S <= median <= MAX_INTERVAL_S:
            found.append(key)
    return found


def _stretches(starts: np.ndarray, ends: np.ndarray, between: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [i, j] of one thread's waits (sorted by start) that follow each other
    closely, with no more than `JOIN_CALLS` of its calls (`between`: per gap between two
    waits, the calls it started inside) between."""
    joined = (starts[1:] - ends[:-1] <= JOIN_GAP_S) & (between <= JOIN_CALLS)
    spans = []
    first = 0
    for index in range(1, len(starts) + 1):
        if index == len(starts) or not joined[index - 1]:
            spans.append((first, index - 1))
            first = index
    return spans


def _outside_syscalls(
    trace: StraceTables,
    pid: int,
    spans: dict[int, Span],
    starts: np.ndarray,
    ends: np.ndarray,
) -> dict[int, np.ndarray]:
    """Per thread of `pid` and interval, the time the thread spent alive and outside
    syscalls (running, or runnable): the interval clipped to the thread's calls' span, less
    its time in calls."""
    bounds = {
        tid: (np.clip(starts, span.first, span.end), np.clip(ends, span.first, span.end))
        for tid, span in spans.items()
    }
    moments = {tid: np.concatenate([lo, hi]) for tid, (lo, hi) in bounds.items()}
    inside = time_in_calls(trace, pid, spans, moments)
    found = {}
    for tid, (lo, hi) in bounds.items():
        at_lo, at_hi = inside[tid][: len(lo)], inside[tid][len(lo) :]
        found[tid] = np.maximum((hi - lo) - (at_hi - at_lo), 0.0)
    return found


def _samples_on_trace_clock(
    perf: Mapping[str, pa.Table], trace: StraceTables, spans: dict[int, tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """(tid, time on the trace clock, stack id, how aligned) of the on-CPU samples."""
    samples = perf.get("perf_samples")
    if samples is None or samples.num_rows == 0 or trace.first_s is None:
        return None
    events = [e for e in pc.unique(samples["event"]).drop_null().to_pylist()]
    on_cpu = [e for e in events if e.split(":")[0].split("/")[-1] in ON_CPU]
    if not on_cpu:
        return None
    samples = samples.filter(pc.is_in(samples["event"], value_set=pa.array(on_cpu)))
    tids = numbers(samples["tid"])
    stacks = numbers(samples["stack_id"])
    epoch = numbers(samples["time_ns"]) / 1e9
    if trace.clock == "epoch":
        return tids, epoch, stacks, "epoch"
    if trace.clock != "clock" or np.all(np.isnan(epoch)):
        return None
    # -tt counts from the first day's local midnight: try every zone offset
    known = np.isin(tids, list(spans))
    if not known.any():
        return None
    lo = np.array([spans.get(int(t), (np.nan, np.nan))[0] for t in tids[known]])
    hi = np.array([spans.get(int(t), (np.nan, np.nan))[1] for t in tids[known]])
    best, best_hits = None, 0
    for zone in sorted(zone_offsets().tolist(), key=abs):
        local = epoch + zone
        midnight = np.floor(np.nanmin(local) / 86_400.0) * 86_400.0
        clock = local - midnight
        hits = int(((clock[known] >= lo) & (clock[known] <= hi)).sum())
        if hits > best_hits:
            best, best_hits = clock, hits
    if best is None or best_hits < 0.8 * known.sum():
        return None
    return tids, best, stacks, "epoch profile put on the -tt clock (zone offset inferred)"


INTERPRETER = (
    "_PyEval_",
    "PyEval_",
    "_PyObject_Vectorcall",
    "PyObject_Vectorcall",
    "_PyObject_Call",
    "PyObject_Call",
    "_PyFunction_Vectorcall",
    "cfunction_",
    "method_vectorcall",
    "_PyObject_MakeTpCall",
    "vectorcall",
)
"""Frames of CPython's interpreter and call machinery: the frame a stack enters from them
is the C function the Python code called (``_sre_SRE_Pattern_sub``)."""


def _entry(names: list[str]) -> str | None:
    """The C function the interpreter called in a leaf-first stack: the frame just below
    (leafward of) the innermost interpreter frame."""
    for index in range(1, len(names)):
        if names[index].startswith(INTERPRETER) and not names[index - 1].startswith(INTERPRETER):
            return names[index - 1]
    return None


def _hot_frames(
    perf: Mapping[str, pa.Table], stack_ids: np.ndarray
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(leaf symbols, the C functions the interpreter called, innermost stacks) of the
    samples, most sampled first; unknown frames are skipped."""
    stacks, frames = perf.get("perf_stacks"), perf.get("perf_frames")
    ids = stack_ids[~np.isnan(stack_ids)].astype(np.int64)
    if stacks is None or frames is None or len(ids) == 0:
        return [], [], []
    counts = Counter(ids.tolist())
    wanted = stacks.filter(pc.is_in(stacks["stack_id"], value_set=pa.array(list(counts))))
    symbol = dict(zip(frames["frame_id"].to_pylist(), frames["symbol"].to_pylist(), strict=True))
    leaves: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    folded: Counter[str] = Counter()
    for stack_id, frame_ids in zip(
        wanted["stack_id"].to_pylist(), wanted["frame_ids"].to_pylist(), strict=True
    ):
        names = [symbol.get(frame) or "" for frame in frame_ids]
        names = [name for name in names if name and name != "[unknown]"]
        count = counts[stack_id]
        if names:
            leaves[names[0]] += count
            folded[";".join(reversed(names[:6]))] += count
        entry = _entry(names)
        if entry:
            entries[entry] += count
    return (
        [{"symbol": name, "samples": n} for name, n in leaves.most_common(HOT_FRAMES)],
        [{"symbol": name, "samples": n} for name, n in entries.most_common(HOT_FRAMES)],
        [{"stack": text, "samples": n} for text, n in folded.most_common(3)],
    )


def _loop_threads(earlier: list[Finding], trace: StraceTables) -> set[int]:
    return {
        int(finding.evidence.get("loop_tid") or finding.tid or -1)
        for finding in earlier
        if finding.kind == "blocked_loop"
        and finding.input == trace.input
        and finding.severity != "info"
    }


def trace_findings(
    trace: StraceTables,
    config: PassConfig,
    perf: Mapping[str, pa.Table],
    earlier: list[Finding],
) -> list[Finding]:
    summary = futex_summary(trace)
    if summary is None:
        return []
    keys = gil_keys(summary)
    findings = []
    for batch, futexes in futex_batches(trace, summary.index, keys, summary.calls, waits_and_wakes):
        for key in batch:
            finding = _key_finding(trace, futexes, key, config, perf, earlier)
            if finding is not None:
                findings.append(finding)
    return findings


def _key_finding(
    trace: StraceTables,
    futexes: Futexes,
    key: int,
    config: PassConfig,
    perf: Mapping[str, pa.Table],
    earlier: list[Finding],
) -> Finding | None:
    pid = int(futexes.key_pid[key])
    address = futexes.addresses[int(futexes.key_address[key])]
    on_key = futexes.keys == key
    waits = np.flatnonzero(on_key & (futexes.op == WAIT) & ~np.isnan(futexes.ends))
    wakes = np.flatnonzero(on_key & (futexes.op == WAKE))
    wakes = wakes[np.argsort(futexes.starts[wakes], kind="stable")]
    wait_retvals = numbers_at(trace.syscalls, "retval", futexes.rows[waits])  # waits ascend
    # per waiting thread, its waits by start, and the gaps between them
    waiting: dict[int, np.ndarray] = {}
    gaps: dict[int, Gaps] = {}
    for tid in np.unique(futexes.tids[waits]).tolist():
        mine = waits[futexes.tids[waits] == tid]
        mine = mine[np.argsort(futexes.starts[mine], kind="stable")]
        waiting[int(tid)] = mine
        gaps[int(tid)] = Gaps(futexes.ends[mine][:-1], futexes.starts[mine][1:])
    threads = spans_and_gaps(trace, pid, gaps)
    # stretches per waiting thread: (tid, start, end, waits, timeouts, row of first wait)
    stretches: list[tuple[int, float, float, int, int, int]] = []
    for tid, mine in waiting.items():
        between = gaps[tid].between
        for first, last in _stretches(futexes.starts[mine], futexes.ends[mine], between):
            span = mine[first : last + 1]
            start, end = float(futexes.starts[span[0]]), float(futexes.ends[span[-1]])
            if end - start >= MIN_STRETCH_S:
                timeouts = int((wait_retvals[np.searchsorted(waits, span)] < 0).sum())
                stretches.append((int(tid), start, end, len(span), timeouts, int(span[0])))
    if not stretches:
        return None
    spans = {tid: (span.first, span.end) for tid, span in threads.items()}
    stretch_starts = np.array([s[1] for s in stretches])
    stretch_ends = np.array([s[2] for s in stretches])
    outside = _outside_syscalls(trace, pid, threads, stretch_starts, stretch_ends)
    holder_time: dict[int, float] = defaultdict(float)
    drops: Counter[int] = Counter()
    per_stretch = []
    for index, (tid, start, end, _count, _timeouts, _row) in enumerate(stretches):
        best, best_other = -1, 0.0
        for other, running in outside.items():
            if other != tid and running[index] > best_other:
                best, best_other = other, float(running[index])
        # the drop that ended the stretch: the last wake on the key before its end
        at = int(np.searchsorted(futexes.starts[wakes], end, side="right")) - 1
        dropper = (
            int(futexes.tids[wakes[at]]) if at >= 0 and futexes.starts[wakes[at]] >= start else -1
        )
        if dropper >= 0 and dropper != tid:
            drops[dropper] += 1
        if best >= 0:
            holder_time[best] += best_other
        per_stretch.append((best, best_other, dropper))
    if not holder_time:
        return None
    holder = max(holder_time, key=lambda t: holder_time[t])
    mine = [s for s, (h, _, _) in zip(stretches, per_stretch, strict=True) if h == holder]
    wait_s = float(sum(end - start for _, start, end, *_ in mine))
    if wait_s < MIN_WAIT_S:
        return None
    waiters = sorted({tid for tid, *_ in mine})
    longest = max(end - start for _, start, end, *_ in mine)
    running_s = float(sum(o for h, o, _ in per_stretch if h == holder))
    timeouts = sum(s[4] for s in mine)
    count = sum(s[3] for s in mine)
    # perf: the holder's samples during the stretches
    evidence_perf: dict[str, Any] = {"perf_aligned": False}
    perf_words = ""
    if perf:
        aligned = _samples_on_trace_clock(perf, trace, spans)
        if aligned is not None:
            tids, times, stack_ids, how = aligned
            inside = np.zeros(len(times), dtype=bool)
            for _, start, end, *_ in mine:
                inside |= (times >= start) & (times < end)
            by_tid = Counter(tids[inside].astype(np.int64).tolist())
            leaves, entries, stacks = _hot_frames(perf, stack_ids[inside & (tids == holder)])
            evidence_perf = {
                "perf_aligned": True,
                "perf_alignment": how,
                "perf_samples_by_thread": [
                    {"tid": t, "samples": n} for t, n in by_tid.most_common(5)
                ],
                "hot_frames": leaves,
                "hot_calls": entries,
                "hot_stacks": stacks,
            }
            total = sum(by_tid.values())
            if by_tid.get(holder) and total:
                names = ", ".join(f"`{row['symbol']}`" for row in leaves[:3])
                if entries:
                    names = f"`{entries[0]['symbol']}` (" + names + ")"
                perf_words = (
                    f" perf confirms it: {by_tid[holder]} of the {total} on-CPU samples taken "
                    f"during those waits are this thread's"
                    + (f", hottest in {names}." if names else ".")
                )
                if entries or leaves:
                    evidence_perf["hottest"] = (entries or leaves)[0]["symbol"]
    loops = _loop_threads(earlier, trace)
    holder_is_loop = holder in loops
    name = _name(trace, holder)
    who = f"Thread {holder}" + (f" ({name})" if name else "")
    waiter_words = ", ".join(
        f"{tid}" + (" (the event loop)" if tid in loops else "") for tid in waiters[:5]
    )
    hottest = evidence_perf.get("hottest")
    title = f"{who} held the GIL {longest:.2f} s while {plural(len(waiters), 'thread')} waited"
    if hottest:
        title += f" (in `{hottest}`)"
    message = (
        f"{who} of process {pid} held the GIL: {plural(len(waiters), 'thread')} "
        f"({waiter_words}) waited for it {wait_s:.3f} s in {plural(len(mine), 'stretch')} of "
        f"at least {MIN_STRETCH_S * 1e3:.0f} ms (longest {longest:.3f} s): {count} waits on "
        f"the GIL's condition variable (futex {address}/+4), {timeouts} of them timed out "
        f"after the switch interval, i.e. the holder did not drop the GIL when asked. During "
        f"those stretches it ran {running_s:.3f} s outside syscalls (the other threads were "
        f"blocked in syscalls, which release the GIL)."
        + (f" Its FUTEX_WAKE ended {drops[holder]} of them." if drops.get(holder) else "")
        + perf_words
    )
    severity: Severity = "error" if longest >= ERROR_STRETCH_S else "warning"
    if holder_is_loop:
        severity = "info"
        message += (
            " This thread is the event loop, which IOD002 reports blocked: its CPU-bound code"
            " is the root cause, and these waits are a consequence of it."
        )
    resource_key = futex_key(pid, address)
    rows = futexes.rows[[row for *_, row in mine[:3]]]
    lines = lines_at(trace.syscalls, rows)
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=title,
        message=message,
        evidence={
            "pid": pid,
            "futex": address,
            "futex_words": [address, hex(int(address, 16) + 4)],
            "holder_tid": holder,
            "holder_is_event_loop": holder_is_loop,
            "holder_running_s": running_s,
            "holder_drops": int(drops.get(holder, 0)),
            "waiters": waiters,
            "stretches": len(mine),
            "wait_total_s": wait_s,
            "longest_stretch_s": float(longest),
            "waits": count,
            "timeouts": timeouts,
            "stretch_list": [
                {"tid": tid, "start": start, "duration_s": end - start, "waits": n}
                for tid, start, end, n, *_ in mine[: config.max_samples]
            ],
            **evidence_perf,
        },
        fix=(
            "Run the CPU-bound work outside the GIL: in a process (ProcessPoolExecutor, "
            "multiprocessing) or in native code that releases it; or cut it into small pieces "
            "(regex over lines, not the whole blob; yield between chunks) so the GIL is "
            "dropped every switch interval. A regex engine (`_sre`) never releases the GIL "
            "during one match, sub or findall call."
        ),
        input=trace.input,
        pid=pid,
        tid=holder,
        start=float(min(start for _, start, *_ in mine)),
        duration_s=float(max(end for _, _, end, *_ in mine) - min(s for _, s, *_ in mine)),
        cost_s=wait_s,
        lines=tuple(int(line) for line in lines if not np.isnan(line)),
        culprit=Culprit(pid=pid, tid=holder, name=name, role="GIL holder"),
        resource=Resource(
            "gil",
            resource_key,
            f"the GIL of process {pid} (futex {address}/+4), held by thread {holder}"
            + (f" in {hottest}" if hottest else ""),
        ),
        explains=()
        if holder_is_loop
        else tuple(Explains(resource_key, kind) for kind in ("blocked_loop", "cpu_hotspot")),
    )


def _name(trace: StraceTables, tid: int) -> str | None:
    tasks = trace.tasks
    if tasks.num_rows == 0:
        return None
    names = [
        name
        for name in tasks.filter(pc.fill_null(pc.equal(tasks["tid"], tid), False))[
            "comm"
        ].to_pylist()
        if name
    ]
    return names[0] if names else None


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    earlier = list(inputs.earlier)
    return [
        finding
        for trace in inputs.traces
        for finding in trace_findings(trace, config, inputs.perf, earlier)
    ]


PASS = Pass(CODE, KIND, run, __doc__ or "", after=("blocked_loop",))
