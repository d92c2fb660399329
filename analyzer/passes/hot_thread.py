"""IOD021 hot_thread: a thread that top or pidstat saw burning CPU, with its Python stack from
py-spy; it names the GIL holder of a gil_contention finding (IOD013) when they agree.

The %CPU rows are `analyzer.derive.evidence_joins.thread_cpu` (``top -H``: a share of one CPU
over the delay, the first iteration left out; ``pidstat -t -u``: over the interval); a thread
is hot when its mean is at least `HOT_PCT` (a thread in one long C call holding the GIL runs
at ~100 %). Its stacks are the py-spy dumps' rows of the same OS thread id (py-spy prints the
native tid, the number top, pidstat and strace print), with py-spy's state: ``active+gil``
marks the thread that held the GIL at the dump (py-spy reads the interpreter's GIL holder
from its runtime state).

- **The GIL holder confirmed.** When an earlier gil_contention finding (from strace's timed
  waits on the GIL's condition variable) names this thread as the holder, the pass emits the
  gil_contention finding again with the top/pidstat %CPU of the holder and its py-spy stacks
  (``cpu``, ``pyspy``, ``citations``), its Python thread name and function in the culprit and
  resource, and folds the strace-only finding into it.
- **A hot thread alone** is info: a thread can legitimately use a CPU. It is a warning when
  py-spy shows it holding the GIL in at least half of the dumps while the process has other
  Python threads: they can only run Python code between its GIL releases.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

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

CODE = "IOD021"
KIND = "hot_thread"
HOT_PCT = 50.0
"""Mean %CPU (of one CPU) from which a thread is hot."""
MAX_THREADS = 3
"""Hot threads reported at most (the hottest first)."""
STACKS = 3


def thread_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (source, input, tid): mean and peak %CPU over the measured rows, hottest first."""
    measured = rows[rows["measured"].astype(bool) & rows["cpu_pct"].notna()]
    if measured.empty:
        return pd.DataFrame()
    keys = ["source", "input", "tid"]
    grouped = measured.groupby(keys, sort=False)
    table = grouped.agg(
        mean=("cpu_pct", "mean"),
        peak=("cpu_pct", "max"),
        samples=("cpu_pct", "size"),
        pid=("pid", "last"),
        name=("name", "last"),
        first_at=("at", "min"),
        last_at=("at", "max"),
    )
    peak_rows = measured.loc[grouped["cpu_pct"].idxmax()].set_index(keys)
    table["peak_line"] = peak_rows["line"]
    table["first_line"] = grouped["line"].min()
    states = measured.groupby(keys, sort=False)["state"].agg(
        lambda values: dict(Counter(str(v) for v in values.dropna()))
    )
    table["states"] = states
    return table.sort_values("mean", ascending=False).reset_index()


def _pyspy_for(spy: pd.DataFrame, tid: int, pid: Any) -> pd.DataFrame:
    if spy.empty:
        return spy
    rows = spy[spy["tid"] == tid]
    if not pd.isna(pid):
        rows = rows[rows["pid"].isna() | (rows["pid"] == pid)]
    return rows


def _pyspy_evidence(rows: pd.DataFrame, spy: pd.DataFrame) -> dict[str, Any] | None:
    if rows.empty:
        return None
    dumps = spy.groupby(["input", "dump"]).ngroups
    tops = Counter(str(top) for top in rows["top"].dropna())
    stacks = Counter(" ← ".join(stack[:STACKS]) for stack in rows["stack"] if stack)
    others = spy[
        spy.set_index(["input", "dump"]).index.isin(rows.set_index(["input", "dump"]).index)
        & (spy["tid"] != rows["tid"].iloc[0])
    ]
    return {
        "name": next((str(n) for n in rows["name"] if isinstance(n, str)), None),
        "dumps": len(rows),
        "dumps_in_run": int(dumps),
        "held_gil": int(rows["holds_gil"].sum()),
        "active": int((rows["state"] == "active").sum()),
        "top": tops.most_common(1)[0][0] if tops else None,
        "stacks": [{"stack": text, "dumps": n} for text, n in stacks.most_common(STACKS)],
        "other_python_threads": int(others["tid"].nunique()) if not others.empty else 0,
        "lines": [int(line) for line in rows["line"].head(5)],
        "input": str(rows["input"].iloc[0]),
    }


