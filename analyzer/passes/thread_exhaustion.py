"""IOD006 thread_exhaustion: thread or process creation the kernel refused.

Two shapes of failure, found with whole-column filters on the syscalls table:

- a task-creating call (``clone``, ``clone3``, ``fork``, ``vfork``) returning EAGAIN (a task
  limit: RLIMIT_NPROC, the pids cgroup's ``pids.max``, ``kernel.threads-max``) or ENOMEM;
- the new thread's stack refused: an ``mmap`` with ``MAP_STACK`` returning ENOMEM (the
  address-space limit RLIMIT_AS, or overcommit), or an ``mprotect`` returning ENOMEM on a
  stack mapping the same thread had just made (overcommit accounting happens there when
  the stack is mapped PROT_NONE first).

Failures are grouped per (process, call, errno). Each group's evidence has the live threads
of the process at the first failure (tasks alive: ``created_s <= t < exited_s``), the
thread-count timeline, its peak, the creation rate in the second before, and any
RLIMIT_NPROC/RLIMIT_AS/RLIMIT_STACK value the trace itself shows (``prlimit64`` calls).

``cost_s``: a refused creation costs no time of its own, yet it is the incident when it
happens (requests refused, workers crashed). It is the time the process went on running
after its first refusal (to the end of the trace), and at least `FAILURE_COST_S` per refusal,
so a process that died right after refusing one thread still ranks with a 1 s stall.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy, is_in
from analyzer.derive import strace_slices
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import TASK_CREATORS
from analyzer.passes.base import Culprit, Finding, Pass, PassConfig, PassInputs, Resource
from analyzer.passes.common import MAX_TIMELINE_POINTS, cited_lines, downsample, numbers

CODE = "IOD006"
KIND = "thread_exhaustion"
FAILURE_COST_S = 1.0
"""Cost of one refused creation when the trace ends sooner (see the module docstring)."""
RATE_WINDOW_S = 1.0
"""The creation rate is measured over the creations in this window before the first
failure (see `creation_burst`)."""

_STACK_MAPS = frozenset({"mmap", "mmap2"})
_LIMITS = frozenset({"prlimit64", "setrlimit", "getrlimit", "ugetrlimit"})
_LIMIT_RE = re.compile(r"(RLIMIT_\w+),\s*(?:(\{[^}]*\})|NULL)(?:,\s*(\{[^}]*\}|NULL))?")
_CUR_RE = re.compile(r"rlim_cur=([^,}]+)")

CAUSES = {
    "EAGAIN": (
        "RLIMIT_NPROC (ulimit -u), the cgroup's pids.max or kernel.threads-max",
        ("RLIMIT_NPROC",),
    ),
    "stack": (
        "the address-space limit (ulimit -v / RLIMIT_AS) or overcommit: each thread "
        "reserves its stack (8 MiB by default)",
        ("RLIMIT_AS", "RLIMIT_STACK"),
    ),
    "ENOMEM": (
        "memory: the kernel could not set up the new task (address space or overcommit, "
        "RLIMIT_AS, or a pid namespace whose init has exited)",
        ("RLIMIT_AS",),
    ),
}
"""errno (or ``stack`` for a refused thread stack) -> (the limit in words, rlimits to show)."""


def _text(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _with_map_stack(calls: pa.Table, rows: np.ndarray) -> np.ndarray:
    """The subset of `rows` whose arguments carry MAP_STACK."""
    if len(rows) == 0:
        return rows
    args = strace_slices.take(calls, ["args"], rows)["args"]
    return rows[filled_numpy(pc.match_substring(args, "MAP_STACK"), False)]


def _nth_int(args: str | None, index: int) -> int | None:
    """The index-th comma-separated argument as an integer (hex or decimal), if it is one."""
    parts = (args or "").split(",")
    if index >= len(parts):
        return None
    try:
        return int(parts[index].strip(), 0)
    except ValueError:
        return None


def stack_mprotects(calls: pa.Table, refused: np.ndarray) -> dict[int, int]:
    """For each ENOMEM mprotect row (`refused`) that falls inside a MAP_STACK mapping the
    same thread made before it, the row of that mmap."""
    return _stack_mprotects_at(calls, np.flatnonzero(refused))


def _stack_mprotects_at(calls: pa.Table, candidates: np.ndarray) -> dict[int, int]:
    """`stack_mprotects` of the mprotect rows `candidates` (ascending), reading the trace a
    slice at a time."""
    if len(candidates) == 0:
        return {}
    maps = strace_slices.rows_where(
        calls,
        ["syscall", "retval"],
        lambda part: is_in(part["syscall"], _STACK_MAPS) & (numbers(part["retval"]) > 0),
    )
    maps = _with_map_stack(calls, maps)
    if len(maps) == 0:
        return {}
    failing_at = strace_slices.take(calls, ["tid", "start_s"], candidates)
    mapped_at = strace_slices.take(calls, ["tid", "start_s"], maps)
    failing = pd.DataFrame(
        {"row": candidates, "tid": numbers(failing_at["tid"]), "t": numbers(failing_at["start_s"])}
    )
    mapped = pd.DataFrame(
        {"map_row": maps, "tid": numbers(mapped_at["tid"]), "t": numbers(mapped_at["start_s"])}
    )
    paired = pd.merge_asof(
        failing.sort_values("t"), mapped.sort_values("t"), on="t", by="tid", direction="backward"
    ).dropna(subset=["map_row"])
    inside: dict[int, int] = {}
    for row, map_row in zip(paired["row"], paired["map_row"].astype(int), strict=True):
        address = _nth_int(calls["args"][int(row)].as_py(), 0)
        length = _nth_int(calls["args"][int(map_row)].as_py(), 1)
        base = calls["retval"][int(map_row)].as_py()
        if address is not None and length is not None and base <= address < base + length:
            inside[int(row)] = int(map_row)
    return inside


def _limit_value(text: str | None) -> str | None:
    if not text or text == "NULL":
        return None
    match = _CUR_RE.search(text)
    if not match:
        return None
    value = match.group(1).strip()
    if re.fullmatch(r"\d+\*\d+", value):
        left, right = value.split("*")
        return str(int(left) * int(right))
    return value


def _lineage(tasks: pa.Table, pid: int) -> set[int]:
    """The process and the tasks it descends from (limits are inherited across fork/exec)."""
    parent_of = dict(zip(tasks["tid"].to_pylist(), tasks["parent"].to_pylist(), strict=True))
    lineage: set[int] = set()
    task: int | None = pid
    while task is not None and task not in lineage:
        lineage.add(task)
        task = parent_of.get(task)
    return lineage


def limits_seen(trace: StraceTables, pid: int, before_s: float) -> dict[str, dict[str, Any]]:
    """The last value of each RLIMIT that the process or its ancestors set or read before
    `before_s`, from ``prlimit64``/``setrlimit``/``getrlimit`` calls in the trace (a
    ``prlimit --nproc`` wrapper shows the limit it set)."""
    calls = trace.syscalls
    rows = strace_slices.rows_where(
        calls,
        ["syscall", "start_s", "retval"],
        lambda part: (
            is_in(part["syscall"], _LIMITS)
            & (numbers(part["start_s"]) <= before_s)
            & (numbers(part["retval"]) == 0)
        ),
    )
    if len(rows) == 0:
        return {}
    lineage = _lineage(trace.tasks, pid)
    seen: dict[str, dict[str, Any]] = {}
    subset = strace_slices.take(
        calls, ["tid", "pid", "syscall", "args", "line_start", "line_end"], rows
    )
    for call in subset.to_pylist():
        caller = call["pid"] if call["pid"] is not None else call["tid"]
        match = _LIMIT_RE.search(call["args"] or "")
        if caller not in lineage or not match:
            continue
        resource, new, old = match.group(1), match.group(2), match.group(3)
        if call["syscall"] == "prlimit64":
            target = _nth_int(call["args"], 0)
            if target not in (0, pid):  # prlimit --pid N changes another process
                continue
            value, how = _limit_value(new), "set"
            if value is None:
                value, how = _limit_value(old), "read"
        else:
            value = _limit_value(new)
            how = "set" if call["syscall"] == "setrlimit" else "read"
        if value is not None:
            seen[resource] = {
                "value": value,
                "how": how,
                "line": call["line_start"] or call["line_end"],
            }
    return seen


def lifetimes(tasks: pa.Table, first_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(born, gone) of each task: created_s or the trace start when it predates the trace,
    exited_s or never."""
    born, gone = numbers(tasks["created_s"]), numbers(tasks["exited_s"])
    return np.where(np.isnan(born), first_s, born), np.where(np.isnan(gone), np.inf, gone)


