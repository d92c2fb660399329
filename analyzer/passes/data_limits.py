"""IOD011 data_limits: what these inputs cannot show, so nobody reads silence as health.

Each limit is an info finding with the capture option that would lift it. The verdict
lists their messages under "what these inputs cannot show".
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.derive.strace import StraceTables
from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs
from analyzer.passes.call_slices import slices
from analyzer.passes.common import stable_order

CODE = "IOD011"
KIND = "data_limits"
_TRACEPOINT = r"^[\w-]+:[\w-]+"
_MODIFIERS = r"^[\w-]+:[ukhpPGHISDeW]+$"
"""`block:block_rq_issue` is a tracepoint; `cycles:u` is a hardware event with a modifier."""


def _limit(
    title: str, message: str, fix: str, input_name: str | None, **evidence: object
) -> Finding:
    return Finding(
        code=CODE,
        kind=KIND,
        severity="info",
        title=title,
        message=message,
        evidence={"limit": title, **evidence},
        fix=fix,
        input=input_name,
    )


STRACE_STEP_BACK_S = 0.001
"""strace stamps a task's lines in order: a step back beyond rounding means moved lines."""
LOG_STEP_BACK_S = 1.0
"""Log records of several threads or processes may be written a little out of order."""


def calls_by_task_in_line_order(calls: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(task, start time) of the timed calls whose first line is in the trace (a resumed
    half alone has only an estimated start), by task and then line."""
    # Select before filtering: filtering copies every column it is given.
    timed = calls.select(["tid", "line_start", "start_s"]).filter(
        pc.and_(pc.is_valid(calls["start_s"]), pc.is_valid(calls["line_start"]))
    )
    tid = filled_numpy(timed["tid"], -1)
    line = timed["line_start"].to_numpy(zero_copy_only=False)
    start = timed["start_s"].to_numpy(zero_copy_only=False)
    order = np.lexsort((line, tid))
    return tid[order], start[order]


def steps_back(keyed: tuple[np.ndarray, np.ndarray], tolerance_s: float) -> int:
    """How many times the time goes back by more than `tolerance_s` from one row to the next
    of the same key."""
    key, time_s = keyed
    same = key[1:] == key[:-1]
    return int(np.count_nonzero(same & (time_s[1:] < time_s[:-1] - tolerance_s)))


def strace_steps_back(calls: pa.Table, tolerance_s: float) -> int:
    """`steps_back` of `calls_by_task_in_line_order`: a slice at a time, carrying each
    task's last line and time across slices, when each task's calls are in line order in
    the table (they are as the parser writes them); the whole-trace sort otherwise."""
    last_line: dict[int, float] = {}
    last_start: dict[int, float] = {}
    count = 0
    for _, part in slices(calls, ["tid", "line_start", "start_s"]):
        valid = pc.and_(pc.is_valid(part["start_s"]), pc.is_valid(part["line_start"]))
        timed = part.filter(valid)
        tid = filled_numpy(timed["tid"], -1)
        line = timed["line_start"].to_numpy(zero_copy_only=False)
        start = timed["start_s"].to_numpy(zero_copy_only=False)
        order = stable_order(tid)
        tid, line, start = tid[order], line[order], start[order]
        same = tid[1:] == tid[:-1]
        if np.any(same & (line[1:] < line[:-1])):
            return steps_back(calls_by_task_in_line_order(calls), tolerance_s)
        count += int(np.count_nonzero(same & (start[1:] < start[:-1] - tolerance_s)))
        firsts = np.flatnonzero(np.r_[True, ~same]) if len(tid) else np.zeros(0, np.int64)
        lasts = np.r_[firsts[1:] - 1, len(tid) - 1] if len(tid) else firsts
        for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
            task = int(tid[first])
            if task in last_line:
                if line[first] < last_line[task]:
                    return steps_back(calls_by_task_in_line_order(calls), tolerance_s)
                count += int(start[first] < last_start[task] - tolerance_s)
            last_line[task] = line[last]
            last_start[task] = start[last]
    return count


def _unresolved_fds(calls: pa.Table) -> tuple[int, int, np.ndarray]:
    """How many calls use an fd beyond stdio that strace could not resolve (no target), how
    many use an fd beyond stdio at all, and the distinct unresolved fds; a slice at a time
    (a trace without -y has an unresolved fd on most calls)."""
    count = beyond = 0
    fds = [np.zeros(0, dtype=np.int64)]
    for _, part in slices(calls, ["errno", "fd", "target"]):
        open_fd = pc.invert(pc.fill_null(pc.equal(part["errno"], "EBADF"), False))
        beyond_stdio = pc.and_(pc.greater(part["fd"], 2), open_fd)
        unresolved = pc.and_(beyond_stdio, pc.is_null(part["target"]))
        unresolved_fds = part["fd"].filter(unresolved)
        count += len(unresolved_fds)
        beyond += int(pc.sum(beyond_stdio).as_py() or 0)
        fds.append(np.unique(np.asarray(unresolved_fds.to_numpy(zero_copy_only=False))))
    return count, beyond, np.unique(np.concatenate(fds))


def _out_of_order(name: str | None, count: int, what: str, where: str) -> Finding:
    return Finding(
        code=CODE,
        kind=KIND,
        severity="warning",
        title="Timestamps out of order",
        message=f"{name or 'The log'}: {count} {what} are stamped earlier than the one before "
        f"them {where}, so the lines are not in the order they were written (sorted, "
        "shuffled or merged by hand): durations, pile-ups and the timeline may be wrong.",
        evidence={"limit": "Timestamps out of order", "steps_back": count},
        fix="Analyze the file as the tool wrote it (strace -o, the application's own log).",
        input=name,
    )


def trace_limits(trace: StraceTables) -> list[Finding]:
    """The limits of one strace trace: no -f, no -T, no timestamps, unresolved fds."""
    limits = []
    name = trace.input
    if trace.syscalls.num_rows == 0:
        # Without a single call the other limits say nothing (and -f cannot be told).
        return [
            _limit(
                "No syscall lines",
                f"{name} has no system call lines: it is strace's summary table alone "
                "(strace -c), or the trace's filter (-e trace=) matched nothing. Slow calls, "
                "their files and sockets, threads and time cannot be analysed.",
                "Capture the calls themselves: strace -f -tt -T -yy -o trace.log (add -C to "
                "keep the summary table at the end).",
                name,
            )
        ]
    if not trace.follows_forks:
        limits.append(
            _limit(
                "Only one thread was traced",
                f"{name} shows a single task (strace without -f): other threads and child "
                "processes are invisible, so pile-ups, lock convoys and pool saturation "
                "cannot be seen.",
                "Capture with strace -f (or -ff) to follow every thread.",
                name,
            )
        )
    if not trace.has_durations:
        limits.append(
            _limit(
                "No call durations",
                f"{name} has no -T durations: only calls split into unfinished/resumed halves "
                "have a measured length, so slow calls can be missed.",
                "Capture with strace -T.",
                name,
            )
        )
    if trace.clock is None:
        limits.append(
            _limit(
                "No timestamps",
                f"{name} has no timestamps: blocked event loops, pile-ups and the timeline "
                "cannot be measured.",
                "Capture with strace -tt (or -ttt).",
                name,
            )
        )
    elif trace.clock == "relative":
        limits.append(
            _limit(
                "Relative timestamps",
                f"{name} has -r relative timestamps: times cannot be lined up with logs or "
                "other traces of the same run.",
                "Capture with strace -tt or -ttt for wall-clock times.",
                name,
            )
        )
    backwards = strace_steps_back(trace.syscalls, STRACE_STEP_BACK_S)
    if backwards:
        limits.append(_out_of_order(name, backwards, "calls", "in the same task"))
    calls = trace.syscalls
    if calls.num_rows:
        # stdin/stdout/stderr are inherited by every program; only other fds are news. A call
        # that failed with EBADF names no open fd (close_range emulations, fd probing).
        count, beyond, fds = _unresolved_fds(calls)
        if count:
            share = count / (beyond or 1)
            if share >= 0.05:
                limits.append(
                    _limit(
                        "File descriptors opened before the trace",
                        f"{count} calls in {name} use {len(fds)} fds that were opened before "
                        "tracing started, so what they refer to (file, socket peer) is unknown.",
                        "Capture with strace -yy so every fd is printed with its path or peer.",
                        name,
                        calls=count,
                        fds=[int(fd) for fd in fds[:20]],
                    )
                )
    return limits


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    findings = [
        _limit(
            "An input could not be read",
            f"{path} was left out: {reason}. The rest of the report covers the other inputs.",
            "Check that the file is what it should be (strace output, a perf script dump, an "
            "application log with asyncio messages) and give --input-format if it is.",
            path,
        )
        for path, reason in inputs.unreadable
    ]
    findings += [limit for trace in inputs.traces for limit in trace_limits(trace)]
    events = inputs.loop_events
    if events is not None and events.num_rows:
        timed = events.select(["line_start", "time_s"]).filter(pc.is_valid(events["time_s"]))
        line = timed["line_start"].to_numpy(zero_copy_only=False)
        # a new input starts where the line numbers start again
        same_input = np.concatenate([[0], np.cumsum(line[1:] <= line[:-1])])
        time_s = timed["time_s"].to_numpy(zero_copy_only=False)
        backwards = steps_back((same_input, time_s), LOG_STEP_BACK_S)
        if backwards:
            findings.append(_out_of_order(None, backwards, "records", "in the log"))
        timed = int(pc.sum(pc.is_valid(events["time_s"])).as_py() or 0)
        if inputs.traces and timed == 0:
            findings.append(
                _limit(
                    "Log without timestamps",
                    "The asyncio log has no timestamps, so its slow callbacks cannot be "
                    "matched to what strace saw at the same time.",
                    "Log with a time format, e.g. logging.basicConfig(format='%(asctime)s "
                    "%(levelname)s %(name)s: %(message)s').",
                    None,
                )
            )
        if not inputs.traces:
            findings.append(
                _limit(
                    "Log without a trace",
                    "An asyncio log names the coroutine that blocked the loop but not what it "
                    "waited on (a sleep, a file, a socket, a lock, or CPU).",
                    "Capture strace -f -tt -T -p PID during the same run and pass both files.",
                    None,
                )
            )
    samples = inputs.perf.get("perf_samples")
    if samples is not None and samples.num_rows:
        tracepoint = pc.and_not(
            pc.match_substring_regex(samples["event"], _TRACEPOINT),
            pc.match_substring_regex(samples["event"], _MODIFIERS),
        )
        samples = samples.filter(pc.invert(pc.fill_null(tracepoint, False)))
    stackless = samples is not None and not pc.any(pc.is_valid(samples["stack_id"])).as_py()
    if samples is not None and samples.num_rows and stackless:
        findings.append(
            _limit(
                "perf samples without stacks",
                "The perf samples carry no call stacks, so hot code cannot be named.",
                "Record with perf record -g (or --call-graph dwarf).",
                None,
            )
        )
    return findings


PASS = Pass(CODE, KIND, run, __doc__ or "")
