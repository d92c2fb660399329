"""Peak memory and CPU of each diagnosis pass (and the report's sections) on one trace.

Usage::

    python benchmarks/run_pass_memory.py TRACE [--pass slow_syscall ...] [--sections] [--json]

Parses and derives TRACE once in this process as the CLI does (a long strace trace's calls
are a mapped file, given back by the page watch), then runs each registered pass alone, in
registry order with the earlier passes' findings, each under the page watch with the
high-water mark reset first through ``/proc/self/clear_refs``. For each it prints CPU
seconds, the peak resident set while it ran and the resident set before it (what the run
holds between passes). ``--pass`` limits the passes measured (the others still run, so
later passes see the same earlier findings, but unmeasured; with ``--only`` they do not run,
which is quicker on long traces and leaves the passes measured without earlier findings;
``--only --sections`` alone measures the sections without any pass).
``--sections`` also measures the report's sections. Linux only (reads ``/proc/self/status``).
A benchmark script, not a timed test: run it on an otherwise idle machine for CPU figures;
memory figures repeat.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pyarrow as pa  # noqa: E402

from analyzer import pipeline, store  # noqa: E402
from analyzer.config import Config  # noqa: E402
from analyzer.passes import PASSES, Finding  # noqa: E402


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def status_mib(key: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_high_water() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def measured(name: str, work: Callable[[], Any], rows: list[dict[str, Any]]) -> Any:
    resident = status_mib("VmRSS")
    reset_high_water()
    wall, used = time.perf_counter(), cpu_s()
    result = work()
    rows.append(
        {
            "stage": name,
            "cpu_s": round(cpu_s() - used, 2),
            "wall_s": round(time.perf_counter() - wall, 2),
            "rss_before_mib": round(resident),
            "peak_rss_mib": round(status_mib("VmHWM")),
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--pass", dest="passes", action="append", help="a pass module name")
    parser.add_argument("--sections", action="store_true", help="measure the sections too")
    parser.add_argument(
        "--only",
        action="store_true",
        help="run only the --pass passes (without earlier findings): quicker on long traces",
    )
    parser.add_argument("--json", action="store_true", help="results as JSON")
    args = parser.parse_args()
    names = {p.run.__module__.rsplit(".", 1)[-1] for p in PASSES}
    unknown = set(args.passes or ()) - names
    if unknown:
        known = ", ".join(sorted(names))
        parser.error(f"unknown pass {', '.join(sorted(unknown))}; known: {known}")
    config = Config()
    rows: list[dict[str, Any]] = []
    with store.work_dir(config.work_dir, config.keep_work_dir) as directory:
        inputs = measured(
            "parse", lambda: pipeline.parse_inputs([args.trace], config, None, None), rows
        )
        derived = measured("derive", lambda: pipeline.derive(inputs, config), rows)
    inputs = [
        dataclasses.replace(item, parsed=pipeline.SOURCES[item.format].slim(item.parsed))
        for item in inputs
    ]
    pa.default_memory_pool().release_unused()
    pipeline._trim_c_heap()
    tables = pipeline.run_tables(inputs, derived)
    seen = pipeline.pass_inputs(tables, derived, [])
    directory.release_pages()
    findings: list[Finding] = []
    with store.PageWatch(directory):
        for analysis_pass in PASSES:
            name = analysis_pass.run.__module__.rsplit(".", 1)[-1]
            given = dataclasses.replace(seen, earlier=tuple(findings))

            def work(run: Any = analysis_pass.run, given: Any = given) -> list[Finding]:
                return list(run(given, config.passes))

            if (args.passes is None and not args.only) or name in (args.passes or ()):
                findings.extend(measured(f"pass {name}", work, rows))
            elif args.only:
                continue
            else:
                findings.extend(work())
            directory.release_pages()
            pa.default_memory_pool().release_unused()
            pipeline._trim_c_heap()
        if args.sections:
            measured("sections", lambda: pipeline.report_sections(inputs, derived, []), rows)
    if args.json:
        print(json.dumps({"trace": str(args.trace), "stages": rows, "findings": len(findings)}))
        return
    print(f"{'stage':<28} {'CPU s':>7} {'wall s':>7} {'RSS before':>11} {'peak MiB':>9}")
    for row in rows:
        print(
            f"{row['stage']:<28} {row['cpu_s']:>7.2f} {row['wall_s']:>7.2f} "
            f"{row['rss_before_mib']:>11,} {row['peak_rss_mib']:>9,}"
        )
    print(f"findings: {len(findings)}")


if __name__ == "__main__":
    main()
