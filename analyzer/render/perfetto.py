"""Perfetto trace (``--format perfetto``): the strace calls and the findings for ui.perfetto.dev.

The output is one JSON document in the Chrome trace event format (the JSON that
https://ui.perfetto.dev and ``chrome://tracing`` open; see docs/perfetto.md): an object with
``traceEvents``, ``displayTimeUnit`` and ``otherData``. Times (``ts``, ``dur``) are
microseconds on the trace's own clock (``start`` values of the report × 10⁶), so a time read in
the viewer is the time in the log.

- **Processes and threads** are named by ``M`` (metadata) events: ``process_name``
  (``pid N comm``) and ``thread_name`` (``tid N comm``), with sort indexes in pid and tid order.
- **Syscalls** are ``X`` (complete) slices on their thread, named by the call, category
  ``syscall`` and the thread state of the timeline (``file``, ``net``, ``lock`` ...), with
  ``args``: the raw arguments, the return value, errno, the target (file, socket, pipe), the
  line number and the status. A call still in flight at the end lasts to the end of the trace; a
  call that never returned (``exit``) or has no duration (no ``-T``) is a slice of length 0.
  Slices on one thread never overlap (the viewer needs them nested): a slice that would start
  inside the previous one starts where that one ends.
- **Findings** are slices on their own tracks: one thread per finding in a process named
  ``iodiag findings`` (pid `FINDINGS_PID`), one slice per episode (a blocked loop's episodes,
  else the finding's start and duration), named ``CODE title``, with the message, the fix, the
  cost and the evidence's plain values in ``args``. Each also puts an instant marker (``i``) on
  the threads it is about, at the start of each episode.
- **Lock hand-offs** are flows (``s`` → ``f``) from a ``FUTEX_WAKE`` to the wait it ended,
  on the futexes the findings name (`flows`, at most `MAX_FLOWS`): the viewer draws an arrow
  from the waker's slice to the woken thread's slice.

Strings pass through `clean_text`; the JSON is compact with ASCII escapes, so two runs give
the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any, ClassVar

import numpy as np
import pyarrow as pa

from analyzer import __version__
from analyzer.clean import clean, clean_text
from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer

__all__ = ["FINDINGS_PID", "MAX_FLOWS", "PerfettoRenderer", "trace_events"]

FINDINGS_PID = 999_999_999
"""The pid of the findings' process: above any Linux pid (pid_max is at most 2^22)."""
MAX_FLOWS = 20_000
"""Lock hand-off arrows drawn at most (the first ones in time)."""
_FUTEX_HEAD = re.compile(r"^\s*(0x[0-9a-fA-F]+|NULL|\d+),\s*(FUTEX_[A-Z_]+)")


