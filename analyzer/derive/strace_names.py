"""What a traced process is called, in the words a finding needs: ``log_shipper.py``.

The ``-Y`` comm of a Python service is ``python3``, and strace truncates ``execve`` argument
strings to 32 bytes by default (``-s``), so the script name is rarely whole in the trace.
`process_names` therefore tries, per process:

1. the script an interpreter was started with, when its ``execve`` argv shows it whole
   (``execve("/usr/bin/python3", ["python3", "worker.py"], ...)``; for ``python -m mod``
   the module);
2. for Python, the first ``.py`` file the process opened after its last ``execve`` outside
   the interpreter's own library (``lib/pythonX.Y/``, ``site-packages``): CPython's
   ``pymain_run_file`` opens the main script right after the start-up imports of the
   standard library (``Modules/main.c``), before the script imports anything itself;
3. the ``-Y`` comm;
4. the file name of the executed program.

A process forked without ``execve`` (a pre-fork worker) has its parent's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy, is_in, numbers
from analyzer.derive.strace import StraceTables

_EXECS = frozenset({"execve", "execveat"})
_OPENS = frozenset({"open", "openat", "openat2"})
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?')
_INTERPRETERS = re.compile(
    r"^(?:python|pypy|node|nodejs|ruby|perl|php|bash|sh|dash|zsh|lua)[\d.]*$"
)
_PYTHON_LIBRARY = re.compile(r"/lib(?:64)?/python[\d.]*/|-packages/|/__pycache__/")


def _argv_name(args: str) -> str | None:
    """The program's name from an execve argument text: the script of an interpreter when
    argv shows it whole, else the executable's file name; None when that is cut off."""
    strings = _STRING.findall(args)
    if not strings:
        return None
    path, path_cut = strings[0]
    program = path.rsplit("/", 1)[-1]
    argv = strings[1:]
    if _INTERPRETERS.match(program):
        for index, (arg, cut) in enumerate(argv[1:], start=1):
            if arg == "-m" and index + 1 < len(argv):
                module, module_cut = argv[index + 1]
                return None if module_cut else module
            if arg.startswith("-"):
                continue
            return None if cut else arg.rsplit("/", 1)[-1]
        return None
    return None if path_cut else program


def process_names(trace: StraceTables, pids: Iterable[int]) -> dict[int, str | None]:
    """The name of each process in `pids` (see the module docstring); None when the trace
    does not show it."""
    wanted = sorted({int(pid) for pid in pids})
    names: dict[int, str | None] = dict.fromkeys(wanted)
    if not wanted:
        return names
    calls, tasks = trace.syscalls, trace.tasks
    parents = dict(zip(tasks["tid"].to_pylist(), tasks["parent"].to_pylist(), strict=True))
    task_pid = dict(zip(tasks["tid"].to_pylist(), tasks["pid"].to_pylist(), strict=True))
    comms = dict(zip(tasks["tid"].to_pylist(), tasks["comm"].to_pylist(), strict=True))
    # The processes whose names are wanted, and their ancestors (a fork without exec).
    family: set[int] = set()
    for pid in wanted:
        current: int | None = pid
        for _ in range(64):
            if current is None or current in family:
                break
            family.add(current)
            parent = parents.get(current)
            current = task_pid.get(parent, parent) if parent is not None else None
    pid_column = numbers(calls["pid"])
    mine = np.isin(pid_column, np.array(sorted(family), dtype=np.float64))
    execs = np.flatnonzero(mine & is_in(calls["syscall"], _EXECS) & (numbers(calls["retval"]) == 0))
    last_exec: dict[int, tuple[float, str]] = {}
    for row in calls.select(["pid", "start_s", "args"]).take(pa.array(execs)).to_pylist():
        start = row["start_s"] if row["start_s"] is not None else float("-inf")
        last_exec[int(row["pid"])] = (start, row["args"] or "")
    scripts = _scripts(calls, mine, last_exec)
    own: dict[int, str | None] = {}
    for pid in family:
        name = None
        if pid in last_exec:
            name = _argv_name(last_exec[pid][1]) or scripts.get(pid)
            if name is None:
                name = comms.get(pid) or _program(last_exec[pid][1])
        elif scripts.get(pid):
            name = scripts[pid]
        own[pid] = name or None
    for pid in wanted:
        current = pid
        for _ in range(64):
            if current is None:
                break
            if own.get(current) or current in last_exec:
                names[pid] = own.get(current)
                break
            parent = parents.get(current)
            current = task_pid.get(parent, parent) if parent is not None else None
        if names[pid] is None:
            names[pid] = comms.get(pid)
    return names


def _program(args: str) -> str | None:
    strings = _STRING.findall(args)
    return strings[0][0].rsplit("/", 1)[-1] if strings else None


def _scripts(
    calls: pa.Table, mine: np.ndarray, last_exec: dict[int, tuple[float, str]]
) -> dict[int, str]:
    """The first ``.py`` file each process opened (after its last execve) outside the
    Python library."""
    opens = np.flatnonzero(mine & is_in(calls["syscall"], _OPENS))
    if len(opens) == 0:
        return {}
    args = calls["args"].take(pa.array(opens))
    python = filled_numpy(pc.match_substring(args, '.py"'), False)
    rows = opens[python]
    found: dict[int, str] = {}
    table = calls.select(["pid", "start_s", "args", "retval"]).take(pa.array(rows))
    for row in table.to_pylist():
        pid = int(row["pid"])
        if pid in found or (row["retval"] is not None and row["retval"] < 0):
            continue
        start = row["start_s"] if row["start_s"] is not None else float("inf")
        if pid in last_exec and start < last_exec[pid][0]:
            continue
        for path, cut in _STRING.findall(row["args"] or ""):
            if path.endswith(".py") and not cut and not _PYTHON_LIBRARY.search(path):
                found[pid] = path.rsplit("/", 1)[-1]
            break
    return found
