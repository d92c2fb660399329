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
import pyarrow.compute as pc

from analyzer import __version__
from analyzer.arrays import row_slices, take_rows
from analyzer.clean import clean, clean_text
from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer

__all__ = ["FINDINGS_PID", "MAX_FLOWS", "PerfettoRenderer", "trace_events"]

FINDINGS_PID = 999_999_999
"""The pid of the findings' process: above any Linux pid (pid_max is at most 2^22)."""
MAX_FLOWS = 20_000
"""Lock hand-off arrows drawn at most (the first ones in time)."""
_FUTEX_HEAD = re.compile(
    r"^[ \t\n\r\f\v]*(?P<address>0x[0-9a-fA-F]+|NULL|[0-9]+),[ \t\n\r\f\v]*(?P<op>FUTEX_[A-Z_]+)"
)
"""A futex call's address and operation (run by Arrow's RE2 over a slice's arguments)."""


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


_CALL_COLUMNS = (
    "input", "tid", "pid", "syscall", "start_s", "end_s", "args", "ret", "errno", "target",
    "status", "line_start",
)  # fmt: skip
"""The `syscalls` columns the export reads (a missing one reads as nulls)."""
_KINDS = (  # the types of _CALL_COLUMNS, for the nulls of a missing one
    pa.string(), pa.int64(), pa.int64(), pa.string(), pa.float64(), pa.float64(), pa.string(),
    pa.string(), pa.string(), pa.string(), pa.string(), pa.int64(),
)  # fmt: skip
_ROWS = 1 << 16
"""Calls turned into events at a time: the export holds one batch's Python values, never the
trace's (1M calls as 12 lists of Python values and their event dicts peaked at 2.4 GiB)."""


def _calls(calls: pa.Table) -> pa.Table:
    """The export's columns of `calls`, nulls for those it lacks."""
    columns = {
        name: calls[name] if name in calls.column_names else pa.nulls(calls.num_rows, kind)
        for name, kind in zip(_CALL_COLUMNS, _KINDS, strict=True)
    }
    return pa.table(columns)


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


def _threads(calls: pa.Table) -> dict[int, int]:
    """The pid of each thread of the calls (the thread itself when unknown), by its first call."""
    pid_of: dict[int, int] = {}
    for _offset, part in row_slices(calls, ("tid", "pid"), _ROWS):
        part = part.filter(pc.is_valid(part["tid"]))
        tids = part["tid"].to_numpy()
        pids = pc.coalesce(part["pid"], part["tid"]).to_numpy()
        seen, first = np.unique(tids, return_index=True)
        for tid, pid in zip(seen.tolist(), pids[first].tolist(), strict=True):
            pid_of.setdefault(tid, pid)
    return pid_of


