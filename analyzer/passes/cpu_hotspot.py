"""IOD009 cpu_hotspot: the threads that were busy on CPU, and the code they ran.

Reads the on-CPU samples of `perf_samples` (``cpu-clock``, ``task-clock``, ``cycles`` and
their PMU/modifier spellings). Per thread: samples, the CPU time they stand for (the summed
period of clock events, which perf records in nanoseconds; for cycle events, samples times
the typical gap between a busy thread's samples), and the share of the profiled span. A
thread is hot when it ran at least `HOT_MIN_S` and for at least `HOT_MIN_SHARE` of the span.
Each hot thread gets its top leaf symbols (self time), its top stacks (innermost frames)
and, when the profile has Python perf-trampoline frames (``py::``), its top Python functions.

A hot thread that an earlier `blocked_loop` finding names as an event loop (evidence
``loop_tid``) is CPU-bound code on the loop: a warning, and reported once it ran at least
`HOT_MIN_S` whatever its share. Other hot threads are info: CPU time is not a fault by itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.perf_stacks import PYTHON_FRAME, StackIndex, perf_input
from analyzer.passes.base import Culprit, Finding, Pass, PassConfig, PassInputs, Resource

CODE = "IOD009"
KIND = "cpu_hotspot"
HOT_MIN_S = 0.1
"""On-CPU time before a thread counts as hot."""
HOT_MIN_SHARE = 0.25
"""...and the share of the profiled span it was on CPU (loop threads are exempt)."""
MAX_THREADS = 5
"""Hot threads reported at most (busiest first); loop threads always are."""
TOP = 5
"""Symbols, stacks and Python functions listed per thread."""
STACK_DEPTH = 8
"""Innermost frames shown per stack."""
ON_CPU_EVENT = re.compile(
    r"^(?:[\w-]+/)?(?:cpu-clock|task-clock|cpu-cycles|cycles|ref-cycles)(?:[/:]|$)"
)
CLOCK_EVENT = re.compile(r"^(?:[\w-]+/)?(?:cpu-clock|task-clock)(?:[/:]|$)")
"""Events whose period is nanoseconds of CPU time."""
PYTHON_MIN_COVERAGE = 0.5
"""The message names Python functions when at least this share of samples has one."""


def _top(ranked: list[tuple[str, float, float]], total: float, key: str) -> list[dict[str, Any]]:
    return [
        {key: name, "samples": int(count), "share": count / total if total else None}
        for name, count, _ in ranked
    ]


def on_cpu_samples(samples: pa.Table) -> pd.DataFrame:
    """The on-CPU samples: tid, pid, comm, time_s, event, clock (period in ns), period,
    stack_id. Event names are matched once per distinct name."""
    names = pc.unique(samples["event"]).drop_null().to_pylist()
    on_cpu = [name for name in names if ON_CPU_EVENT.match(name)]
    columns = ["tid", "pid", "comm", "time_ns", "event", "period", "stack_id"]
    kept = samples.select(columns)
    wanted = pc.and_(
        pc.is_in(kept["event"], value_set=pa.array(on_cpu, pa.string())), pc.is_valid(kept["tid"])
    )
    if not pc.all(wanted).as_py():
        kept = kept.filter(wanted)
    frame = pd.DataFrame(
        {
            "tid": np.asarray(kept["tid"].to_numpy(), dtype=np.int64),
            "pid": np.asarray(kept["pid"].to_numpy(zero_copy_only=False), dtype=np.float64),
            "comm": kept["comm"].dictionary_encode().to_pandas(),
            "time_s": np.asarray(kept["time_ns"].to_numpy(zero_copy_only=False), np.float64) / 1e9,
            "event": kept["event"].dictionary_encode().to_pandas(),
            "period": np.asarray(kept["period"].to_numpy(zero_copy_only=False), np.float64),
            "stack_id": np.asarray(kept["stack_id"].to_numpy(zero_copy_only=False), np.float64),
        }
    )
    clocks = [name for name in on_cpu if CLOCK_EVENT.match(name)]
    frame["clock"] = frame["event"].isin(clocks).to_numpy(dtype=bool)
    return frame


def _sample_interval(samples: pd.DataFrame) -> float:
    """The typical gap between consecutive samples of one thread: the sampling interval
    while it runs (off-CPU gaps are longer and fall above the median)."""
    tids, times = samples["tid"].to_numpy(), samples["time_s"].to_numpy()
    order = (
        np.lexsort((times, tids)) if np.any(np.diff(times) < 0) else np.argsort(tids, kind="stable")
    )
    tids, times = tids[order], times[order]
    gaps = np.diff(times)[(tids[1:] == tids[:-1])]
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if len(gaps) else 0.0


def thread_cpu(samples: pd.DataFrame) -> pd.DataFrame:
    """Per thread: samples, cpu_s, first and last sample, comm, pid, main event and whether
    cpu_s is estimated (events without a time period)."""
    timed = samples["clock"].to_numpy() & ~np.isnan(samples["period"].to_numpy())
    seconds = np.where(timed, samples["period"].to_numpy() / 1e9, _sample_interval(samples))
    frame = samples.assign(seconds=seconds, estimated=~timed)
    threads = frame.groupby("tid", sort=False).agg(
        samples=("time_s", "size"),
        cpu_s=("seconds", "sum"),
        first_s=("time_s", "min"),
        last_s=("time_s", "max"),
        comm=("comm", "last"),
        pid=("pid", "first"),
        estimated=("estimated", "any"),
    )
    per_event = frame.groupby(["tid", "event"], observed=True, sort=False).size()
    threads["event"] = (
        per_event.sort_values(ascending=False, kind="stable")
        .groupby(level="tid", sort=False)
        .head(1)
        .reset_index(level="event")["event"]
        .astype(str)
    )
    return threads.sort_values("cpu_s", ascending=False, kind="stable")


def loop_tids(earlier: Iterable[Finding]) -> dict[int, Finding]:
    """Event-loop threads named by earlier blocked_loop findings."""
    loops: dict[int, Finding] = {}
    for finding in earlier:
        if finding.kind == "blocked_loop":
            tid = finding.evidence.get("loop_tid")
            if tid is not None:
                loops[int(tid)] = finding
    return loops


def thread_code(index: StackIndex | None, samples: pd.DataFrame) -> dict[str, Any]:
    """Top leaf symbols (self), stacks and Python functions of one thread's samples."""
    total = len(samples)
    counts = samples["stack_id"].dropna().astype(np.int64).value_counts()
    if index is None or counts.empty:
        return {"top_symbols": [], "top_stacks": [], "python_functions": [], "python_coverage": 0.0}
    prefixes = index.prefixes(counts.index)
    weights = counts.reindex(prefixes.stack_ids).to_numpy(dtype=np.float64)
    python = index.python_leaves(counts.index)
    top_python = _top(python.heaviest(weights, 1, TOP), total, "function")
    return {
        "top_symbols": _top(prefixes.heaviest(weights, 1, TOP), total, "symbol"),
        "top_stacks": _top(prefixes.heaviest(weights, STACK_DEPTH, TOP), total, "stack"),
        "python_functions": [
            {**item, "function": item["function"].removeprefix(PYTHON_FRAME)} for item in top_python
        ],
        "python_coverage": float(weights[python.codes[:, 0] >= 0].sum()) / total,
    }


