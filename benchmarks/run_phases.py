"""Wall and CPU time of each phase of one ``iodiag-analyze`` run, in its own process.

Usage::

    python benchmarks/run_phases.py TRACE [CLI ARGS ...] [--repeat N]

    python benchmarks/run_phases.py t1m.strace --format json -o /tmp/out.json --repeat 3

Each run is a child process running this checkout's command (``analyzer.cli.main``) with the
pipeline's stage functions wrapped by timers; nothing is imported ahead of the command, so the
imports are where a user's run has them. Phases, in order:

- ``start``: from the process's start (``/proc/self/stat``) to the command's first stage;
  the interpreter, the command line and the imports the parse waits for;
- ``parse``: `pipeline.parse_inputs` (for strace, the derivation runs beside it, window by
  window, and the later stages' imports on a thread of their own);
- ``derive``: `pipeline.derive` (what is left of it after the parse);
- ``passes+sections``: the rest of `pipeline.analyze`, the passes beside the report's sections;
- ``render+write``: the command's outputs, until the command returns;
- ``exit``: from there to the process's end, measured by the parent.

CPU is the process's user+system time in the phase (all threads), so CPU/wall is the cores the
phase kept busy. The load average is printed with each run: on a shared machine the wall times
move with it, the CPU times much less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, os, resource, sys, time

def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

with open("/proc/self/stat") as stat:
    started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
with open("/proc/uptime") as uptime:
    since_start = float(uptime.read().split()[0]) - started_ticks / os.sysconf("SC_CLK_TCK")
origin = time.perf_counter() - since_start
marks = []

def mark(name):
    marks.append((name, time.perf_counter() - origin, _cpu()))

import analyzer.pipeline as pipeline

def timed(function, before, after):
    def wrapper(*args, **kwargs):
        if before:
            mark(before)
        result = function(*args, **kwargs)
        mark(after)
        return result
    return wrapper

pipeline.parse_inputs = timed(pipeline.parse_inputs, "start", "parse")
pipeline.derive = timed(pipeline.derive, None, "derive")
pipeline.analyze = timed(pipeline.analyze, None, "passes+sections")
from analyzer.cli import main

sys.argv = ["iodiag-analyze", *sys.argv[2:]]
status = 0
try:
    main(fast_exit=False)
except SystemExit as end:
    status = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
mark("render+write")
with open(os.environ["IODIAG_PHASES_OUT"], "w") as out:
    json.dump({"marks": marks, "status": status}, out)
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
"""


def run_once(args: list[str], out: Path) -> dict[str, object]:
    """One child run: its phases (name, wall s, CPU s), exit time, peak RSS and status."""
    env = {**os.environ, "IODIAG_PHASES_OUT": str(out), "PYTHONPATH": str(REPO)}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, "phases", *args],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    result = json.loads(out.read_text())
    phases = []
    previous_wall = previous_cpu = 0.0
    for name, at_wall, at_cpu in result["marks"]:
        phases.append((name, at_wall - previous_wall, at_cpu - previous_cpu))
        previous_wall, previous_cpu = at_wall, at_cpu
    cpu = usage.ru_utime + usage.ru_stime
    phases.append(("exit", max(0.0, wall - previous_wall), max(0.0, cpu - previous_cpu)))
    return {
        "phases": phases,
        "wall": wall,
        "cpu": cpu,
        "peak_mib": usage.ru_maxrss / 1024,
        "status": os.waitstatus_to_exitcode(status),
        "load": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="results as JSON")
    known, command = parser.parse_known_args()
    if not command:
        parser.error("give the command's arguments: TRACE [options]")
    out = Path(f"/tmp/iodiag-phases-{os.getpid()}.json")
    runs = []
    try:
        for _ in range(known.repeat):
            runs.append(run_once(command, out))
    finally:
        out.unlink(missing_ok=True)
    if known.json:
        print(json.dumps(runs, indent=2))
        return
    for number, run in enumerate(runs, 1):
        print(
            f"run {number}: {run['wall']:.2f} s wall, {run['cpu']:.2f} CPU-s, "
            f"{run['peak_mib']:.0f} MiB, status {run['status']}, load {run['load']:.2f}"
        )
        for name, wall, cpu in run["phases"]:
            cores = cpu / wall if wall > 0 else 0.0
            print(f"  {name:16s} {wall:7.3f} s wall {cpu:7.3f} CPU-s  ({cores:.2f} cores)")


if __name__ == "__main__":
    main()