def thread_timeline(born: np.ndarray, gone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times, live) after each change: +1 at a task's birth, -1 at its end."""
    times = np.concatenate([born, gone[np.isfinite(gone)]])
    steps = np.concatenate([np.ones(len(born)), -np.ones(int(np.isfinite(gone).sum()))])
    order = np.argsort(times, kind="stable")
    times, live = times[order], np.cumsum(steps[order])
    last_at_time = np.append(times[1:] != times[:-1], True)
    return times[last_at_time], live[last_at_time].astype(np.int64)


def creation_burst(created_at: np.ndarray, first_at: float, window: float) -> tuple[int, float]:
    """(tasks created in the `window` before `first_at`, the seconds they took): from the
    first of them to the failure, so a burst reads as the program saw it (23 threads in
    0.065 s, not in a second); with fewer than two, the whole window."""
    inside = created_at[(created_at >= first_at - window) & (created_at < first_at)]
    if len(inside) >= 2:
        window = first_at - float(inside.min())
    return len(inside), window


def fix_for(cause_key: str, threads: bool) -> str:
    what = "thread" if threads else "process"
    if cause_key == "EAGAIN":
        return (
            f"Bound the {what} count: a fixed-size pool (ThreadPoolExecutor(max_workers=N), a "
            f"worker pool) instead of a {what} per request or connection, with a queue in front. "
            "If the count is legitimate, raise the limit that was hit: ulimit -u / "
            "LimitNPROC=, the cgroup's pids.max (systemd TasksMax=, Kubernetes "
            "podPidsLimit), or kernel.threads-max."
        )
    return (
        f"Bound the {what} count with a fixed-size pool, and make each thread cheaper: "
        "smaller stacks (threading.stack_size(256 * 1024), ulimit -s, pthread_attr_setstacksize) "
        "so N threads fit the address space; raise or remove the address-space limit "
        "(ulimit -v / RLIMIT_AS, LimitAS=) or check vm.overcommit_memory."
    )


