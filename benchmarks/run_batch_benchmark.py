"""Benchmark (not a timed test): N small runs in one ``iodiag-analyze batch`` against N
separate ``iodiag-analyze`` invocations (issue 16: 1,000 runs, target at least 5x faster).

    python benchmarks/run_batch_benchmark.py                  # 1,000 runs, every invocation
    python benchmarks/run_batch_benchmark.py --sample 100     # time 100 invocations, scale
    python benchmarks/run_batch_benchmark.py --runs 200 --json

The runs are copies of small real captures from fixtures/strace/logs (106 to 811 lines),
round-robin, each its own stem (``runNNNN.strace.log``), in a temporary folder. Both sides
write the same reports per run, HTML and Markdown (the default of the one-run command), and
the batch also JSON and its index:

- **separate**: ``python -m analyzer RUN --out-dir OUT`` once per run, one after the other
  (the shell loop that was the only correct batch before); stdout to /dev/null;
- **batch**: ``python -m analyzer batch FOLDER --out-dir OUT -q`` once (its default: one
  worker process per core).

Measured: wall time (spawn to exit) of both sides, and the CPU time (user + sys, from
``os.wait4``) of the separate invocations; the batch's CPU is not measured, as its workers
are children of the fork server, not of the process that wait4 sees. With ``--sample K`` only
K separate invocations are timed and their figures scaled to N (said in the output). The
machine may be shared with other work: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / "fixtures" / "strace" / "logs"
SMALL = (
    "small_sh.f_tt_T.log",
    "truncated_midline.tt_T.log",
    "signals.f_tt_T.log",
    "mt_pipes.f_tt_T.log",
)


def timed(command: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit code) of one command."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.stderr is not None:
        process.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=0, help="time only this many invocations")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "analyzer")], check=True)
    folder = Path(tempfile.mkdtemp(prefix="iodiag-batch-bench-"))
    try:
        traces = folder / "traces"
        traces.mkdir()
        for number in range(args.runs):
            source = LOGS / SMALL[number % len(SMALL)]
            shutil.copyfile(source, traces / f"run{number:04d}.strace.log")
        python = sys.executable
        batch_wall, _, batch_code = timed(
            [python, "-m", "analyzer", "batch", str(traces), "--out-dir", str(folder / "b"), "-q"]
        )
        count = args.sample or args.runs
        paths = sorted(traces.iterdir())[:count]
        wall = cpu = 0.0
        codes = set()
        for path in paths:
            one_wall, one_cpu, code = timed(
                [python, "-m", "analyzer", str(path), "--out-dir", str(folder / "s")]
            )
            wall += one_wall
            cpu += one_cpu
            codes.add(code)
        scale = args.runs / count
        result = {
            "runs": args.runs,
            "cores": len(os.sched_getaffinity(0)),
            "batch": {"wall_s": batch_wall, "exit_code": batch_code},
            "separate": {
                "timed": count,
                "wall_s": wall * scale,
                "cpu_s": cpu * scale,
                "per_run_wall_s": wall / count,
                "exit_codes": sorted(codes),
                "scaled": count != args.runs,
            },
            "load_average": os.getloadavg(),
        }
        result["wall_ratio"] = result["separate"]["wall_s"] / batch_wall
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            separate = result["separate"]
            note = f" (scaled from {count} timed)" if separate["scaled"] else ""
            print(f"{args.runs} small runs on {result['cores']} cores")
            print(f"  batch:    {batch_wall:8.1f} s wall (exit {batch_code})")
            print(
                f"  separate: {separate['wall_s']:8.1f} s wall, {separate['cpu_s']:8.1f} s CPU"
                f"{note}; {separate['per_run_wall_s']:.2f} s per invocation"
            )
            print(
                f"  batch is {result['wall_ratio']:.1f}x faster (wall); load average "
                + ", ".join(f"{value:.1f}" for value in result["load_average"])
            )
        return 0
    finally:
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