def _us(seconds: float) -> float:
    """Seconds to microseconds with nanosecond precision."""
    return round(seconds * 1e6, 3)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _plain(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _evidence_args(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The plain values of an evidence object and lists of them (no nested objects)."""
    out: dict[str, Any] = {}
    for key, value in evidence.items():
        if _plain(value):
            out[key] = value
        elif isinstance(value, list) and all(_plain(item) for item in value):
            out[key] = value[:50]
    return out


class _Columns:
    """The `syscalls` columns the export reads, as Python lists."""

    def __init__(self, calls: pa.Table) -> None:
        def get(name: str) -> list[Any]:
            if name in calls.column_names:
                return calls[name].to_pylist()
            return [None] * calls.num_rows

        self.n = calls.num_rows
        self.input = get("input")
        self.tid = get("tid")
        self.pid = get("pid")
        self.syscall = get("syscall")
        self.start = get("start_s")
        self.end = get("end_s")
        self.args = get("args")
        self.ret = get("ret")
        self.errno = get("errno")
        self.target = get("target")
        self.status = get("status")
        self.line = get("line_start")


def _thread_names(result: AnalysisResult) -> dict[int, tuple[int | None, str | None]]:
    tasks = result.tables.get("tasks")
    names: dict[int, tuple[int | None, str | None]] = {}
    if tasks is None or "tid" not in tasks.column_names:
        return names
    pids = tasks["pid"].to_pylist() if "pid" in tasks.column_names else [None] * tasks.num_rows
    comms = tasks["comm"].to_pylist() if "comm" in tasks.column_names else [None] * tasks.num_rows
    for tid, pid, comm in zip(tasks["tid"].to_pylist(), pids, comms, strict=True):
        if tid is not None:
            names[int(tid)] = (None if pid is None else int(pid), comm)
    return names


def _syscall_events(cols: _Columns, end_of_trace: float | None) -> Iterator[dict[str, Any]]:
    from analyzer.derive.strace_timeline import STATES

    states: list[str] = ["syscall"] * cols.n
    if cols.n:
        from analyzer.derive.strace_timeline import call_states

        table = pa.table(
            {
                "syscall": pa.array(cols.syscall, pa.string()),
                "target_kind": pa.nulls(cols.n, pa.string()),
                "args": pa.array(cols.args, pa.string()),
            }
        )
        states = [STATES[s] for s in call_states(table)]
    order = sorted(
        (i for i in range(cols.n) if cols.start[i] is not None and cols.tid[i] is not None),
        key=lambda i: (cols.tid[i], cols.start[i], i),
    )
    thread_end: dict[int, float] = {}
    for i in order:
        start = float(cols.start[i])
        end = cols.end[i]
        if end is None:
            end = end_of_trace if cols.status[i] == "in-flight" and end_of_trace else start
        end = max(float(end), start)
        tid = int(cols.tid[i])
        previous = thread_end.get(tid, -np.inf)
        if start < previous:
            start = min(previous, end)
        thread_end[tid] = max(previous, end)
        args = {
            "args": clean_text(cols.args[i]) if cols.args[i] is not None else None,
            "ret": cols.ret[i],
            "errno": cols.errno[i],
            "target": clean_text(cols.target[i]) if cols.target[i] is not None else None,
            "line": cols.line[i],
            "status": cols.status[i],
            "input": cols.input[i],
        }
        yield {
            "name": clean_text(str(cols.syscall[i])),
            "cat": f"syscall,{states[i]}",
            "ph": "X",
            "ts": _us(start),
            "dur": round(_us(end) - _us(start), 3),
            "pid": int(cols.pid[i]) if cols.pid[i] is not None else tid,
            "tid": tid,
            "args": {key: value for key, value in args.items() if value is not None},
        }


def _finding_spans(finding: Mapping[str, Any]) -> list[tuple[float, float]]:
    evidence = _dict(finding.get("evidence"))
    spans: list[tuple[float, float]] = []
    episodes = evidence.get("episodes")
    if isinstance(episodes, list):
        for episode in episodes:
            if not isinstance(episode, dict):
                continue
            start = episode.get("start", episode.get("strace_start"))
            length = episode.get("duration_s")
            if isinstance(start, (int, float)) and isinstance(length, (int, float)):
                spans.append((float(start), max(float(length), 0.0)))
    start = finding.get("start")
    if not spans and isinstance(start, (int, float)):
        length = finding.get("duration_s")
        spans.append((float(start), float(length) if isinstance(length, (int, float)) else 0.0))
    return spans


def _finding_tids(finding: Mapping[str, Any]) -> list[int]:
    evidence = _dict(finding.get("evidence"))
    for value in (
        finding.get("tid"),
        evidence.get("loop_tid"),
        evidence.get("threads_at_peak"),
        evidence.get("threads"),
    ):
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if isinstance(value, list):
            found = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
            if found:
                return found
    return []


def _finding_events(
    report: Mapping[str, Any], pid_of: Mapping[int, int]
) -> Iterator[dict[str, Any]]:
    findings = _list(report.get("findings"))
    if not findings:
        return
    yield _meta("process_name", FINDINGS_PID, 0, {"name": "iodiag findings"})
    yield _meta("process_sort_index", FINDINGS_PID, 0, {"sort_index": -1})
    for index, finding in enumerate(findings):
        if not isinstance(finding, dict):
            continue
        code = clean_text(str(finding.get("code") or ""))
        title = clean_text(str(finding.get("title") or ""))
        severity = str(finding.get("severity") or "info")
        track = index + 1
        yield _meta("thread_name", FINDINGS_PID, track, {"name": f"{code} {severity}: {title}"})
        yield _meta("thread_sort_index", FINDINGS_PID, track, {"sort_index": track})
        evidence = _dict(finding.get("evidence"))
        args = {
            "finding": index,
            "code": code,
            "severity": severity,
            "message": clean_text(str(finding.get("message") or "")),
            "fix": clean_text(str(finding.get("fix") or "")),
            "cost_s": finding.get("cost_s"),
            "lines": finding.get("lines"),
            "evidence": _evidence_args(evidence),
        }
        tids = _finding_tids(finding)
        for start, length in _finding_spans(finding):
            yield {
                "name": f"{code} {title}",
                "cat": f"finding,{severity}",
                "ph": "X",
                "ts": _us(start),
                "dur": _us(length),
                "pid": FINDINGS_PID,
                "tid": track,
                "args": args,
            }
            for tid in tids[:64]:
                yield {
                    "name": f"{code} {title}",
                    "cat": f"finding,{severity}",
                    "ph": "i",
                    "s": "t",
                    "ts": _us(start),
                    "pid": pid_of.get(tid, tid),
                    "tid": tid,
                    "args": {"finding": index, "duration_s": length},
                }


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": args}


def _futex_addresses(report: Mapping[str, Any]) -> set[str]:
    """The futex addresses the findings name (``0x...``)."""
    found: set[str] = set()
    for finding in _list(report.get("findings")):
        evidence = _dict(finding.get("evidence")) if isinstance(finding, dict) else {}
        for key in ("futex", "futex_words"):
            value = evidence.get(key)
            values = value if isinstance(value, list) else [value]
            for item in values:
                if isinstance(item, str):
                    found.update(re.findall(r"0x[0-9a-fA-F]+", item))
    return found


def flows(cols: _Columns, addresses: set[str], pid_of: Mapping[int, int]) -> list[dict[str, Any]]:
    """Lock hand-offs on `addresses`: for each futex wait that returned 0, the last
    FUTEX_WAKE on the same address by another thread of the same process that started before
    the wait ended (and after it began), as a flow from the wake to the wait."""
    waits: dict[tuple[int, str], list[int]] = {}
    wakes: dict[tuple[int, str], list[int]] = {}
    for i in range(cols.n):
        if cols.syscall[i] != "futex" or cols.start[i] is None or cols.args[i] is None:
            continue
        head = _FUTEX_HEAD.match(str(cols.args[i]))
        if head is None or head.group(1) not in addresses:
            continue
        key = (int(cols.pid[i] if cols.pid[i] is not None else cols.tid[i]), head.group(1))
        op = head.group(2)
        if op.startswith("FUTEX_WAIT") and cols.end[i] is not None and cols.errno[i] is None:
            waits.setdefault(key, []).append(i)
        elif op.startswith(("FUTEX_WAKE", "FUTEX_UNLOCK")) and cols.end[i] is not None:
            wakes.setdefault(key, []).append(i)
    events: list[dict[str, Any]] = []
    ident = 0
    for key, wait_rows in waits.items():
        wake_rows = sorted(wakes.get(key, []), key=lambda i: cols.start[i])
        if not wake_rows:
            continue
        wake_starts = np.array([cols.start[i] for i in wake_rows], dtype=float)
        for w in wait_rows:
            end, begin = float(cols.end[w]), float(cols.start[w])
            at = int(np.searchsorted(wake_starts, end, side="right")) - 1
            while at >= 0 and cols.tid[wake_rows[at]] == cols.tid[w]:
                at -= 1
            if at < 0 or wake_starts[at] < begin:
                continue
            k = wake_rows[at]
            ident += 1
            wake_mid = (float(cols.start[k]) + float(cols.end[k])) / 2
            wait_mid = (begin + end) / 2
            common = {"name": "lock hand-off", "cat": "lock", "id": ident}
            events.append(
                {
                    **common,
                    "ph": "s",
                    "ts": _us(wake_mid),
                    "pid": pid_of.get(int(cols.tid[k]), int(cols.tid[k])),
                    "tid": int(cols.tid[k]),
                }
            )
            events.append(
                {
                    **common,
                    "ph": "f",
                    "bp": "e",
                    "ts": _us(wait_mid),
                    "pid": pid_of.get(int(cols.tid[w]), int(cols.tid[w])),
                    "tid": int(cols.tid[w]),
                }
            )
            if ident >= MAX_FLOWS:
                return events
    return events


def trace_events(result: AnalysisResult) -> dict[str, Any]:
    """The Chrome trace event document of `result` (see the module docstring)."""
    calls = result.tables.get("syscalls")
    cols = _Columns(calls if calls is not None else pa.table({}))
    report = result.report
    inputs = [row for row in _list(report.get("inputs")) if isinstance(row, dict)]
    ends = [float(r["last_ts"]) for r in inputs if isinstance(r.get("last_ts"), (int, float))]
    end_of_trace = max(ends) if ends else None
    named = _thread_names(result)
    pid_of: dict[int, int] = {}
    for i in range(cols.n):
        if cols.tid[i] is not None:
            tid = int(cols.tid[i])
            pid_of.setdefault(tid, int(cols.pid[i]) if cols.pid[i] is not None else tid)
    for tid, (pid, _comm) in named.items():
        pid_of.setdefault(tid, pid if pid is not None else tid)
    events: list[dict[str, Any]] = []
    for pid in sorted(set(pid_of.values())):
        comm = named.get(pid, (None, None))[1]
        name = f"pid {pid}" + (f" {clean_text(comm)}" if comm else "")
        events.append(_meta("process_name", pid, 0, {"name": name}))
        events.append(_meta("process_sort_index", pid, 0, {"sort_index": pid}))
    for tid in sorted(pid_of):
        comm = named.get(tid, (None, None))[1]
        name = f"tid {tid}" + (f" {clean_text(comm)}" if comm else "")
        events.append(_meta("thread_name", pid_of[tid], tid, {"name": name}))
        events.append(_meta("thread_sort_index", pid_of[tid], tid, {"sort_index": tid}))
    events.extend(_syscall_events(cols, end_of_trace))
    events.extend(_finding_events(report, pid_of))
    events.extend(flows(cols, _futex_addresses(report), pid_of))
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": f"iodiag {__version__}",
            "inputs": [str(row.get("path")) for row in inputs],
            "clock": "seconds of each input's own clock (report start values) x 1e6",
        },
    }


class PerfettoRenderer(Renderer):
    """The strace calls and the findings as a Chrome JSON trace for ui.perfetto.dev."""

    name: ClassVar[str] = "perfetto"
    extensions: ClassVar[tuple[str, ...]] = ()

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        document = clean(trace_events(result))
        out.write(json.dumps(document, separators=(",", ":"), allow_nan=False))
        out.write("\n")