def _describe_group(call: str, errno: str, stack: bool) -> tuple[str, str]:
    """(failed_call text, cause key)."""
    if stack:
        return (
            f"{call} (MAP_STACK)" if call in _STACK_MAPS else f"{call} of a thread stack",
            "stack",
        )
    return call, errno if errno in CAUSES else "ENOMEM"


def failed_creations(calls: pa.Table) -> tuple[pa.Table, np.ndarray, dict[int, int]]:
    """The refused creations: their rows of `calls` (plus a ``row`` column and a ``stack``
    flag), and for refused stack mprotects the row of the stack mmap they follow."""
    empty: tuple[pa.Table, np.ndarray, dict[int, int]] = (
        calls.slice(0, 0),
        np.zeros(0, dtype=bool),
        {},
    )
    errnos = frozenset({"EAGAIN", "ENOMEM"})
    refused = strace_slices.rows_where(calls, ["errno"], lambda part: is_in(part["errno"], errnos))
    if len(refused) == 0:
        return empty
    named = strace_slices.take(calls, ["syscall", "errno"], refused)
    syscall = named["syscall"]
    enomem = filled_numpy(pc.equal(named["errno"], "ENOMEM"), False)
    creators = refused[is_in(syscall, TASK_CREATORS)]
    stack_maps = _with_map_stack(calls, refused[is_in(syscall, _STACK_MAPS) & enomem])
    protects = refused[is_in(syscall, frozenset({"mprotect"})) & enomem]
    protect_maps = _stack_mprotects_at(calls, protects)
    stack_rows = np.concatenate([stack_maps, np.array(sorted(protect_maps), dtype=np.int64)])
    rows = np.concatenate([creators, stack_rows])
    if len(rows) == 0:
        return empty
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    stack = np.concatenate([np.zeros(len(creators), bool), np.ones(len(stack_rows), bool)])
    failed = strace_slices.take(calls, calls.column_names, rows)
    failed = failed.append_column("row", pa.array(rows, pa.int64()))
    return failed, stack[order], protect_maps


