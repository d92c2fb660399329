"""Measure what capturing each kind of evidence costs the traced service, on this machine.

For docs/what-to-capture.md. Every measurement runs a small workload with and without the
capture tool and reports the slowdown, or the CPU the tool itself used:

- strace: a syscall-heavy loop (100 000 ``getppid``) and a CPU-bound Python loop, plain and
  under ``strace -f -tt -T -yy -o FILE``, and with the calls filtered out (``-e``) with and
  without ``--seccomp-bpf``;
- perf: the CPU-bound loop under ``perf record -F 99 -g`` and ``-F 999 -g``;
- asyncio debug mode: 200 000 ``await asyncio.sleep(0)`` with and without
  ``PYTHONASYNCIODEBUG=1``;
- py-spy dump: how long the target process is paused (the longest gap a 1 ms ticker thread
  sees) by ``py-spy dump`` and by ``py-spy dump --nonblocking``, and how long the command takes;
- top -H, ps -eLf, pidstat -t, iostat -x: the CPU time each tool uses per snapshot.

Each workload times itself (its start-up, and the tool's, are not counted).

Usage: ``python benchmarks/measure_capture_overhead.py [--pyspy PATH] [--json OUT]``; needs
root for strace/perf/py-spy. Numbers vary from run to run by a few percent: each case runs
`REPEATS` times and the median is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 3
PY = sys.executable

CPU_LOOP = (
    "import time\n"
    "t = time.monotonic()\n"
    "s = 0\n"
    "for i in range(6_000_000):\n"
    "    s += i * i\n"
    "print(time.monotonic() - t)\n"
)
SYSCALL_LOOP = (
    "import os, time\n"
    "t = time.monotonic()\n"
    "for _ in range(100_000):\n"
    "    os.getppid()\n"
    "print(time.monotonic() - t)\n"
)
ASYNC_LOOP = (
    "import asyncio, time\n"
    "async def main():\n"
    "    for _ in range(200_000):\n"
    "        await asyncio.sleep(0)\n"
    "t = time.monotonic()\n"
    "asyncio.run(main())\n"
    "print(time.monotonic() - t)\n"
)
TICKER = (
    "import threading, time, sys\n"
    "gaps = []\n"
    "def tick():\n"
    "    last = time.monotonic()\n"
    "    while True:\n"
    "        time.sleep(0.001)\n"
    "        now = time.monotonic()\n"
    "        gaps.append(now - last)\n"
    "        last = now\n"
    "threading.Thread(target=tick, daemon=True).start()\n"
    "for _ in range(4):\n"
    "    threading.Thread(target=lambda: time.sleep(60), daemon=True).start()\n"
    "print('ready', flush=True)\n"
    "sys.stdin.readline()\n"
    "print(max(gaps[5:]), flush=True)\n"
)


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    """The median time the workload measured itself (the last line it prints), so the
    tool's own start-up and write-out are not counted."""
    times = []
    for _ in range(REPEATS):
        done = subprocess.run(argv, check=True, capture_output=True, env=env, text=True)
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def slowdown(plain: float, traced: float) -> dict[str, float]:
    return {
        "plain_s": round(plain, 4),
        "captured_s": round(traced, 4),
        "factor": round(traced / plain, 2),
    }


def measure_strace(work: Path) -> dict[str, object]:
    out = str(work / "strace.log")
    syscalls = [PY, "-c", SYSCALL_LOOP]
    cpu = [PY, "-c", CPU_LOOP]
    strace = ["strace", "-f", "-tt", "-T", "-yy", "-o", out]
    return {
        "syscall_loop (100k getppid)": slowdown(wall(syscalls), wall([*strace, *syscalls])),
        "cpu_loop (6M iterations, few syscalls)": slowdown(wall(cpu), wall([*strace, *cpu])),
        "syscall_loop, -e trace=!getppid (stops on every call, prints none)": slowdown(
            wall(syscalls), wall([*strace, "-e", "trace=!getppid", *syscalls])
        ),
        "syscall_loop, --seccomp-bpf -e trace=!getppid (no stop on untraced calls)": slowdown(
            wall(syscalls), wall([*strace, "--seccomp-bpf", "-e", "trace=!getppid", *syscalls])
        ),
    }


def measure_perf(work: Path) -> dict[str, object]:
    cpu = [PY, "-c", CPU_LOOP]
    found: dict[str, object] = {}
    for frequency in ("99", "999"):
        out = str(work / f"perf{frequency}.data")
        found[f"perf record -F {frequency} -g"] = slowdown(
            wall(cpu), wall(["perf", "record", "-q", "-F", frequency, "-g", "-o", out, *cpu])
        )
    return found


def measure_asyncio() -> dict[str, object]:
    argv = [PY, "-c", ASYNC_LOOP]
    plain_env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    return {
        "200k await asyncio.sleep(0)": slowdown(
            wall(argv, plain_env), wall(argv, {**plain_env, "PYTHONASYNCIODEBUG": "1"})
        )
    }


def measure_pyspy(pyspy: str) -> dict[str, object]:
    found: dict[str, object] = {}
    for label, extra in (("py-spy dump", []), ("py-spy dump --nonblocking", ["--nonblocking"])):
        pauses, durations = [], []
        for _ in range(REPEATS):
            target = subprocess.Popen(
                [PY, "-c", TICKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            assert target.stdout is not None and target.stdin is not None
            target.stdout.readline()
            time.sleep(0.3)
            start = time.monotonic()
            subprocess.run(
                [pyspy, "dump", *extra, "--pid", str(target.pid)], check=True, capture_output=True
            )
            durations.append(time.monotonic() - start)
            time.sleep(0.2)
            target.stdin.write("\n")
            target.stdin.flush()
            pauses.append(float(target.stdout.readline()))
            target.wait()
        found[label] = {
            "command_s": round(statistics.median(durations), 4),
            "longest_gap_seen_by_a_1ms_ticker_s": round(statistics.median(pauses), 4),
        }
    return found


def tool_cpu(argv: list[str], snapshots: int) -> dict[str, float]:
    """CPU time (user + system) the tool used per snapshot."""
    before = os.times()
    subprocess.run(argv, check=True, capture_output=True)
    after = os.times()
    used = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {"cpu_per_snapshot_ms": round(used / snapshots * 1000, 2)}


def measure_snapshots() -> dict[str, object]:
    found: dict[str, object] = {}
    if shutil.which("top"):
        found["top -H -b -d 1 -n 5"] = tool_cpu(["top", "-H", "-b", "-d", "1", "-n", "5"], 5)
    found["ps -eLf"] = tool_cpu(
        ["sh", "-c", "for i in 1 2 3 4 5; do date +%s.%N; ps -eLf; done"], 5
    )
    if shutil.which("pidstat"):
        found["pidstat -t -u -w 1 5"] = tool_cpu(["pidstat", "-t", "-u", "-w", "1", "5"], 5)
    if shutil.which("iostat"):
        found["iostat -x -t 1 5"] = tool_cpu(["iostat", "-x", "-t", "1", "5"], 5)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pyspy", default=shutil.which("py-spy"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results: dict[str, object] = {
        "machine": f"{platform.node()} {platform.release()} {os.cpu_count()} CPUs",
        "python": sys.version.split()[0],
        "repeats": REPEATS,
    }
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        if shutil.which("strace"):
            results["strace"] = measure_strace(work)
        if shutil.which("perf"):
            results["perf"] = measure_perf(work)
    results["asyncio_debug"] = measure_asyncio()
    if args.pyspy:
        results["pyspy"] = measure_pyspy(args.pyspy)
    results["snapshots"] = measure_snapshots()
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