def _cpu_evidence(row: pd.Series) -> dict[str, Any]:
    return {
        "source": str(row["source"]),
        "input": str(row["input"]),
        "tid": int(row["tid"]),
        "mean_cpu_pct": float(row["mean"]),
        "max_cpu_pct": float(row["peak"]),
        "samples": int(row["samples"]),
        "states": row["states"] if isinstance(row["states"], dict) else {},
        "max_line": int(row["peak_line"]),
        "first_at": None if pd.isna(row["first_at"]) else float(row["first_at"]),
        "last_at": None if pd.isna(row["last_at"]) else float(row["last_at"]),
    }


def _words(cpu: dict[str, Any] | None, spy: dict[str, Any] | None) -> tuple[str, str]:
    """(title part, message part) for the %CPU and py-spy evidence."""
    title, message = "", ""
    if cpu:
        source = cpu["source"]
        states = ", ".join(f"{state} {n}x" for state, n in sorted(cpu["states"].items()))
        title = f"{cpu['mean_cpu_pct']:.0f}% CPU ({source})"
        message = (
            f" {source} shows it at {cpu['mean_cpu_pct']:.0f}% of a CPU on average, "
            f"{cpu['max_cpu_pct']:.0f}% at most ({file_line(cpu['input'], cpu['max_line'])})"
            + (f", in state {states}" if states else "")
            + "."
        )
    if spy:
        where = f"in {spy['top']}" if spy["top"] else ""
        if spy["held_gil"]:
            where = f"holding the GIL in {spy['held_gil']} of {spy['dumps']} py-spy dumps" + (
                f", {where}" if where else ""
            )
        title = ", ".join(part for part in (title, where) if part)
        held = f"holding the GIL in {spy['held_gil']} of them, " if spy["held_gil"] else ""
        message += (
            f" py-spy dumped it {spy['dumps']} times as {spy['name'] or 'an unnamed thread'}, "
            f"{held}most often in {spy['top'] or '?'}"
            f" ({file_line(spy['input'], spy['lines'][0])})."
        )
    return title, message


def _citations(cpu: dict[str, Any] | None, spy: dict[str, Any] | None) -> list[dict[str, Any]]:
    cited = []
    if cpu:
        cited.append(
            citation(cpu["source"], cpu["input"], cpu["max_line"], f"{cpu['max_cpu_pct']:.0f}% CPU")
        )
    if spy:
        for line in spy["lines"][:3]:
            cited.append(citation("pyspy", spy["input"], line, f"stack of {spy['name']}"))
    return cited


def _confirmed_gil(
    earlier: Finding, cpu: dict[str, Any] | None, spy: dict[str, Any] | None, line: Timeline
) -> Finding:
    title, words = _words(cpu, spy)
    name = (spy or {}).get("name") or (earlier.culprit.name if earlier.culprit else None)
    where = (spy or {}).get("top")
    resource = earlier.resource
    if resource is not None:
        resource = Resource(
            resource.kind,
            resource.key,
            resource.text
            + (f" ({name}" + (f", in {where}" if where else "") + ")" if name else ""),
        )
    explains = tuple(earlier.explains)
    if earlier.resource is not None:
        # IOD005 reports the waiters queued on the GIL's futex as a convoy: the same waiting
        explains += (
            Explains(earlier.resource.key, kind=earlier.kind),
            Explains(earlier.resource.key, kind="lock_contention"),
        )
    return Finding(
        code=CODE,
        kind=earlier.kind,
        severity=earlier.severity,
        title=f"{earlier.title}; {name or 'the holder'} at {title}",
        message=earlier.message + words,
        evidence={
            **earlier.evidence,
            "cpu": cpu,
            "pyspy": spy,
            "holder_name": name,
            "alignment": line.methods(
                [*([cpu["input"]] if cpu else []), *([spy["input"]] if spy else [])]
            ),
            "citations": _citations(cpu, spy),
        },
        fix=earlier.fix,
        input=earlier.input,
        pid=earlier.pid,
        tid=earlier.tid,
        start=earlier.start,
        duration_s=earlier.duration_s,
        cost_s=earlier.cost_s,
        lines=earlier.lines,
        culprit=Culprit(pid=earlier.pid, tid=earlier.tid, name=name, role="GIL holder burning CPU"),
        resource=resource,
        explains=explains,
    )