def trace_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    """The thread_exhaustion findings of one trace."""
    calls = trace.syscalls
    failed, stack, protect_maps = failed_creations(calls)
    if failed.num_rows == 0:
        return []
    frame = pd.DataFrame(
        {
            "row": numbers(failed["row"]).astype(np.int64),
            "pid": numbers(failed["pid"]),
            "tid": numbers(failed["tid"]),
            "syscall": _text(failed["syscall"]),
            "errno": _text(failed["errno"]),
            "stack": stack,
            "start": numbers(failed["start_s"]),
            "line": cited_lines(failed),
            "args": _text(failed["args"]),
        }
    )
    frame["pid"] = frame["pid"].fillna(frame["tid"])
    first_s = trace.first_s if trace.first_s is not None else float(frame["start"].min())
    end_s = trace.last_s if trace.last_s is not None else float(frame["start"].max())
    all_born, all_gone = lifetimes(trace.tasks, first_s)
    clues = task_limit_clues(trace)
    findings = []
    for (pid, call, errno, in_stack), group in frame.groupby(
        ["pid", "syscall", "errno", "stack"], sort=True
    ):
        group = group.sort_values("start", kind="stable")
        pid = int(pid)
        first_at = float(group["start"].iloc[0])
        last_at = float(group["start"].iloc[-1])
        failed_call, cause_key = _describe_group(str(call), str(errno), bool(in_stack))
        cause, rlimits = CAUSES[cause_key]
        tasks_alive = int(((all_born <= first_at) & (first_at < all_gone)).sum())
        checks = None
        if cause_key == "EAGAIN":
            cause, checks = limit_verdict(clues, tasks_alive)
        threads = bool(in_stack) or _creates_threads(group["args"], str(call))

        mine = trace.tasks.filter(pc.equal(trace.tasks["pid"], pid))
        born, gone = lifetimes(mine, first_s)
        alive = int(((born <= first_at) & (first_at < gone)).sum())
        # RLIMIT_NPROC and pids.max count tasks across processes: a refused fork is
        # measured against every task in the trace, a refused thread against its process.
        scope = mine if threads else trace.tasks
        scope_born, scope_gone = (born, gone) if threads else (all_born, all_gone)
        times, live = thread_timeline(scope_born, scope_gone)
        peak_index = int(np.argmax(live)) if len(live) else None
        created_at = numbers(scope["created_s"])
        created, window = creation_burst(
            created_at, first_at, min(RATE_WINDOW_S, first_at - first_s)
        )

        seen = limits_seen(trace, pid, first_at)
        stack_source = [protect_maps.get(row, row) for row in group["row"]]
        lines = [int(x) for x in group["line"].head(config.max_samples)]
        if call == "mprotect":  # and the stack mmap each refused mprotect followed
            map_rows = stack_source[: config.max_samples]
            taken = strace_slices.take(calls, ["line_start", "line_end"], np.array(map_rows))
            lines += [int(x) for x in cited_lines(taken)]
        tids = sorted({int(t) for t in group["tid"]})
        evidence: dict[str, Any] = {
            "failed_call": failed_call,
            "errno": str(errno),
            "failures": len(group),
            "threads_alive": alive,
            "first_at": first_at,
            "cause": cause,
            "last_at": last_at,
            "creates": "threads" if threads else "processes",
            "timeline_scope": "process" if threads else "trace",
            "peak_threads": int(live[peak_index]) if peak_index is not None else alive,
            "peak_at": float(times[peak_index]) if peak_index is not None else None,
            "tasks_alive_in_trace": tasks_alive,
            "tasks_created": int((~np.isnan(created_at)).sum()),
            "creation_rate_per_s": created / window if window > 0 else None,
            "creation_window_s": window,
            "created_in_window": created,
            "stack_bytes": _stack_bytes(calls, stack_source) if in_stack else None,
            "limits_seen": {name: seen[name] for name in rlimits if name in seen},
            "failing_tids": tids[: config.max_samples * 4],
            "limit_clues": {key: value for key, value in clues.items() if "_path" not in key},
            "how_to_check": checks,
            "timeline": downsample(times, live, MAX_TIMELINE_POINTS),
        }
        findings.append(
            Finding(
                code=CODE,
                kind=KIND,
                severity="error",
                title=_title(failed_call, str(errno), pid, threads),
                message=_message(evidence, pid, first_s, int(group["line"].iloc[0])),
                evidence=evidence,
                fix=fix_for(cause_key, threads),
                input=trace.input,
                pid=pid,
                tid=tids[0] if len(tids) == 1 else None,
                start=first_at,
                duration_s=last_at - first_at,
                cost_s=max(FAILURE_COST_S * len(group), end_s - first_at),
                lines=tuple(sorted(set(lines))),
                culprit=Culprit(pid=pid, tid=tids[0] if len(tids) == 1 else None),
                resource=(
                    Resource("limit", "task limit", f"the task limit: {cause}")
                    if cause_key == "EAGAIN"
                    else Resource("limit", "address space", f"the address space: {cause}")
                ),
            )
        )
    return merged_limits(findings)


