"""Throughput of the asyncio log parser on a large application log, beside a plain line loop.

    python benchmarks/run_asyncio_benchmark.py [--size MB] [--every 1000] [--keep PATH]
        [--repeat 3] [--threads 2]

Writes a deterministic application log (asctime envelope, as `logging.basicConfig(format=
"%(asctime)s %(levelname)s %(name)s: %(message)s")` prints it) in which one line in `--every`
starts an asyncio debug record -- mostly `Executing <Task ...> took N seconds`, sometimes a
multi-line `Task exception was never retrieved` record with a traceback -- and the rest are
ordinary application lines. Then, in the same run, it times

1. the baseline the issue names: ``for line in f: pass`` over the file (text mode);
2. ``asyncio_format.parse`` over the file (the fast engine, ``--threads`` as the CLI's
   ``--threads``, default 2), from bytes to the loop_events table,

alternately, `--repeat` times each, so that both see the same machine load; it prints the
MB/s of the best run of each, their ratio (the target is at least 0.30) and the median
ratio of the pairs. The record lines in the generated log are modelled on the real logs in
fixtures/asyncio/research/out.

With ``--analyze`` it times the whole command instead: ``python -m analyzer LOG
--input-format asyncio --format json`` as a child process, `--repeat` times, printing each
run's CPU seconds (user + sys of the child, from ``os.wait4``: what repeats on a shared
machine), wall seconds and peak RSS (``ru_maxrss``), then the least CPU and the largest peak.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analyzer.formats import asyncio as asyncio_format  # noqa: E402
from analyzer.inputs import iter_line_chunks, open_input  # noqa: E402

APP_MESSAGES = (
    'INFO app.http: 127.0.0.1:{port} - "GET /api/v1/orders/{n} HTTP/1.1" 200',
    "DEBUG app.db: query took {ms} ms: SELECT * FROM orders WHERE id = {n}",
    "INFO app.worker: processed job {n} in {ms} ms",
    "WARNING app.cache: miss for key user:{n}",
)
SLOW = (
    "WARNING asyncio: Executing <Task pending name='Task-{n}' coro=<handle() running at "
    "/srv/app/server.py:{line}> wait_for=<Future pending cb=[Task.task_wakeup()] created at "
    "/usr/lib/python3.11/asyncio/base_events.py:427> cb=[_run_until_complete_cb() at "
    "/usr/lib/python3.11/asyncio/base_events.py:180] created at "
    "/usr/lib/python3.11/asyncio/tasks.py:670> took {took:.3f} seconds"
)
NEVER_RETRIEVED = (
    "ERROR asyncio: Task exception was never retrieved",
    "future: <Task finished name='Task-{n}' coro=<fetch() done, defined at "
    "/srv/app/client.py:{line}> exception=ConnectionResetError(104, 'Connection reset by peer')>",
    "Traceback (most recent call last):",
    '  File "/srv/app/client.py", line {line}, in fetch',
    "    data = await reader.read(65536)",
    "ConnectionResetError: [Errno 104] Connection reset by peer",
)


def generate(path: Path, size_bytes: int, every: int, seed: int = 1) -> tuple[int, int]:
    """Write the log; return (lines, asyncio records)."""
    rng = random.Random(seed)
    lines = records = 0
    written = 0
    clock = 1_700_000_000.0
    with open(path, "w", encoding="utf-8") as out:
        buffer: list[str] = []
        while written < size_bytes:
            clock += rng.random() / 50
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(clock))
            stamp += f",{int(clock * 1000) % 1000:03d}"
            if lines % every == every - 1:
                records += 1
                n, line = rng.randrange(10**6), rng.randrange(20, 400)
                if records % 10 == 0:
                    block = [part.format(n=n, line=line) for part in NEVER_RETRIEVED]
                    text = f"{stamp} {block[0]}\n" + "".join(part + "\n" for part in block[1:])
                    lines += len(block)
                else:
                    took = 0.1 + rng.random()
                    text = f"{stamp} {SLOW.format(n=n, line=line, took=took)}\n"
                    lines += 1
            else:
                message = rng.choice(APP_MESSAGES).format(
                    port=rng.randrange(1024, 65535),
                    n=rng.randrange(10**6),
                    ms=rng.randrange(1, 900),
                )
                text = f"{stamp} {message}\n"
                lines += 1
            buffer.append(text)
            written += len(text)
            if len(buffer) >= 10_000:
                out.write("".join(buffer))
                buffer.clear()
        out.write("".join(buffer))
    return lines, records


def plain_loop(path: Path) -> float:
    start = time.perf_counter()
    with open(path, encoding="utf-8") as handle:
        for _line in handle:
            pass
    return time.perf_counter() - start


def parse(path: Path, threads: int) -> tuple[float, int]:
    start = time.perf_counter()
    source = open_input(path)
    try:
        parsed = asyncio_format.parse(iter_line_chunks(source.stream), str(path), threads=threads)
    finally:
        source.close()
    return time.perf_counter() - start, parsed.record_count


def analyze(path: Path, repeat: int, threads: int) -> None:
    """Time ``python -m analyzer PATH --format json`` as a child process, `repeat` times."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="iodiag-asyncio-out-") as out:
        # (named: a log whose first asyncio record comes after the lines detection reads
        # is not recognised as asyncio's)
        argv = [sys.executable, "-m", "analyzer", str(path), "--input-format", "asyncio"]
        argv += ["--format", "json"]
        argv += ["-o", str(Path(out) / "report.json"), "--threads", str(threads)]
        for _ in range(repeat):
            start = time.perf_counter()
            child = subprocess.Popen(argv, cwd=REPO)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"analyzer exited with {os.waitstatus_to_exitcode(status)}")
            cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
            runs.append((cpu, wall, rss))
            print(
                f"analyze: {cpu:.2f} CPU-s (user {usage.ru_utime:.2f} + sys "
                f"{usage.ru_stime:.2f}), {wall:.2f} s wall, peak RSS {rss:,.0f} MiB"
            )
    print(
        f"least CPU {min(r[0] for r in runs):.2f} s, least wall {min(r[1] for r in runs):.2f} s,"
        f" largest peak RSS {max(r[2] for r in runs):,.0f} MiB, load average "
        f"{os.getloadavg()[0]:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", "--size-mb", dest="size", type=int, default=1024, help="MB")
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="write the log here and keep it")
    parser.add_argument(
        "--analyze", action="store_true", help="time the whole analyzer command on the log"
    )
    args = parser.parse_args()

    if args.keep is not None:
        return run(args, args.keep)
    # (the log is removed on every path: an error or an interrupted run left empty
    # iodiag-asyncio-bench-* directories behind before)
    with tempfile.TemporaryDirectory(prefix="iodiag-asyncio-bench-") as folder:
        return run(args, Path(folder) / "app.log")