def _hot(row: pd.Series, cpu: dict[str, Any], spy: dict[str, Any] | None) -> Finding:
    title, words = _words(cpu, spy)
    tid = int(row["tid"])
    pid = None if pd.isna(row["pid"]) else int(row["pid"])
    name = (spy or {}).get("name") or (None if pd.isna(row["name"]) else str(row["name"]))
    others = int(spy["other_python_threads"]) if spy else 0
    holds = spy is not None and spy["held_gil"] * 2 >= spy["dumps"] and others > 0
    severity: Severity = "warning" if holds else "info"
    message = f"Thread {tid}" + (f" ({name})" if name else "") + " was busy on a CPU." + words
    if holds:
        message += (
            f" While it holds the GIL, the process's {others} other Python threads can only "
            "run Python code between its releases."
        )
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=f"Thread {tid}" + (f" ({name})" if name else "") + f" at {title}",
        message=message,
        evidence={"cpu": cpu, "pyspy": spy, "holds_gil": holds, "citations": _citations(cpu, spy)},
        fix=(
            "Find what the hot code does (the py-spy stack, `py-spy top --pid PID`, perf): "
            "make it cheaper, move it to a process (ProcessPoolExecutor) if it holds the GIL "
            "in a long C call, or cut it into smaller pieces."
        ),
        input=str(row["input"]),
        pid=pid,
        tid=tid,
        start=cpu["first_at"],
        lines=(cpu["max_line"],),
        culprit=Culprit(pid=pid, tid=tid, name=name, role="thread burning CPU"),
        resource=Resource("cpu", f"cpu of tid {tid}", f"a CPU, used by thread {tid}"),
    )


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    if not has_evidence(inputs, ("top_threads", "pidstat_threads", "pyspy_threads")):
        return []
    from analyzer.derive.evidence_joins import pyspy_threads, thread_cpu

    line = timeline(inputs)
    rows = thread_cpu(inputs.tables, line.alignments)
    spy = pyspy_threads(inputs.tables, line.alignments)
    if rows.empty and spy.empty:
        return []
    stats = thread_stats(rows) if not rows.empty else pd.DataFrame()
    findings: list[Finding] = []
    named: set[int] = set()
    # the GIL holders strace found: their %CPU and stacks, whatever the %CPU
    for earlier in inputs.earlier:
        if earlier.kind != "gil_contention" or earlier.tid is None or earlier.severity == "info":
            continue
        if not line.on_trace(earlier.input):
            continue
        tid = int(earlier.tid)
        mine = stats[stats["tid"] == tid] if not stats.empty else stats
        if not mine.empty and earlier.pid is not None:
            mine = mine[mine["pid"].isna() | (mine["pid"] == earlier.pid)]
        cpu = _cpu_evidence(mine.iloc[0]) if not mine.empty else None
        spy_rows = _pyspy_for(spy, tid, earlier.pid)
        spy_evidence = _pyspy_evidence(spy_rows, spy) if not spy_rows.empty else None
        if cpu is None and spy_evidence is None:
            continue
        findings.append(_confirmed_gil(earlier, cpu, spy_evidence, line))
        named.add(tid)
    # other threads at high %CPU
    if stats.empty:
        return findings
    for _, row in stats[stats["mean"] >= HOT_PCT].head(MAX_THREADS).iterrows():
        tid = int(row["tid"])
        if tid in named:
            continue
        named.add(tid)
        cpu = _cpu_evidence(row)
        spy_rows = _pyspy_for(spy, tid, row["pid"])
        spy_evidence = _pyspy_evidence(spy_rows, spy) if not spy_rows.empty else None
        findings.append(_hot(row, cpu, spy_evidence))
    return findings


PASS = Pass(CODE, KIND, run, __doc__ or "", after=("gil_contention",))