def merged_limits(findings: list[Finding]) -> list[Finding]:
    """One finding for every refusal under one task limit: RLIMIT_NPROC, pids.max and
    threads-max count tasks across processes, so EAGAIN in several processes of one trace is
    one root cause. The process refused most often leads; the others are listed."""
    task_limit = [f for f in findings if f.resource is not None and f.resource.key == "task limit"]
    if len(task_limit) < 2:
        return findings
    lead = max(task_limit, key=lambda f: (f.evidence["failures"], -(f.start or 0.0)))
    pids = sorted({f.pid for f in task_limit if f.pid is not None})
    failures = sum(int(f.evidence["failures"]) for f in task_limit)
    others = [f for f in findings if f not in task_limit]
    evidence = {
        **lead.evidence,
        "failures": failures,
        "failing_pids": pids,
        "failures_by_pid": {str(f.pid): f.evidence["failures"] for f in task_limit},
    }
    merged = Finding(
        code=lead.code,
        kind=lead.kind,
        severity=lead.severity,
        title=f"Task creation refused in {len(pids)} processes under one limit (EAGAIN)",
        message=(
            f"{failures} task creations failed with EAGAIN in processes "
            f"{', '.join(str(pid) for pid in pids)}: one limit counts their tasks together. "
            + lead.message
        ),
        evidence=evidence,
        fix=lead.fix,
        input=lead.input,
        pid=lead.pid,
        tid=None,
        start=min(f.start for f in task_limit if f.start is not None),
        duration_s=lead.duration_s,
        cost_s=max(f.cost_s for f in task_limit),
        lines=tuple(sorted({line for f in task_limit for line in f.lines}))[:20],
        culprit=lead.culprit,
        resource=lead.resource,
    )
    return [merged, *others]


_LIMIT_FILES = {
    "pids.max": "the cgroup's pids.max",
    "pids.current": "the cgroup's pids.current",
    "threads-max": "kernel.threads-max",
}
_NUMBER = re.compile(r'"(\d+|max)\\n')


def task_limit_clues(trace: StraceTables) -> dict[str, Any]:
    """What the trace itself shows about the task limits: the values of ``pids.max``,
    ``pids.current`` and ``/proc/sys/kernel/threads-max`` the process read, and its user
    (getuid/geteuid; root is exempt from RLIMIT_NPROC: kernel/fork.c copy_process lets
    CAP_SYS_ADMIN/CAP_SYS_RESOURCE through, see setrlimit(2))."""
    calls = trace.syscalls
    clues: dict[str, Any] = {}
    reading = frozenset({"read", "pread64"})

    def limit_reads(part: pa.Table) -> np.ndarray:
        # only reads of the limit files can give a clue: the others are not looked at
        files = functools.reduce(
            pc.or_, [pc.ends_with(part["target"], "/" + name) for name in _LIMIT_FILES]
        )
        return (
            is_in(part["syscall"], reading)
            & filled_numpy(pc.greater(part["retval"], 0), False)
            & filled_numpy(files, False)
        )

    rows = strace_slices.rows_where(calls, ["syscall", "retval", "target"], limit_reads)
    reads = strace_slices.take(calls, ["target", "args"], rows)
    for target, args in zip(reads["target"].to_pylist(), reads["args"].to_pylist(), strict=True):
        if not target:
            continue
        for name in _LIMIT_FILES:
            match = _NUMBER.search(args or "")
            if target.endswith("/" + name) and name not in clues and match:
                clues[name] = match.group(1)
                clues[name + "_path"] = target
    asking = frozenset({"getuid", "geteuid"})
    ids = strace_slices.take(
        calls,
        ["retval"],
        strace_slices.rows_where(calls, ["syscall"], lambda part: is_in(part["syscall"], asking)),
    )
    uids = {int(u) for u in ids["retval"].to_pylist() if u is not None}
    if uids:
        clues["uid"] = min(uids)
    return clues


