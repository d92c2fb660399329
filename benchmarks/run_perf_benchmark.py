"""Folded-stack throughput of ``iodiag-analyze --format folded`` on a large ``perf script`` file,
beside FlameGraph's ``stackcollapse-perf.pl`` on the same file when its path is given.

Usage::

    python benchmarks/run_perf_benchmark.py [--size-mb 50] [--repeat 3] [--keep] [--json]
        [--perl-script PATH/stackcollapse-perf.pl] [--fold-option all ...] [--flamegraph]
        [--report] [--input PATH] [--distinct stacks|lines] [--strict]

Unless ``--input`` is given, the input is built from real captures in ``fixtures/perf`` (see
`SOURCES`): the files are concatenated in that order, a blank line is added after every file
that does not end with one (so that its last sample is complete: without it the two samples on
either side of the join fold as one, as stackcollapse-perf.pl folds them), and the whole round
is repeated until
the file holds at least ``--size-mb`` MB (10^6 bytes). Every source is ``cpu-clock`` sampling
with call stacks, so every sample is folded (both tools fold only the first event type), and on
every source iodiag's folded output equals the perl script's byte for byte.

With ``--distinct stacks`` every sample of every round is made unique: the leaf frame's
symbol gets a ``sNNN_`` prefix, so every folded stack is distinct (the other frame lines
repeat, as the same instruction sampled again prints the same line). ``--distinct lines``
also gives every frame line its own address (a running counter, in the address's width or
wider), the worst case for the caches of both tools: no frame line is ever seen twice.

Then ``python -m analyzer FILE --format folded`` (run from this checkout's code, as
run_strace_benchmark.py does) runs ``--repeat`` times as a child process; with
``--perl-script``, ``perl PATH FILE`` runs as many times. For every run the wall time (spawn to
exit), the CPU time (user + sys of the child and the children it waited for, from
``os.wait4``), the largest single process's peak RSS (``ru_maxrss``), the peak of the summed
RSS of the child and its descendants (sampled from ``/proc`` every 50 ms: iodiag folds a big
file in two processes) and the load average are reported, as MB/s and MiB. The two outputs
are compared byte for byte, and the ratio of the best runs' MB/s (and of their CPU times) is
printed against the goal of the issue: iodiag at least 3x the perl script's MB/s, with
identical output. On a shared machine the CPU ratio is the one that repeats.
``--fold-option`` (pid, tid, kernel, jit, all, addrs; repeatable) is passed to both tools.
``--flamegraph`` also times ``--format flamegraph`` on the same file, ``--report`` the
default run (text summary, HTML and Markdown reports; ``-q --out-dir``) and ``--format json``:
the whole pipeline, whose memory is the one that grows with a dump of distinct stacks.

``--strict`` makes the exit status 3 when the goal is missed (or the outputs differ).
stackcollapse-perf.pl is not part of iodiag: get it from FlameGraph
(github.com/brendangregg/FlameGraph) yourself.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from run_strace_benchmark import machine_info  # noqa: E402

PERF = REPO / "fixtures" / "perf"
SOURCES = (
    "flamegraph-test/perf-dd-stacks-01.txt",
    "flamegraph-test/perf-funcab-cmd-01.txt",
    "flamegraph-test/perf-funcab-pid-01.txt",
    "flamegraph-test/perf-iperf-stacks-pidtid-01.txt",
    "flamegraph-test/perf-js-stacks-01.txt",
    "flamegraph-test/perf-mirageos-stacks-01.txt",
    "flamegraph-test/perf-numa-stacks-01.txt",
    "flamegraph-test/perf-vertx-stacks-01.txt",
    "research/cpu_py312_xperf_dwarf.txt",
    "research/cpu_py312_xperf_fp.txt",
    "research/cpu_py313_perfjit_dwarf.txt",
)
"""Real ``perf script`` captures (FlameGraph's test corpus and iodiag's research recordings,
see their PROVENANCE.md), all ``cpu-clock`` with call stacks."""
FOLD_OPTIONS = ("pid", "tid", "kernel", "jit", "all", "addrs")
TARGET_RATIO = 3.0


def build_input(path: Path, size_bytes: int, distinct: str | None = None) -> tuple[int, int]:
    """Write the concatenated captures to `path`; return (rounds, bytes)."""
    parts = []
    for name in SOURCES:
        data = (PERF / name).read_bytes()
        if not data.endswith(b"\n\n"):
            data += b"\n" if data.endswith(b"\n") else b"\n\n"
        parts.append(data)
    one_round = b"".join(parts)
    if distinct:
        return _build_distinct(path, size_bytes, one_round.split(b"\n"), distinct == "lines")
    rounds = 0
    with open(path, "wb") as out:
        while rounds * len(one_round) < size_bytes:
            out.write(one_round)
            rounds += 1
    return rounds, rounds * len(one_round)


_FRAME = re.compile(rb"^(\s+)([0-9a-f]+)(\s+)(.*)$")


def _build_distinct(
    path: Path, size_bytes: int, lines: list[bytes], addresses: bool
) -> tuple[int, int]:
    """`build_input` with every stack made unique, and every frame line with `addresses`."""
    # (is a frame line, prefix, address width, gap, rest) per line; the rest starts with
    # the symbol
    shapes: list[tuple[bool, bytes, bytes, bytes, bytes]] = []
    for line in lines:
        match = _FRAME.match(line)
        if match is None:
            shapes.append((False, line, b"", b"", b""))
        else:
            indent, address, gap, rest = match.groups()
            shapes.append((True, indent, address, gap, rest))
    counter = 0
    sample = 0
    rounds = written = 0
    with open(path, "wb") as out:
        while written < size_bytes:
            chunk = []
            leaf = False
            for is_frame, first, address, gap, rest in shapes:
                if not is_frame:
                    chunk.append(first)
                    leaf = bool(first) and not first[:1].isspace() and first[:1] != b"#"
                    continue
                if addresses:
                    counter += 1
                    address = b"%0*x" % (len(address), counter)
                if leaf:
                    sample += 1
                    rest = b"s%d_" % sample + rest
                    leaf = False
                chunk.append(first + address + gap + rest)
            data = b"\n".join(chunk)
            out.write(data)
            written += len(data)
            rounds += 1
    return rounds, written


def run_once(argv: list[str], env: dict[str, str], stdout_path: Path) -> dict[str, Any]:
    """Run argv as a child with stdout to `stdout_path`; wall seconds, peak RSS, exit code.

    ``ru_maxrss`` from ``os.wait4`` covers only this child; Linux carries the forking process's
    high-water mark across fork + exec, so it is never below this runner's own RSS (the
    input is written in chunks of one capture, so the runner stays small)."""
    stderr_path = stdout_path.with_suffix(".stderr")
    with open(stdout_path, "wb") as so, open(stderr_path, "wb") as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=so, stderr=se, env=env, cwd=REPO)
        tree_peak = [0]
        done = threading.Event()
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, tree_peak, done))
        sampler.start()
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": wall,
        "cpu_s": rusage.ru_utime + rusage.ru_stime,
        "load_avg": os.getloadavg()[0],
        "peak_rss_mib": rusage.ru_maxrss / 1024.0,
        "peak_tree_rss_mib": tree_peak[0] / 1024.0,
        "user_s": rusage.ru_utime,
        "sys_s": rusage.ru_stime,
        "exit_code": proc.returncode,
        "stderr_tail": stderr_path.read_text(errors="replace")[-2000:],
    }


def _tree_rss_kib(pid: int) -> int:
    """The summed VmRSS (KiB) of `pid` and its descendants, now (0 when gone)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return total