def _fix(on_loop: bool) -> str:
    if on_loop:
        return (
            "Move the CPU-bound work off the event loop: loop.run_in_executor with a "
            "ProcessPoolExecutor (a thread does not help under the GIL), or split it into "
            "chunks with await asyncio.sleep(0) between them so other coroutines run; the "
            "functions listed are where the time goes."
        )
    return (
        "If this CPU time is not expected, start with the hottest functions listed (the "
        "flame graph shows their callers): cache results, use a cheaper algorithm or a "
        "native library; CPU-bound Python threads share one core under the GIL, so "
        "parallel work needs processes."
    )


def _message(tid: int, thread: pd.Series, span: float, code: dict[str, Any], on_loop: bool) -> str:
    who = f"Event loop thread {tid}" if on_loop else f"Thread {tid}"
    if isinstance(thread["comm"], str):
        who += f" ({thread['comm']})"
    approx = "~" if thread["estimated"] else ""
    text = (
        f"{who} was on CPU for {approx}{thread['cpu_s']:.3f} s ({int(thread['samples'])} "
        f"{thread['event']} samples, {thread['cpu_s'] / span:.0%} of the {span:.3f} s profiled)"
        if span > 0
        else f"{who} was on CPU for {approx}{thread['cpu_s']:.3f} s"
    )
    python = code["python_coverage"] >= PYTHON_MIN_COVERAGE
    hot = code["python_functions"] if python else code["top_symbols"]
    if hot:
        key = "function" if python else "symbol"
        listed = ", ".join(f"{item[key]} {item['share']:.0%}" for item in hot[:3])
        text += f"; hottest {'Python functions' if python else 'functions (self)'}: {listed}"
    text += "."
    if on_loop:
        text += (
            " This is CPU-bound code on the event loop: while it runs, no other coroutine "
            "or callback does."
        )
    return text


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    table = inputs.perf.get("perf_samples")
    if table is None or table.num_rows == 0:
        return []
    samples = on_cpu_samples(table)
    if samples.empty:
        return []
    index = StackIndex.build(inputs.perf)
    threads = thread_cpu(samples)
    span = float(samples["time_s"].max() - samples["time_s"].min())
    share = threads["cpu_s"] / span if span > 0 else pd.Series(1.0, index=threads.index)
    loops = loop_tids(inputs.earlier)
    busy = threads[(threads["cpu_s"] >= HOT_MIN_S) & (share >= HOT_MIN_SHARE)].head(MAX_THREADS)
    loop_hot = threads[threads.index.isin(list(loops)) & (threads["cpu_s"] >= HOT_MIN_S)]
    chosen = pd.concat([loop_hot, busy[~busy.index.isin(loop_hot.index)]])
    busiest = [
        {"tid": int(tid), "comm": row["comm"], "cpu_s": float(row["cpu_s"])}
        for tid, row in threads.head(MAX_THREADS).iterrows()
    ]
    source = perf_input(inputs.perf)
    findings = []
    for tid, thread in chosen.iterrows():
        tid = int(tid)
        on_loop = tid in loops
        code = thread_code(index, samples[samples["tid"] == tid])
        pid = None if pd.isna(thread["pid"]) else int(thread["pid"])
        if pid is None and on_loop:
            pid = loops[tid].pid
        evidence: dict[str, Any] = {
            "tid": tid,
            "pid": pid,
            "comm": thread["comm"] if isinstance(thread["comm"], str) else None,
            "samples": int(thread["samples"]),
            "event": thread["event"],
            "cpu_s": float(thread["cpu_s"]),
            "cpu_s_estimated": bool(thread["estimated"]),
            "share_of_span": float(thread["cpu_s"] / span) if span > 0 else None,
            "span_s": span,
            "first_at": float(thread["first_s"]),
            "last_at": float(thread["last_s"]),
            "event_loop": on_loop,
            "threads_profiled": len(threads),
            "busiest_threads": busiest,
            **code,
            "clock": "perf",
        }
        title = (
            f"CPU-bound code on event loop thread {tid}"
            if on_loop
            else f"Thread {tid} busy on CPU ({thread['cpu_s']:.2f} s)"
        )
        findings.append(
            Finding(
                code=CODE,
                kind=KIND,
                severity="warning" if on_loop else "info",
                title=title,
                message=_message(tid, thread, span, code, on_loop),
                evidence=evidence,
                fix=_fix(on_loop),
                input=source,
                pid=pid,
                tid=tid,
                start=float(thread["first_s"]),
                duration_s=float(thread["last_s"] - thread["first_s"]),
                cost_s=float(thread["cpu_s"]),
                culprit=Culprit(pid=pid, tid=tid, role="busy thread"),
                resource=Resource("cpu", "cpu", f"CPU on thread {tid}"),
            )
        )
    return findings


PASS = Pass(CODE, KIND, run, __doc__ or "", after=("blocked_loop",))
