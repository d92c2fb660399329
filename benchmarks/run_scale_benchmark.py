"""How time and memory grow with the size of a strace trace (issue 15): lines/s, peak RSS, and
CPU/wall per stage, for one or more checkouts (before/after) at several sizes.

    python benchmarks/run_scale_benchmark.py --lines 1000000 10000000
    python benchmarks/run_scale_benchmark.py --lines 1000000 --checkout /work/main --checkout .
    python benchmarks/run_scale_benchmark.py --trace big.log       # a trace you have

For each size it generates the trace (`generate_strace_trace.py`, 32 threads; deleted after
unless `--keep`), then for each checkout runs two child processes with that checkout first on
`PYTHONPATH`:

* **end to end**: `python -m analyzer TRACE --format json -o OUT` (the real pipeline, passes and
  report sections side by side); wall time, user+sys CPU and peak RSS from `os.wait4`.
* **stages**: the pipeline's stages called one after the other in one process (passes and
  sections sequentially, unlike the real run; then the json and parquet outputs), each with
  its wall and CPU time and its own peak RSS (the kernel's high-water mark is reset before
  each stage through `/proc/self/clear_refs`).

A benchmark script, not a test: nothing here runs under pytest. Wall times on a shared machine
vary with its load; CPU time and peak RSS repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

STAGES = r"""
import json, resource, sys, time
t_start = time.perf_counter()

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

def high_water_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0

def reset_high_water():
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass

rows = []

def stage(name, work):
    reset_high_water()
    wall, used = time.perf_counter(), cpu()
    result = work()
    rows.append({"stage": name, "wall_s": time.perf_counter() - wall,
                 "cpu_s": cpu() - used, "peak_rss_mib": high_water_kib() / 1024})
    return result

def imports():
    global P, Config, AnalysisResult, renderer_for, replace, pa
    from dataclasses import replace
    import pyarrow as pa
    import analyzer.pipeline as P
    from analyzer.config import Config
    from analyzer.model import AnalysisResult
    from analyzer.render import renderer_for

stage("imports", imports)
trace = sys.argv[1]
config = Config()
try:  # a checkout that spills long traces to a work directory does it within the run
    from analyzer.store import work_dir
except ImportError:
    from contextlib import nullcontext as work_dir
with work_dir() as directory:
    inputs = stage("parse", lambda: P.parse_inputs([trace], config, None, None))
    derived = stage("derive", lambda: P.derive(inputs, config))
# a checkout that maps long traces gives back the pages each stage touched, as its CLI does
release = getattr(directory, "release_pages", lambda: None)
try:
    from analyzer.store import PageWatch
    watch = lambda: PageWatch(directory)
except ImportError:
    from contextlib import nullcontext as watch

def slim():
    global inputs
    inputs = [replace(i, parsed=P.SOURCES[i.format].slim(i.parsed)) for i in inputs]
    pa.default_memory_pool().release_unused()
    return P.run_tables(inputs, derived)

tables = stage("tables", slim)
release()
import inspect
after_each = (release,) if len(inspect.signature(P.run_passes).parameters) > 2 else ()
with watch():
    findings = stage(
        "passes",
        lambda: P.run_passes(P.pass_inputs(tables, derived, []), config.passes, *after_each),
    )
release()
with watch():
    sections = stage("sections", lambda: P.report_sections(inputs, derived, []))
release()
result = AnalysisResult(P.with_findings(sections, findings), tables)
text = stage("json", lambda: renderer_for("json").render_to_string(result))

def parquet():
    import shutil, tempfile
    folder = tempfile.mkdtemp(prefix="scale-parquet-")
    try:
        renderer_for("parquet").write(result, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

# the renderers that read the tables, under the page watch as the CLI renders them
with watch():
    stage("parquet", parquet)
release()
print(json.dumps({"stages": rows, "total_wall_s": time.perf_counter() - t_start}))
"""


def run_child(args: list[str], checkout: Path) -> tuple[str, float, float, float, int]:
    """Run `python ARGS` in `checkout`; its stdout, wall s, user+sys CPU s, peak RSS MiB and
    exit status."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, *args], cwd=checkout, env=env, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode()
    cpu = usage.ru_utime + usage.ru_stime
    return text, wall, cpu, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))


def measure(trace: Path, checkout: Path, work: Path, out: Path) -> dict:
    lines = count_lines(trace)
    _, wall, cpu, rss, status = run_child(
        ["-m", "analyzer", str(trace), "--format", "json", "-o", str(out)], checkout
    )
    if status != 0:
        raise SystemExit(f"{checkout}: the analyzer failed on {trace} (exit {status})")
    text, _, _, stage_rss, status = run_child(["-c", STAGES, str(trace)], checkout)
    if status != 0:
        raise SystemExit(f"{checkout}: the stage run failed on {trace} (exit {status})")
    return {
        "checkout": str(checkout),
        "lines": lines,
        "bytes": trace.stat().st_size,
        "wall_s": wall,
        "cpu_s": cpu,
        "lines_per_s": lines / wall,
        "peak_rss_mib": rss,
        "stage_run_peak_rss_mib": stage_rss,
        "report": str(out),
        **json.loads(text),
    }


def measure_all(trace: Path, checkouts: list[Path], work: Path) -> list[dict]:
    """Every checkout on one trace; with several, whether their JSON reports are
    byte-identical to the first one's."""
    results = [
        measure(trace, checkout, work, work / f"report-{number}.json")
        for number, checkout in enumerate(checkouts)
    ]
    first = Path(results[0]["report"]).read_bytes()
    for result in results:
        result["same_report_as_first"] = Path(result["report"]).read_bytes() == first
    return results


def table(results: list[dict]) -> str:
    rows = [
        "| checkout | lines | wall s | CPU s | lines/s | peak RSS MiB | report as the first |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        same = "identical" if r["same_report_as_first"] else "DIFFERS"
        rows.append(
            f"| {r['checkout']} | {r['lines']:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} "
            f"| {r['lines_per_s']:,.0f} | {r['peak_rss_mib']:.0f} | {same} |"
        )
    rows += [
        "",
        "| checkout | lines | stage | wall s | CPU s | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for s in r["stages"]:
            rows.append(
                f"| {r['checkout']} | {r['lines']:,} | {s['stage']} | {s['wall_s']:.2f} "
                f"| {s['cpu_s']:.2f} | {s['peak_rss_mib']:.0f} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--trace", type=Path, nargs="*", default=[], help="traces you have")
    parser.add_argument("--checkout", type=Path, action="append", help="default: this one")
    parser.add_argument("--work", type=Path, help="where generated traces go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated traces")
    parser.add_argument("--json", action="store_true", help="results as JSON")
    args = parser.parse_args()
    checkouts = [path.resolve() for path in args.checkout or [HERE.parent]]
    work = args.work or Path(tempfile.mkdtemp(prefix="iodiag-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for trace in args.trace:
        results += measure_all(trace, checkouts, work)
    for lines in [] if args.trace else args.lines:
        trace = work / f"trace-{lines}.strace"
        if not trace.exists():
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "generate_strace_trace.py"),
                    str(trace),
                    "--lines",
                    str(lines),
                    "--threads",
                    "32",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        try:
            results += measure_all(trace, checkouts, work)
        finally:
            if not args.keep:
                trace.unlink()
    print(json.dumps(results, indent=1) if args.json else table(results))


if __name__ == "__main__":
    main()
