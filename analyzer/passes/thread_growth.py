"""IOD020 thread_growth: a process whose thread count grew, from ps, top or pidstat snapshots;
it confirms a thread_exhaustion finding (IOD006) of the same process when they line up.

The thread counts come from `analyzer.derive.evidence_joins.thread_counts`: ps's NLWP column
(or the process's rows with ``-L``), top's rows per TGID or its nTH column (or every row of a
``top -H -p PID`` screen), pidstat's ``-t`` thread rows per process. Their times are put on the
strace trace's clock by `analyzer.derive.timeline`.

- **Confirmation.** For a thread_exhaustion finding (clone/clone3 refused with EAGAIN, a
  thread stack refused with ENOMEM) whose trace is the run's reference clock, the snapshots of
  the refused process show how its threads grew up to the refusal: the count in the first
  snapshot, the last one at or before the first refusal (within one snapshot interval after
  it: a snapshot shows the state of the moment ps read /proc), and the peak. When the count
  grew, the pass emits the thread_exhaustion finding again with that evidence
  (``thread_counts``, ``citations`` of the snapshot lines) and folds the strace-only finding
  into it: the verdict then cites both. A refused *process* (fork) is confirmed with the
  tasks of the whole process tree, which ps shows with its PPID column.
- **Growth alone.** A process whose threads grew by `MIN_GROWTH` and at least doubled is an
  info finding; from `WARN_GROWTH` more threads it is a warning: threads created per
  request or connection and never bounded run into the task limits (RLIMIT_NPROC, pids.max,
  threads-max) or the address space (8 MiB of stack each).

Linux facts: every thread is a task with its own id (``/proc/PID/task``); NLWP is the
count of them in ``/proc/PID/status`` (``Threads:``), which is what ps, top's nTH and
pidstat's ``threads`` read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

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
from analyzer.passes.evidence import Timeline, citation, file_line, has_evidence, timeline

CODE = "IOD020"
KIND = "thread_growth"
MIN_GROWTH = 10
"""More threads than at the first snapshot for a growth finding (and at least twice as many)."""
WARN_GROWTH = 100
"""More threads than at the first snapshot for a warning."""
MAX_POINTS = 60
SOURCE_WORDS = {"ps_threads": "ps", "top": "top", "pidstat": "pidstat"}


def _series(rows: pd.DataFrame) -> list[dict[str, Any]]:
    order = rows.sort_values(["at", "time", "line"])
    keep = np.unique(np.linspace(0, len(order) - 1, min(len(order), MAX_POINTS)).round())
    return [
        {
            "input": str(row.input),
            "line": int(row.line),
            "time": None if pd.isna(row.time) else float(row.time),
            "at": None if pd.isna(row.at) else float(row.at),
            "count": int(row.count),
        }
        for row in order.iloc[keep.astype(int)].itertuples(index=False)
    ]


def _descends(task: int, ancestor: int, parent: dict[int, int]) -> bool:
    seen: set[int] = set()
    node: int | None = task
    while node is not None and node not in seen:
        if node == ancestor:
            return True
        seen.add(node)
        node = parent.get(node)
    return False


def _process_tree(inputs: PassInputs, pid: int, line: Timeline) -> pd.DataFrame:
    """Per ps snapshot, the tasks of the process tree under `pid` (its threads and those of
    its descendants, by PPID): ``input, line, time, at, count``."""
    table = inputs.tables.get("ps_threads")
    snapshots = inputs.tables.get("ps_snapshots")
    if table is None or snapshots is None or table.num_rows == 0:
        return pd.DataFrame()
    rows = table.select(["input", "snapshot", "pid", "ppid"]).to_pandas().dropna(subset=["pid"])
    found = []
    for (name, snapshot), group in rows.groupby(["input", "snapshot"], sort=False):
        tasks = group["pid"].astype(int).to_numpy()
        parent = dict(
            zip(tasks.tolist(), group["ppid"].fillna(-1).astype(int).tolist(), strict=True)
        )
        inside = {task for task in parent if _descends(task, pid, parent)}
        count = int(np.isin(tasks, list(inside)).sum())
        if count:
            found.append({"input": name, "snapshot": snapshot, "count": count})
    if not found:
        return pd.DataFrame()
    frame = pd.DataFrame(found).join(
        snapshots.select(["input", "snapshot", "line_no", "ts", "clock_s"])
        .to_pandas()
        .set_index(["input", "snapshot"]),
        on=["input", "snapshot"],
    )
    from analyzer.derive.evidence_joins import on_reference

    frame["at"] = on_reference(frame, line.alignments, {"epoch": "ts", "time_of_day": "clock_s"})
    frame["time"] = frame["ts"].fillna(frame["clock_s"])
    frame = frame.rename(columns={"line_no": "line"})
    return frame[["input", "line", "time", "at", "count"]]


def _source_view(rows: pd.DataFrame, start: float) -> dict[str, Any] | None:
    """One source's snapshots of the process around the refusal at `start`: the first, the
    last at (or within one interval after) the refusal, the peak."""
    rows = rows.sort_values("at")
    gaps = np.diff(rows["at"].to_numpy())
    interval = float(np.median(gaps)) if len(gaps) else 1.0
    before = rows[rows["at"] <= start + interval]
    if before.empty:
        return None
    return {
        "rows": rows,
        "interval": interval,
        "first": before.iloc[0],
        "at_refusal": before.iloc[-1],
        "peak": rows.loc[rows["count"].idxmax()],
    }


def _confirmation(
    earlier: Finding, counts: pd.DataFrame, line: Timeline, inputs: PassInputs
) -> Finding | None:
    """The thread_exhaustion finding `earlier` with the snapshots of its process, or None."""
    if earlier.pid is None or earlier.start is None or not line.on_trace(earlier.input):
        return None
    processes = earlier.evidence.get("creates") == "processes"
    rows = counts[(counts["pid"] == earlier.pid) & counts["at"].notna()]
    if processes:
        tree = _process_tree(inputs, int(earlier.pid), line).dropna(subset=["at"])
        if not tree.empty:
            rows = tree.assign(source="ps_threads", pid=earlier.pid, name=None)
    views = {}
    for source, part in rows.groupby("source", sort=False):
        view = _source_view(part, earlier.start)
        if view is not None:
            views[str(source)] = view
    if not views:
        return None
    # the source with the most snapshots leads; every source is cited
    lead = max(views, key=lambda source: (len(views[source]["rows"]), source == "ps_threads"))
    main = views[lead]
    first, at_refusal, peak = main["first"], main["at_refusal"], main["peak"]
    growth = int(at_refusal["count"] - first["count"])
    if growth <= 0 and int(peak["count"]) <= int(first["count"]):
        return None
    what = "tasks of its process tree" if processes else "threads"
    cited: list[dict[str, Any]] = []
    words = ""
    for source, view in sorted(views.items(), key=lambda item: item[0] != lead):
        word = SOURCE_WORDS.get(source, source)
        one, refusal, most = view["first"], view["at_refusal"], view["peak"]
        cited += [
            citation(source, one["input"], one["line"], f"{int(one['count'])} {what} (first)"),
            citation(
                source,
                refusal["input"],
                refusal["line"],
                f"{int(refusal['count'])} {what} at the refusal",
            ),
            citation(source, most["input"], most["line"], f"{int(most['count'])} {what} (peak)"),
        ]
        words += (
            f" The {word} snapshots confirm it: pid {earlier.pid} had {int(one['count'])} "
            f"{what} at {file_line(one['input'], one['line'])}, {int(refusal['count'])} at "
            f"{file_line(refusal['input'], refusal['line'])} (the last snapshot at the first "
            f"refusal, {refusal['at'] - earlier.start:+.1f} s from it) and "
            f"{int(most['count'])} at most ({file_line(most['input'], most['line'])})."
        )
    alive = earlier.evidence.get("threads_alive")
    if isinstance(alive, int):
        words += f" strace counted {alive} alive at the refusal."
    names = [SOURCE_WORDS.get(source, source) for source in views]
    evidence = {
        **earlier.evidence,
        "confirmed_by": names,
        "count_first": int(first["count"]),
        "count_at_refusal": int(at_refusal["count"]),
        "count_peak": int(peak["count"]),
        "count_growth": growth,
        "snapshot_interval_s": main["interval"],
        "thread_counts": _series(
            pd.concat([view["rows"] for view in views.values()]).assign(name=None)
        ),
        "alignment": line.methods(rows["input"].unique()),
        "citations": cited,
    }
    return Finding(
        code=CODE,
        kind=earlier.kind,
        severity=earlier.severity,
        title=f"{earlier.title}, after its {what} grew {int(first['count'])} → "
        f"{int(at_refusal['count'])} ({', '.join(names)})",
        message=earlier.message + words,
        evidence=evidence,
        fix=earlier.fix,
        input=earlier.input,
        pid=earlier.pid,
        tid=earlier.tid,
        start=earlier.start,
        duration_s=earlier.duration_s,
        cost_s=earlier.cost_s,
        lines=earlier.lines,
        culprit=earlier.culprit,
        resource=earlier.resource,
        explains=((Explains(earlier.resource.key, kind=earlier.kind),) if earlier.resource else ()),
    )


def _growth(rows: pd.DataFrame, source: str, input_name: str, pid: Any) -> Finding | None:
    rows = rows.sort_values(["at", "time", "line"], na_position="last")
    first = rows.iloc[0]
    peak = rows.loc[rows["count"].idxmax()]
    growth = int(peak["count"] - first["count"])
    if growth < MIN_GROWTH or peak["count"] < 2 * max(int(first["count"]), 1):
        return None
    word = SOURCE_WORDS.get(source, source)
    pid_value = None if pd.isna(pid) else int(pid)
    name = next((str(n) for n in rows["name"] if isinstance(n, str) and n), None)
    who = f"pid {pid_value}" if pid_value is not None else "the process shown"
    severity: Severity = "warning" if growth >= WARN_GROWTH else "info"
    cited = [
        citation(source, input_name, first["line"], f"{int(first['count'])} threads"),
        citation(source, input_name, peak["line"], f"{int(peak['count'])} threads (peak)"),
    ]
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=f"Threads of {who}{f' ({name[:40]})' if name else ''} grew "
        f"{int(first['count'])} → {int(peak['count'])} ({word})",
        message=(
            f"{word} shows {who} with {int(first['count'])} threads at "
            f"{file_line(input_name, first['line'])} and {int(peak['count'])} at "
            f"{file_line(input_name, peak['line'])}: {growth} more. Threads created per "
            "request or connection and never bounded run into the task limits "
            "(RLIMIT_NPROC, the cgroup's pids.max, kernel.threads-max) or the address space."
        ),
        evidence={
            "source": word,
            "pid": pid_value,
            "count_first": int(first["count"]),
            "count_peak": int(peak["count"]),
            "count_growth": growth,
            "thread_counts": _series(rows),
            "citations": cited,
        },
        fix=(
            "Bound the thread count: a fixed-size pool with a queue in front instead of a "
            "thread per request; check the limits the growth will hit (ulimit -u, the "
            "cgroup's pids.max, kernel.threads-max)."
        ),
        input=input_name,
        pid=pid_value,
        start=None if pd.isna(first["at"]) else float(first["at"]),
        lines=(int(first["line"]), int(peak["line"])),
        culprit=Culprit(pid=pid_value, name=name, role="process whose threads grew"),
        resource=Resource(
            "process",
            f"threads of pid {pid_value}" if pid_value is not None else f"threads in {input_name}",
            f"the thread count of {who}",
        ),
    )


def _owner_of_screens(inputs: PassInputs, line: Timeline) -> dict[str, int]:
    """top inputs that show no TGID column (a ``top -H -p PID`` capture): the process their
    thread ids belong to in the reference trace, when nearly all of them belong to one."""
    table = inputs.tables.get("top_threads")
    trace = next((t for t in inputs.traces if line.on_trace(t.input)), None)
    if table is None or table.num_rows == 0 or trace is None or trace.tasks.num_rows == 0:
        return {}
    tasks = trace.tasks.select(["tid", "pid"]).to_pandas().dropna().drop_duplicates("tid")
    owner = dict(zip(tasks["tid"].astype(int), tasks["pid"].astype(int), strict=True))
    rows = table.select(["input", "tid", "tgid"]).to_pandas()
    found = {}
    for name, group in rows[rows["tgid"].isna()].groupby("input"):
        pids = pd.Series([owner.get(int(tid)) for tid in group["tid"].dropna().unique()])
        if len(pids) and pids.notna().mean() >= 0.8 and pids.dropna().nunique() == 1:
            found[str(name)] = int(pids.dropna().iloc[0])
    return found


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    if not has_evidence(inputs, ("ps_nlwp", "top_threads", "pidstat_threads")):
        return []
    from analyzer.derive.evidence_joins import thread_counts

    line = timeline(inputs)
    counts = thread_counts(inputs.tables, line.alignments)
    if counts.empty:
        return []
    for name, pid in _owner_of_screens(inputs, line).items():
        screen = (counts["source"] == "top") & (counts["input"] == name) & counts["pid"].isna()
        counts.loc[screen, "pid"] = pid
    findings: list[Finding] = []
    confirmed: set[Any] = set()
    for earlier in inputs.earlier:
        if earlier.kind != "thread_exhaustion":
            continue
        finding = _confirmation(earlier, counts, line, inputs)
        if finding is not None:
            findings.append(finding)
            confirmed.add(earlier.pid)
    for (source, input_name, pid), rows in counts.groupby(
        ["source", "input", "pid"], sort=False, dropna=False
    ):
        if not pd.isna(pid) and int(pid) in confirmed:
            continue
        finding = _growth(rows, str(source), str(input_name), pid)
        if finding is not None:
            findings.append(finding)
    return findings


PASS = Pass(CODE, KIND, run, __doc__ or "", after=("thread_exhaustion",))