def _syscall_events(calls: pa.Table, end_of_trace: float | None) -> Iterator[dict[str, Any]]:
    """One slice per call with a start and a thread, in (thread, start, row) order
    (`thread_ordered_rows`: a bucket of threads at a time), a batch of calls at a time."""
    if calls.num_rows == 0:
        return
    from analyzer.derive.strace_order import thread_ordered_rows
    from analyzer.derive.strace_timeline import STATES, call_states

    thread_end: dict[int, float] = {}
    for rows in thread_ordered_rows(calls, _ROWS):
        batch = take_rows(calls, rows)
        states = call_states(
            pa.table(
                {
                    "syscall": batch["syscall"],
                    "target_kind": pa.nulls(batch.num_rows, pa.string()),
                    "args": batch["args"],
                }
            )
        )
        values = zip(*(batch[name].to_pylist() for name in _CALL_COLUMNS), strict=True)
        for state, row in zip(states.tolist(), values, strict=True):
            source, tid, pid, name, start, end, args, ret, errno, target, status, line = row
            start = float(start)
            if end is None:
                end = end_of_trace if status == "in-flight" and end_of_trace else start
            end = max(float(end), start)
            previous = thread_end.get(tid, -np.inf)
            if start < previous:
                start = min(previous, end)
            thread_end[tid] = max(previous, end)
            detail = {
                "args": clean_text(args) if args is not None else None,
                "ret": ret,
                "errno": errno,
                "target": clean_text(target) if target is not None else None,
                "line": line,
                "status": status,
                "input": source,
            }
            yield {
                "name": clean_text(str(name)),
                "cat": f"syscall,{STATES[state]}",
                "ph": "X",
                "ts": _us(start),
                "dur": round(_us(end) - _us(start), 3),
                "pid": int(pid) if pid is not None else tid,
                "tid": tid,
                "args": {key: value for key, value in detail.items() if value is not None},
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


def _futex_calls(
    calls: pa.Table, addresses: set[str]
) -> Iterator[tuple[tuple[int, str], str, float, float | None, str | None, int]]:
    """The futex calls on `addresses` in row order: (pid, address), the operation, start, end,
    errno and thread; only those calls' values are read into Python."""
    wanted = pa.array(sorted(addresses), pa.string())
    columns = ("tid", "pid", "syscall", "start_s", "end_s", "args", "errno")
    for _offset, part in row_slices(calls, columns, _ROWS):
        futex = pc.and_(
            pc.equal(part["syscall"], "futex"),
            pc.and_(pc.is_valid(part["start_s"]), pc.is_valid(part["args"])),
        )
        part = part.filter(pc.fill_null(futex, False))
        if part.num_rows == 0:
            continue
        head = pc.extract_regex(part["args"], _FUTEX_HEAD.pattern)
        named = pc.fill_null(pc.is_in(pc.struct_field(head, "address"), value_set=wanted), False)
        part, head = part.filter(named), head.filter(named)
        values = zip(
            part["tid"].to_pylist(),
            part["pid"].to_pylist(),
            pc.struct_field(head, "address").to_pylist(),
            pc.struct_field(head, "op").to_pylist(),
            part["start_s"].to_pylist(),
            part["end_s"].to_pylist(),
            part["errno"].to_pylist(),
            strict=True,
        )
        for tid, pid, where, operation, start, end, errno in values:
            yield (int(pid if pid is not None else tid), where), operation, start, end, errno, tid


def flows(calls: pa.Table, addresses: set[str], pid_of: Mapping[int, int]) -> list[dict[str, Any]]:
    """Lock hand-offs on `addresses`: for each futex wait that returned 0, the last
    FUTEX_WAKE on the same address by another thread of the same process that started before
    the wait ended (and after it began), as a flow from the wake to the wait."""
    Call = tuple[float, float, int]  # start, end, tid
    waits: dict[tuple[int, str], list[Call]] = {}
    wakes: dict[tuple[int, str], list[Call]] = {}
    if addresses:
        for key, op, start, end, errno, tid in _futex_calls(calls, addresses):
            if end is None:
                continue
            if op.startswith("FUTEX_WAIT") and errno is None:
                waits.setdefault(key, []).append((start, end, tid))
            elif op.startswith(("FUTEX_WAKE", "FUTEX_UNLOCK")):
                wakes.setdefault(key, []).append((start, end, tid))
    events: list[dict[str, Any]] = []
    ident = 0
    for key, wait_calls in waits.items():
        wake_calls = sorted(wakes.get(key, []), key=lambda call: call[0])
        if not wake_calls:
            continue
        wake_starts = np.array([call[0] for call in wake_calls], dtype=float)
        for begin, end, tid in wait_calls:
            at = int(np.searchsorted(wake_starts, end, side="right")) - 1
            while at >= 0 and wake_calls[at][2] == tid:
                at -= 1
            if at < 0 or wake_starts[at] < begin:
                continue
            wake_start, wake_end, waker = wake_calls[at]
            ident += 1
            wake_mid = (float(wake_start) + float(wake_end)) / 2
            wait_mid = (float(begin) + float(end)) / 2
            common = {"name": "lock hand-off", "cat": "lock", "id": ident}
            events.append(
                {
                    **common,
                    "ph": "s",
                    "ts": _us(wake_mid),
                    "pid": pid_of.get(int(waker), int(waker)),
                    "tid": int(waker),
                }
            )
            events.append(
                {
                    **common,
                    "ph": "f",
                    "bp": "e",
                    "ts": _us(wait_mid),
                    "pid": pid_of.get(int(tid), int(tid)),
                    "tid": int(tid),
                }
            )
            if ident >= MAX_FLOWS:
                return events
    return events


def _events(result: AnalysisResult) -> Iterator[dict[str, Any]]:
    """The trace's events in the document's order: names, calls, findings, hand-offs."""
    found = result.tables.get("syscalls")
    calls = _calls(found if found is not None else pa.table({}))
    report = result.report
    inputs = [row for row in _list(report.get("inputs")) if isinstance(row, dict)]
    ends = [float(r["last_ts"]) for r in inputs if isinstance(r.get("last_ts"), (int, float))]
    end_of_trace = max(ends) if ends else None
    named = _thread_names(result)
    pid_of = _threads(calls)
    for tid, (pid, _comm) in named.items():
        pid_of.setdefault(tid, pid if pid is not None else tid)
    for pid in sorted(set(pid_of.values())):
        comm = named.get(pid, (None, None))[1]
        name = f"pid {pid}" + (f" {clean_text(comm)}" if comm else "")
        yield _meta("process_name", pid, 0, {"name": name})
        yield _meta("process_sort_index", pid, 0, {"sort_index": pid})
    for tid in sorted(pid_of):
        comm = named.get(tid, (None, None))[1]
        name = f"tid {tid}" + (f" {clean_text(comm)}" if comm else "")
        yield _meta("thread_name", pid_of[tid], tid, {"name": name})
        yield _meta("thread_sort_index", pid_of[tid], tid, {"sort_index": tid})
    yield from _syscall_events(calls, end_of_trace)
    yield from _finding_events(report, pid_of)
    yield from flows(calls, _futex_addresses(report), pid_of)


def _other_data(result: AnalysisResult) -> dict[str, Any]:
    inputs = [row for row in _list(result.report.get("inputs")) if isinstance(row, dict)]
    return {
        "generator": f"iodiag {__version__}",
        "inputs": [str(row.get("path")) for row in inputs],
        "clock": "seconds of each input's own clock (report start values) x 1e6",
    }


def trace_events(result: AnalysisResult) -> dict[str, Any]:
    """The Chrome trace event document of `result` (see the module docstring), whole: for
    tests and small traces; the renderer writes the same document an event at a time."""
    return {
        "traceEvents": list(_events(result)),
        "displayTimeUnit": "ms",
        "otherData": _other_data(result),
    }


def _dumps(value: Any) -> str:
    return json.dumps(clean(value), separators=(",", ":"), allow_nan=False)


class PerfettoRenderer(Renderer):
    """The strace calls and the findings as a Chrome JSON trace for ui.perfetto.dev."""

    name: ClassVar[str] = "perfetto"
    extensions: ClassVar[tuple[str, ...]] = ()

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        out.write('{"traceEvents":[')
        for index, event in enumerate(_events(result)):
            out.write(("," if index else "") + _dumps(event))
        out.write('],"displayTimeUnit":"ms","otherData":' + _dumps(_other_data(result)) + "}\n")