def limit_verdict(clues: Mapping[str, Any], tasks_alive: int) -> tuple[str, str]:
    """(the limit this trace most likely hit, how to check it) from `task_limit_clues` and
    the number of tasks alive in the trace at the first refusal."""
    checks = (
        "check `cat /sys/fs/cgroup/<group>/pids.max pids.current pids.events` (the cgroup's "
        "`max` event counts refusals; dmesg says 'fork rejected by pids controller'), "
        "`grep processes /proc/PID/limits` for RLIMIT_NPROC (counted per user), and "
        "`sysctl kernel.threads-max` against `ps -eLf | wc -l`"
    )
    pids_max = clues.get("pids.max")
    if pids_max and pids_max != "max" and tasks_alive >= int(pids_max) - 2:
        return (
            f"the cgroup's pids.max ({pids_max}, read by the process from "
            f"{clues.get('pids.max_path')}; {tasks_alive} tasks were alive in the trace, and "
            "tasks outside the trace count too)",
            checks,
        )
    if clues.get("uid") == 0:
        return (
            "the cgroup's pids.max or kernel.threads-max (the process runs as root, which "
            "RLIMIT_NPROC does not limit)",
            checks,
        )
    return ("RLIMIT_NPROC (ulimit -u), the cgroup's pids.max or kernel.threads-max", checks)


def _creates_threads(args: pd.Series, call: str) -> bool:
    if call in ("fork", "vfork"):
        return False
    return bool(args.fillna("").str.contains("CLONE_THREAD", regex=False).any())


def _stack_bytes(calls: pa.Table, rows: list[int]) -> int | None:
    """The length of the first stack mmap among `rows` (the mmap itself, or the one a
    refused mprotect followed)."""
    return _nth_int(calls["args"][rows[0]].as_py(), 1) if rows else None


def _title(failed_call: str, errno: str, pid: int, threads: bool) -> str:
    what = "Thread" if threads else "Process"
    return f"{what} creation refused in pid {pid}: {failed_call} = {errno}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _limit_text(name: str, value: str) -> str:
    if name in ("RLIMIT_AS", "RLIMIT_STACK") and value.isdigit():
        return f"{value} bytes ({int(value) / 2**20:.0f} MiB)"
    return value


def _message(evidence: dict[str, Any], pid: int, first_s: float, line: int) -> str:
    failures = evidence["failures"]
    what = "thread" if evidence["creates"] == "threads" else "process"
    times = "" if failures == 1 else f" {failures} times"
    if evidence["creates"] == "threads":
        alive = f"{_count(evidence['threads_alive'], 'thread')} of the process alive"
    else:
        alive = f"{_count(evidence['tasks_alive_in_trace'], 'task')} alive in the trace"
    text = (
        f"Process {pid} was refused a new {what}{times}: {evidence['failed_call']} failed "
        f"with {evidence['errno']}, first {evidence['first_at'] - first_s:.3f} s into the "
        f"trace (line {line}), with {alive} (peak {evidence['peak_threads']})"
    )
    if evidence["creation_rate_per_s"] is not None:
        text += (
            f"; it had started {evidence['created_in_window']} in the "
            f"{evidence['creation_window_s']:.3g} s before "
            f"({evidence['creation_rate_per_s']:.0f}/s)"
        )
    text += f". The limit hit is {evidence['cause']}."
    if evidence.get("how_to_check"):
        text += f" To confirm, {evidence['how_to_check']}."
    if evidence["stack_bytes"]:
        text += f" Each thread stack here is {evidence['stack_bytes'] / 2**20:.1f} MiB."
    for name, seen in evidence["limits_seen"].items():
        value = _limit_text(name, seen["value"])
        verb = "set to" if seen["how"] == "set" else "read as"
        text += f" The trace shows {name} {verb} {value} (line {seen['line']})"
        tasks = evidence["tasks_alive_in_trace"]
        if name == "RLIMIT_NPROC" and seen["value"].isdigit() and tasks >= int(seen["value"]):
            text += f": the {tasks} tasks alive had reached it"
        text += "."
    return text


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [finding for trace in inputs.traces for finding in trace_findings(trace, config)]


PASS = Pass(CODE, KIND, run, __doc__ or "")
