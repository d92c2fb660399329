"""The report's `pyspy` section: what every Python thread was doing at each ``py-spy dump``.

Built from `pyspy_dumps`, `pyspy_threads` and `pyspy_frames` (`analyzer.formats.pyspy`): the
dumps (time, process, interpreter, the thread holding the GIL, failed dumps), each thread of
each dump with its state (idle, active, active+gil) and its innermost frames, and per thread
over all dumps: how often it was active and held the GIL, and where it was most often.
docs/sources/pyspy.md documents every key.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
import pyarrow as pa

from analyzer.model import Derived
from analyzer.sections.series import clock_of, finished, integer, none

STACK_FRAMES = 8
"""Innermost frames shown per thread."""
MAX_THREAD_ROWS = 200
"""Thread rows (threads x dumps) in ``threads`` at most: the last dumps are kept."""


def frame_text(function: object, file: object, line: object, native: object = False) -> str:
    """``function (file:line)`` as py-spy prints a frame (native frames without a line)."""
    where = str(file or "?")
    if isinstance(line, (int, float)) and not pd.isna(line):
        where += f":{int(line)}"
    return f"{function or '?'} ({where})"


def stacks(frames: pd.DataFrame) -> dict[tuple[str, int, int], list[str]]:
    """(input, dump, thread line) -> the thread's innermost frames as text."""
    found: dict[tuple[str, int, int], list[str]] = {}
    if frames.empty:
        return found
    head = frames[frames["depth"] < STACK_FRAMES].sort_values(
        ["input", "dump", "thread_line_no", "depth"]
    )
    for record in head.itertuples(index=False):
        key = (record.input, int(record.dump), int(record.thread_line_no))
        found.setdefault(key, []).append(
            frame_text(record.function, record.file, record.line, record.native)
        )
    return found


def state_of(state: object, holds_gil: object) -> str:
    text = str(state or "?")
    return f"{text}+gil" if holds_gil is True else text


def thread_id(row: Any) -> int | None:
    """The OS thread id (what top, ps and strace print), else the pthread id."""
    for value in (row.native_tid, row.pthread_id):
        if value is not None and not pd.isna(value):
            return int(value)
    return None


def pyspy_section(dumps: pa.Table, threads: pa.Table, frames: pa.Table) -> dict[str, Any]:
    """The report's `pyspy` section for the run's py-spy tables."""
    dump_frame = dumps.to_pandas()
    thread_frame = threads.to_pandas()
    frame_frame = frames.drop_columns(["locals"]).to_pandas()
    kind = "epoch" if dump_frame["ts"].notna().any() else None
    stack_of = stacks(frame_frame)
    rows = []
    per_dump: dict[tuple[str, int], dict[str, Any]] = {}
    for record in thread_frame.itertuples(index=False):
        key = (record.input, int(record.dump), int(record.line_no))
        stack = stack_of.get(key, [])
        row = {
            "input": record.input,
            "dump": int(record.dump),
            "time": none(record.ts),
            "line": int(record.line_no),
            "pid": integer(record.pid),
            "tid": thread_id(record),
            "native_tid": none(record.native_tid),
            "name": none(record.name),
            "state": state_of(record.state, record.holds_gil),
            "frames": int(record.frames),
            "top": frame_text(record.top_function, record.top_file, record.top_line)
            if record.top_function is not None
            else None,
            "stack": stack,
        }
        rows.append(row)
        summary = per_dump.setdefault(
            (record.input, int(record.dump)), {"active": 0, "idle": 0, "gil": None}
        )
        if record.state == "active":
            summary["active"] += 1
        elif record.state == "idle":
            summary["idle"] += 1
        if record.holds_gil is True:
            summary["gil"] = {
                "tid": row["tid"],
                "name": row["name"],
                "top": row["top"],
                "line": row["line"],
            }
    listed = []
    for record in dump_frame.itertuples(index=False):
        summary = per_dump.get((record.input, int(record.dump)), {})
        listed.append(
            {
                "input": record.input,
                "dump": int(record.dump),
                "time": none(record.ts),
                "time_text": none(record.time_text),
                "line": int(record.line_no),
                "pid": integer(record.pid),
                "python_version": none(record.python_version),
                "threads": int(record.threads),
                "active": summary.get("active", 0),
                "idle": summary.get("idle", 0),
                "gil_holder": summary.get("gil"),
                "error": none(record.error),
            }
        )
    by_thread = []
    grouped: dict[tuple[str, Any, Any, Any], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["input"], row["pid"], row["tid"], row["name"]), []).append(row)
    for (name, pid, tid, thread_name), seen in grouped.items():
        tops = Counter(row["top"] for row in seen if row["top"])
        by_thread.append(
            {
                "input": name,
                "pid": pid,
                "tid": tid,
                "name": thread_name,
                "dumps": len(seen),
                "active": sum(1 for row in seen if row["state"].startswith("active")),
                "gil": sum(1 for row in seen if row["state"].endswith("+gil")),
                "top": tops.most_common(1)[0][0] if tops else None,
                "lines": [row["line"] for row in seen[:5]],
            }
        )
    by_thread.sort(key=lambda row: (-row["gil"], -row["active"], str(row["name"])))
    notes = [
        "py-spy's state is the OS thread's: active (running or runnable) or idle (in a "
        "blocking call or waiting); +gil marks the thread that held the GIL."
    ]
    if kind is None and len(listed):
        notes.append(
            "The dumps have no date line before them: their order is known, not their time "
            "(for i in 1 2 3; do date -Ins; py-spy dump --pid PID; sleep 1; done)."
        )
    return finished(
        {
            "clock": clock_of(kind),
            "dumps": listed[-100:],
            "threads": rows[-MAX_THREAD_ROWS:],
            "by_thread": by_thread,
            "failed_dumps": sum(1 for row in listed if row["error"]),
            "notes": notes,
        }
    )


def section(derived: Derived) -> dict[str, Any]:
    """The report's `pyspy` key."""
    tables = derived.tables
    return {
        "pyspy": pyspy_section(
            tables["pyspy_dumps"], tables["pyspy_threads"], tables["pyspy_frames"]
        )
    }
