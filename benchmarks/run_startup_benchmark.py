"""Time `iodiag-analyze` on tiny inputs, where start-up is all of the run (issue 15 item 4).

Usage::

    python benchmarks/run_startup_benchmark.py [--repeat 5] [--other CHECKOUT] [--json]

The cases: ``--version``; the first 100 lines of a strace trace (``--strace``, by default a
fixture) to ``--format json`` and in the default run (summary, HTML and Markdown into a
folder); a 101-line asyncio debug log and a 73-line perf script dump to ``--format json``.

Each run is ``python -m analyzer ...`` as a child process in a temporary directory, with the
checkout first on ``PYTHONPATH`` (bytecode written first, as an install has it). It prints
per case and checkout the best wall time and the median CPU time (user + sys of the child,
from ``os.wait4``); with ``--other CHECKOUT`` the two checkouts alternate run by run, so the
others' load hits both alike. Wall times mean something only at low load: the load average
is printed beside them.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from run_report_benchmark import run_command, summary  # noqa: E402

STRACE = REPO / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"
ASYNCIO = REPO / "fixtures" / "asyncio" / "research" / "out" / "long_ts.txt"
PERF = REPO / "fixtures" / "perf" / "flamegraph-test" / "perf-dd-stacks-01.txt"
TARGETS_S = {"version": 0.3, "strace100-json": 0.6}


def cases(folder: Path, strace_source: Path) -> dict[str, list[str]]:
    """Each case's arguments; the strace case reads the first 100 lines of `strace_source`,
    copied into `folder`."""
    strace = folder / "strace100.log"
    with strace_source.open(encoding="utf-8") as source:
        strace.write_text("".join(next(source) for _ in range(100)))
    out = folder / "out"
    out.mkdir(exist_ok=True)
    return {
        "version": ["--version"],
        "strace100-json": [str(strace), "--format", "json", "-o", str(out / "s.json")],
        "strace100-default": [str(strace), "--out-dir", str(out)],
        "asyncio101-json": [str(ASYNCIO), "--format", "json", "-o", str(out / "a.json")],
        "perf73-json": [str(PERF), "--format", "json", "-o", str(out / "p.json")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--other", type=Path, help="another checkout to alternate with")
    parser.add_argument("--strace", type=Path, default=STRACE, help="its first 100 lines")
    parser.add_argument("--json", action="store_true", help="results as JSON")
    args = parser.parse_args()
    checkouts = {"this": REPO}
    if args.other is not None:
        checkouts["other"] = args.other.resolve()
    for checkout in checkouts.values():
        compileall.compile_dir(checkout / "analyzer", quiet=1)
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="iodiag-startup-bench-") as tmp:
        folder = Path(tmp)
        for case, case_args in cases(folder, args.strace).items():
            walls: dict[str, list[float]] = {name: [] for name in checkouts}
            cpus: dict[str, list[float]] = {name: [] for name in checkouts}
            for checkout in checkouts.values():  # warm-up: page cache, Jinja2 cache
                run_command(checkout, case_args, folder)
            for _ in range(args.repeat):
                for name, checkout in checkouts.items():
                    wall, cpu = run_command(checkout, case_args, folder)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            results[case] = {name: summary(walls[name], cpus[name]) for name in checkouts}
    load = (load_before, os.getloadavg()[0])
    if args.json:
        print(json.dumps({"load_1min": load, "results": results}, indent=2))
        return
    print(f"load (1 min) {load[0]:.2f} before, {load[1]:.2f} after; best of {args.repeat}")
    for case, sides in results.items():
        for name, row in sides.items():
            target = TARGETS_S.get(case)
            mark = "" if target is None else f" (target {target} s)"
            print(
                f"{case:18} {name:5}: best {row['best_wall_s']:.3f} s wall, median "
                f"{row['median_cpu_s']:.3f} s CPU{mark}"
            )


if __name__ == "__main__":
    main()