def run(args: argparse.Namespace, path: Path) -> int:
    """Generate the log at `path` unless it exists, then time what `args` ask for."""
    expected = None
    if not path.exists():
        lines, expected = generate(path, args.size * 1_000_000, args.every)
        print(f"generated {path}: {lines:,} lines, {expected:,} asyncio records")
    size_mb = os.path.getsize(path) / 1e6
    if args.analyze:
        analyze(path, args.repeat, args.threads)
        return 0
    asyncio_format.parse(iter([]), "-")  # build the parsers once, outside the timing
    loops, parses, records = [], [], 0
    for _ in range(args.repeat):
        loops.append(plain_loop(path))
        seconds, records = parse(path, args.threads)
        parses.append(seconds)
    if expected is not None and records != expected:
        print(f"records: {records:,}, expected {expected:,}")
        return 1
    best_loop, best_parse = min(loops), min(parses)
    print(f"file: {size_mb:,.1f} MB, {args.repeat} alternating runs each")
    print(f"plain `for line in f: pass`: {best_loop:.2f} s = {size_mb / best_loop:,.0f} MB/s")
    print(
        f"asyncio_format.parse (fast, {args.threads} threads): {best_parse:.2f} s = "
        f"{size_mb / best_parse:,.0f} MB/s, {records:,} records"
    )
    ratio = best_loop / best_parse
    pairs = sorted(loop / parse for loop, parse in zip(loops, parses, strict=True))
    print(
        f"ratio of the best runs: {ratio:.2f} (target >= 0.30): "
        f"{'PASS' if ratio >= 0.30 else 'MISS'}; median ratio of the pairs: "
        f"{pairs[len(pairs) // 2]:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