def _sample_tree(pid: int, peak: list[int], done: threading.Event) -> None:
    """Sample the process tree's summed RSS every 50 ms into peak[0] (the peak of the sum:
    ``ru_maxrss`` is the largest single process's)."""
    while not done.wait(0.05):
        peak[0] = max(peak[0], _tree_rss_kib(pid))


def first_difference(a: Path, b: Path) -> str | None:
    """None when the files are equal, else where they first differ."""
    left = a.read_bytes().splitlines(keepends=True)
    right = b.read_bytes().splitlines(keepends=True)
    for number, (x, y) in enumerate(zip(left, right, strict=False), 1):
        if x != y:
            return f"line {number}: {x[:120]!r} vs {y[:120]!r}"
    if len(left) != len(right):
        return f"{len(left)} lines vs {len(right)} lines"
    return None


def timed(
    label: str, argv: list[str], env: dict[str, str], workdir: Path, repeat: int, nbytes: int
) -> dict[str, Any]:
    runs = []
    for index in range(1, repeat + 1):
        run = run_once(argv, env, workdir / f"{label}.{index}.out")
        run["mb_per_s"] = nbytes / 1e6 / run["seconds"]
        runs.append(run)
        if run["exit_code"] != 0:
            break
    ok = all(run["exit_code"] == 0 for run in runs)
    best = min(runs, key=lambda run: run["seconds"])
    best_cpu = min(run["cpu_s"] for run in runs)
    return {
        "label": label,
        "command": argv,
        "runs": [{k: v for k, v in run.items() if k != "stderr_tail"} for run in runs],
        "ok": ok,
        "stderr_tail": None if ok else runs[-1]["stderr_tail"],
        "best_seconds": best["seconds"],
        "best_mb_per_s": best["mb_per_s"],
        "best_cpu_s": best_cpu,
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        "peak_tree_rss_mib": max(run["peak_tree_rss_mib"] for run in runs),
        "output": str(workdir / f"{label}.1.out"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=50.0, help="input size (default 50 MB)")
    ap.add_argument("--input", type=Path, help="time this perf script file instead")
    ap.add_argument("--perl-script", type=Path, help="path to stackcollapse-perf.pl")
    ap.add_argument(
        "--fold-option",
        action="append",
        default=[],
        choices=FOLD_OPTIONS,
        help="stackcollapse option passed to both tools (repeatable)",
    )
    ap.add_argument("--flamegraph", action="store_true", help="also time --format flamegraph")
    ap.add_argument(
        "--report", action="store_true", help="also time the default run and --format json"
    )
    ap.add_argument(
        "--distinct",
        choices=("stacks", "lines"),
        help="make every stack unique (and with 'lines' every frame line)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs per command (default 3)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    ap.add_argument("--strict", action="store_true", help="exit 3 if the goal is missed")
    args = ap.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="iodiag-perf-bench-"))
    result: dict[str, Any] = {"machine": machine_info(), "target_ratio": TARGET_RATIO}
    try:
        if args.input:
            trace = args.input.resolve()
            nbytes = trace.stat().st_size
            result["input"] = {"path": str(trace), "bytes": nbytes}
        else:
            trace = workdir / "perf-script.txt"
            rounds, nbytes = build_input(trace, int(args.size_mb * 1e6), args.distinct)
            result["input"] = {
                "path": str(trace),
                "bytes": nbytes,
                "rounds": rounds,
                "sources": list(SOURCES),
                "distinct": args.distinct,
            }
        m = result["machine"]
        say(
            f"machine: {m['nproc']} CPUs usable ({m['cpu_model']}), {m['mem_total_gib']} GiB "
            f"RAM, Python {m['python']}, {m['platform']}"
        )
        how = f"{result['input'].get('rounds', '-')} rounds of {len(SOURCES)} captures"
        say(f"input: {trace} ({nbytes / 1e6:.1f} MB{'' if args.input else ', ' + how})")
        options = [f"--{option}" for option in args.fold_option]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        # Bytecode as an installed iodiag has it (see run_strace_benchmark.compile_checkout).
        compileall.compile_dir(REPO / "analyzer", quiet=1)
        analyzer = [sys.executable, "-m", "analyzer", str(trace), "--format"]
        commands = [("iodiag-folded", [*analyzer, "folded", *options])]
        if args.flamegraph:
            commands.append(("iodiag-flamegraph", [*analyzer, "flamegraph", *options]))
        if args.report:
            reports = workdir / "reports"
            commands.append(("iodiag-json", [*analyzer, "json", *options]))
            commands.append(
                (
                    "iodiag-report",
                    [*analyzer[:-1], "-q", "--out-dir", str(reports), *options],
                )
            )
        if args.perl_script:
            perl = shutil.which("perl") or "perl"
            commands.append(("perl", [perl, str(args.perl_script.resolve()), *options, str(trace)]))
        result["runner_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        timings = {}
        for label, command in commands:
            say(f"{label}: {shlex.join(command)}")
            timings[label] = timed(label, command, env, workdir, args.repeat, nbytes)
            if not timings[label]["ok"]:
                say(f"{label} FAILED; stderr tail:\n{timings[label]['stderr_tail']}")
        result["timings"] = timings

        say("")
        say(
            f"{'':<24} {'MB':>8} {'seconds':>9} {'CPU s':>8} {'MB/s':>8} {'peakRSS MiB':>12}"
            f" {'tree RSS':>9} {'load avg':>9}"
        )
        for label, timing in timings.items():
            for index, run in enumerate(timing["runs"], 1):
                say(
                    f"{label + ' ' + str(index):<24} {nbytes / 1e6:8.1f} {run['seconds']:9.3f} "
                    f"{run['cpu_s']:8.2f} {run['mb_per_s']:8.2f} {run['peak_rss_mib']:12.1f}"
                    f" {run['peak_tree_rss_mib']:9.1f} {run['load_avg']:9.2f}"
                )
        for label, timing in timings.items():
            say(
                f"{label + ' best':<24} {nbytes / 1e6:8.1f} {timing['best_seconds']:9.3f} "
                f"{timing['best_cpu_s']:8.2f} {timing['best_mb_per_s']:8.2f} "
                f"{timing['peak_rss_mib']:12.1f} {timing['peak_tree_rss_mib']:9.1f}"
            )
        if "iodiag-flamegraph" in timings:
            extra = timings["iodiag-flamegraph"]["best_seconds"]
            extra -= timings["iodiag-folded"]["best_seconds"]
            result["flamegraph_extra_seconds"] = extra
            say(f"flame graph on top of folding (best runs): {extra:+.3f} s")
        say(f"(no RSS is below this runner's own {result['runner_rss_mib']:.1f} MiB)")
        ok = all(timing["ok"] for timing in timings.values())
        met = None
        if "perl" in timings and ok:
            diff = first_difference(
                Path(timings["iodiag-folded"]["output"]), Path(timings["perl"]["output"])
            )
            ratio = timings["iodiag-folded"]["best_mb_per_s"] / timings["perl"]["best_mb_per_s"]
            cpu_ratio = timings["perl"]["best_cpu_s"] / timings["iodiag-folded"]["best_cpu_s"]
            met = diff is None and ratio >= TARGET_RATIO
            result.update(
                identical=diff is None,
                difference=diff,
                ratio=ratio,
                cpu_ratio=cpu_ratio,
                target_met=met,
            )
            say(f"outputs identical: {'yes' if diff is None else 'NO, ' + diff}")
            say(
                f"goal: iodiag >= {TARGET_RATIO:.0f}x stackcollapse-perf.pl MB/s with identical "
                f"output: {'PASS' if met else 'MISS'} (ratio {ratio:.2f}x in wall time, "
                f"{cpu_ratio:.2f}x in CPU time)"
            )
        elif "perl" not in timings:
            say("(give --perl-script PATH to compare with stackcollapse-perf.pl)")
        if args.json:
            print(json.dumps(result, indent=2))
        if not ok:
            return 1
        if args.strict and met is False:
            return 3
        return 0
    finally:
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
