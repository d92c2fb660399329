"""Alternate runs of two iodiag checkouts on one strace trace, and compare them.

Usage::

    git worktree add /tmp/old REV
    python benchmarks/compare_checkouts.py /tmp/old [--trace PATH | --lines N] [--rounds 6]
                                                    [--json]

On a shared VM the speed drifts: on the one the closing notes come from, the same command took
anywhere from 3.3 to 4.8 s within an hour. Two benchmarks run minutes apart then compare the
minutes, not the code. Here every round runs the other checkout and then this one, back to
back, on the same trace (``python -m analyzer TRACE --format json``, each checkout's bytecode
written first, as an install has it; the runs start in a temporary directory, because
``python -m`` puts its working directory first on ``sys.path``), so drift hits both sides
alike. It prints per side the
best and median wall time, the median CPU time (user + sys) and the peak RSS, and the median
and range of the per-round ratio this/other.
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from run_strace_benchmark import GENERATOR, count_lines, run_once  # noqa: E402


def side_command(checkout: Path, trace: Path, out: Path) -> tuple[list[str], dict[str, str]]:
    """The analyzer command of one checkout and its environment."""
    compileall.compile_dir(checkout / "analyzer", quiet=1)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(checkout), env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "analyzer", str(trace), "--format", "json", "-o", str(out)]
    return argv, env


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    walls = [run["seconds"] for run in runs]
    rss = [run["peak_rss_mib"] for run in runs]
    return {
        "best_s": min(walls),
        "median_s": statistics.median(walls),
        "median_cpu_s": statistics.median(run["user_s"] + run["sys_s"] for run in runs),
        "median_rss_mib": statistics.median(rss),
        "max_rss_mib": max(rss),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("other", type=Path, help="the checkout to compare this one with")
    ap.add_argument("--trace", type=Path, help="strace log to analyze (default: generate one)")
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines of a generated trace")
    ap.add_argument("--rounds", type=int, default=6, help="runs of each side (default 6)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args(argv)
    other = args.other.resolve()
    if not (other / "analyzer" / "__main__.py").is_file():
        ap.error(f"{other} is not an iodiag checkout (no analyzer/__main__.py)")

    def say(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    with tempfile.TemporaryDirectory(prefix="iodiag-compare-") as temporary:
        workdir = Path(temporary)
        trace = args.trace.resolve() if args.trace else workdir / "trace.f_tt_T.log"
        if not args.trace:
            say(f"generating a {args.lines:,}-line trace ...")
            subprocess.run(
                [sys.executable, str(GENERATOR), str(trace), "--lines", str(args.lines)],
                check=True,
            )
        lines = count_lines(trace)
        sides = {
            "other": side_command(other, trace, workdir / "other.json"),
            "this": side_command(REPO, trace, workdir / "this.json"),
        }
        runs: dict[str, list[dict[str, Any]]] = {"other": [], "this": []}
        for round_index in range(args.rounds):
            for name, (command, env) in sides.items():
                # From the temporary directory: `python -m` puts its working directory first
                # on sys.path, which from a checkout would shadow the PYTHONPATH entry.
                index = 2 * round_index + (name == "this")
                run = run_once(command, env, workdir, index, cwd=workdir)
                if run["exit_code"] != 0:
                    say(f"{name} failed with exit code {run['exit_code']}:\n{run['stderr_tail']}")
                    return 1
                runs[name].append(run)
            say(
                f"round {round_index + 1}: other {runs['other'][-1]['seconds']:.2f} s, "
                f"this {runs['this'][-1]['seconds']:.2f} s"
            )
        ratios = [
            mine["seconds"] / theirs["seconds"]
            for mine, theirs in zip(runs["this"], runs["other"], strict=True)
        ]
        result = {
            "trace": str(trace),
            "lines": lines,
            "other": {"checkout": str(other), **summary(runs["other"])},
            "this": {"checkout": str(REPO), **summary(runs["this"])},
            "ratio_this_to_other": {
                "median": statistics.median(ratios),
                "min": min(ratios),
                "max": max(ratios),
            },
        }
        for name in ("other", "this"):
            side = result[name]
            say(
                f"{name:>5}: best {side['best_s']:.2f} s ({lines / side['best_s']:,.0f} lines/s), "
                f"median {side['median_s']:.2f} s, CPU median {side['median_cpu_s']:.2f} s, "
                f"peak RSS median {side['median_rss_mib']:.0f} MiB (max "
                f"{side['max_rss_mib']:.0f})  {side['checkout']}"
            )
        ratio = result["ratio_this_to_other"]
        say(
            f"this/other per round: median {ratio['median']:.3f} "
            f"(from {ratio['min']:.3f} to {ratio['max']:.3f}; below 1 means this is faster)"
        )
        if args.json:
            print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    status = main()
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    sys.exit(status)
