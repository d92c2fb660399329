"""`strace_tasks.process_runtime` for long traces: the same answer, read a slice at a time.

`process_runtime` tells what a process runs from its execve calls and, for a program that
is not an interpreter by name (a console script run through its shebang), from whether it
opened Python files. Over a whole long trace that filter copies the argument texts of every
open and stat of the process (100 MiB at 10M lines) before matching them; here the calls are
matched a slice at a time and the scan stops at the first Python file.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import is_in, numbers
from analyzer.derive import strace_slices
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_tasks import PYTHON_FILES, RUNTIMES

EXECS = frozenset({"execve", "execveat"})
OPENS = frozenset({"open", "openat", "openat2", "stat", "newfstatat", "statx"})
_EXEC_PATH = re.compile(r'\s*"((?:[^"\\]|\\.)*)"')


def _true(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def opens_python_files(calls: pa.Table, pid: int) -> bool:
    """Whether the process opened (or stat'ed) a Python file, module folder or libpython."""
    for _, part in strace_slices.slices(calls, ["pid", "syscall", "args"]):
        mine = np.flatnonzero(_true(pc.equal(part["pid"], pid)) & is_in(part["syscall"], OPENS))
        if (
            len(mine)
            and pc.any(
                pc.match_substring_regex(part["args"].take(pa.array(mine)), PYTHON_FILES)
            ).as_py()
        ):
            return True
    return False


def process_runtime(trace: StraceTables, pid: int) -> str | None:
    """`strace_tasks.process_runtime` (see there), with the trace read a slice at a time."""
    calls, tasks = trace.syscalls, trace.tasks
    rows = strace_slices.rows_where(
        calls,
        ["syscall", "retval"],
        lambda part: is_in(part["syscall"], EXECS) & (numbers(part["retval"]) == 0),
    )
    if len(rows) == 0:
        return None
    by_pid: dict[int, list[tuple[float, str]]] = {}
    for row in strace_slices.take(calls, ["pid", "start_s", "args"], rows).to_pylist():
        start = row["start_s"] if row["start_s"] is not None else float("-inf")
        by_pid.setdefault(row["pid"], []).append((start, row["args"] or ""))
    parents = dict(zip(tasks["tid"].to_pylist(), tasks["parent"].to_pylist(), strict=True))
    created = dict(zip(tasks["tid"].to_pylist(), tasks["created_s"].to_pylist(), strict=True))
    before = float("inf")
    for _ in range(64):  # up the parents, for forks without exec
        execs_then = [args for start, args in by_pid.get(pid, []) if start <= before]
        if execs_then:
            path = _EXEC_PATH.match(execs_then[-1])
            name = path.group(1).rsplit("/", 1)[-1] if path else ""
            for runtime, pattern in RUNTIMES:
                if re.match(pattern, name):
                    return runtime
            return "python" if opens_python_files(calls, pid) else "native"
        parent = parents.get(pid)
        if parent is None or parent == pid:
            return None
        when = created.get(pid)
        before = min(before, when) if when is not None else before
        pid = parent
    return None
