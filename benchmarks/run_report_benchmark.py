"""Time the default run (terminal summary + HTML + Markdown) on a small trace.

Usage::

    python benchmarks/run_report_benchmark.py [--lines 100] [--repeat 7] [--other CHECKOUT]
                                              [--trace PATH] [--json]

The default run of ``iodiag-analyze TRACE`` prints the summary and writes
``TRACE.iodiag.html`` and ``TRACE.iodiag.md``: the first thing a new user runs, on a small
trace, where start-up and the reports are all of the time. The trace is the first `--lines`
lines of ``fixtures/strace/logs/pool8.f_tt_T.log`` (a thread pool waiting on a slow server).

Each run is ``python -m analyzer TRACE`` as a child process in a temporary directory, with the
checkout first on ``PYTHONPATH`` (bytecode written first, as an install has it). It prints per
checkout the best and median wall time and the median CPU time (user + sys of the child, from
``os.wait4``): on a shared machine the wall time drifts with the others' load, the CPU time
much less. With ``--other CHECKOUT`` the two checkouts alternate, run by run, so drift hits
both alike (e.g. ``git worktree add /tmp/old main``). The target is 1 s of wall time.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"
TARGET_S = 1.0


def run_command(checkout: Path, args: list[str], workdir: Path) -> tuple[float, float]:
    """``python -m analyzer ARGS`` once with `checkout` first on ``PYTHONPATH``; (wall
    seconds, CPU seconds of the child)."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "100"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        child = subprocess.Popen(
            [sys.executable, "-m", "analyzer", *args],
            cwd=workdir,
            env=env,
            stdout=devnull,
            stderr=subprocess.PIPE,
        )
        _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    stderr = child.stderr.read().decode() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed ({status}): {stderr}")
    return wall, usage.ru_utime + usage.ru_stime


def run_once(checkout: Path, trace: Path, workdir: Path) -> tuple[float, float]:
    """One default run; (wall seconds, CPU seconds of the child)."""
    wall, cpu = run_command(checkout, [str(trace)], workdir)
    for suffix in (".iodiag.html", ".iodiag.md"):
        if not (workdir / f"{trace.stem}{suffix}").is_file():
            raise SystemExit(f"the run wrote no {suffix} report")
    return wall, cpu


def summary(walls: list[float], cpus: list[float]) -> dict[str, Any]:
    return {
        "runs": len(walls),
        "best_wall_s": round(min(walls), 3),
        "median_wall_s": round(statistics.median(walls), 3),
        "median_cpu_s": round(statistics.median(cpus), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--trace", type=Path, help="use this trace instead of the fixture's head")
    parser.add_argument("--other", type=Path, help="another checkout to alternate with")
    parser.add_argument("--json", action="store_true", help="results as JSON")
    args = parser.parse_args()
    checkouts = {"this": REPO}
    if args.other is not None:
        checkouts["other"] = args.other.resolve()
    for checkout in checkouts.values():
        compileall.compile_dir(checkout / "analyzer", quiet=1)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="iodiag-report-bench-") as tmp:
        folder = Path(tmp)
        if args.trace is not None:
            trace = args.trace.resolve()
        else:
            trace = folder / f"head{args.lines}.log"
            with FIXTURE.open(encoding="utf-8") as source:
                trace.write_text("".join(next(source) for _ in range(args.lines)))
        measured: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in checkouts}
        for name, checkout in checkouts.items():  # warm-up: the Jinja2 cache, the page cache
            workdir = folder / name
            workdir.mkdir()
            run_once(checkout, trace, workdir)
        for _ in range(args.repeat):
            for name, checkout in checkouts.items():
                wall, cpu = run_once(checkout, trace, folder / name)
                measured[name][0].append(wall)
                measured[name][1].append(cpu)
        for name, (walls, cpus) in measured.items():
            results[name] = {"checkout": str(checkouts[name]), **summary(walls, cpus)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, row in results.items():
        verdict = "within" if row["best_wall_s"] < TARGET_S else "OVER"
        print(
            f"{name:5} {row['checkout']}: best {row['best_wall_s']:.3f} s, median "
            f"{row['median_wall_s']:.3f} s wall, median {row['median_cpu_s']:.3f} s CPU "
            f"({row['runs']} runs; {verdict} the {TARGET_S:.0f} s target)"
        )


if __name__ == "__main__":
    main()
