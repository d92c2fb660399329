"""How much the diagnosis passes add to ingestion, on the 1M-line benchmark trace.

Usage::

    python benchmarks/run_pass_benchmark.py [--lines 1000000] [--repeat 3] [--trace PATH]
                                            [--json]

Runs the stages in this process, each timed with ``time.perf_counter``: parse (bytes to the
line table), derive (pairing, fd replay, tasks), tables, then every registered pass on its
own, ``--repeat`` times, keeping the best time of each. The issue's target: all passes
together add no more than 50% to the parse time. Unless ``--trace`` is given the trace is
generated with ``generate_strace_trace.py`` (deterministic, 32 threads) into a temporary
directory. This is a benchmark script, not a timed test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from analyzer import pipeline  # noqa: E402
from analyzer.config import Config  # noqa: E402
from analyzer.model import ParsedInput  # noqa: E402
from analyzer.passes import PASSES, PassConfig  # noqa: E402

TARGET_RATIO = 0.5


def best_of(repeat: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest of `repeat` timed runs of `work`, and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(trace: Path, repeat: int) -> dict[str, Any]:
    config = Config()

    def parse() -> ParsedInput:
        [parsed] = pipeline.parse_inputs([trace], config)
        return parsed

    parse_s, parsed = best_of(repeat, parse)
    derive_s, derived = best_of(repeat, lambda: pipeline.derive([parsed], config))
    tables_s, built = best_of(repeat, lambda: pipeline.run_tables([parsed], derived))
    [trace_tables] = derived["strace"].extras["traces"]
    config_passes = PassConfig()
    per_pass: dict[str, float] = {}
    findings: list[Any] = []
    for _ in range(repeat):
        # A fresh trace object each time: passes share per-trace work (targets.trace_resources)
        # that a repeat on the same object would find already done.
        fresh = {
            **derived,
            "strace": dataclasses.replace(
                derived["strace"], extras={"traces": (dataclasses.replace(trace_tables),)}
            ),
        }
        inputs = pipeline.pass_inputs(built, fresh)
        times: dict[str, float] = {}
        found_here: list[Any] = []
        for analysis_pass in PASSES:
            started = time.perf_counter()
            found = analysis_pass.run(inputs, config_passes)
            times[f"{analysis_pass.code} {analysis_pass.kind}"] = time.perf_counter() - started
            found_here += found
            inputs = dataclasses.replace(inputs, earlier=tuple(found_here))
        if not per_pass or sum(times.values()) < sum(per_pass.values()):
            per_pass, findings = times, found_here
    passes_s = sum(per_pass.values())
    return {
        "trace": str(trace),
        "lines": parsed.parsed.line_count,
        "syscalls": trace_tables.syscalls.num_rows,
        "parse_s": parse_s,
        "derive_s": derive_s,
        "tables_s": tables_s,
        "passes_s": passes_s,
        "per_pass_s": per_pass,
        "findings": len(findings),
        "passes_over_parse": passes_s / parse_s,
        "passes_over_parse_and_derive": passes_s / (parse_s + derive_s),
        "target_ratio": TARGET_RATIO,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trace", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="iodiag-pass-bench-") as tmp:
        trace = args.trace
        if trace is None:
            trace = Path(tmp) / "bench.log"
            subprocess.run(
                [sys.executable, str(HERE / "generate_strace_trace.py"), str(trace),
                 "--lines", str(args.lines)],
                check=True,
            )  # fmt: skip
        result = measure(trace, args.repeat)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{result['lines']:,} lines, {result['syscalls']:,} syscalls, best of {args.repeat}")
    for stage in ("parse_s", "derive_s", "tables_s"):
        print(f"  {stage[:-2]:<28} {result[stage]:8.3f} s")
    for name, seconds in result["per_pass_s"].items():
        print(f"  pass {name:<23} {seconds:8.3f} s")
    print(f"  passes total                 {result['passes_s']:8.3f} s")
    print(
        f"passes / parse = {result['passes_over_parse']:.0%} "
        f"(passes / (parse + derive) = {result['passes_over_parse_and_derive']:.0%}); "
        f"target <= {TARGET_RATIO:.0%}; {result['findings']} findings"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
