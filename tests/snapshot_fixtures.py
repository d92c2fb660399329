"""Fixtures the top / ps / pidstat tests share: captures, the workload's measurements, and the
heads of every other format's fixtures (for the sniff tests)."""

from __future__ import annotations

import bisect
import json
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from analyzer.inputs import HEAD_BYTES, iter_line_chunks, open_input

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SNAPSHOT_SOURCES = ("top", "ps_threads", "pidstat")


def captures(source: str) -> list[Path]:
    return sorted((FIXTURES / source / "captures").glob("*.txt"))


def public_samples(source: str) -> list[Path]:
    return sorted(path for path in (FIXTURES / source / "public").iterdir() if path.is_file())


@cache
def measured(source: str) -> dict[str, Any]:
    """What the workload recorded during `fixtures/<source>/capture.sh`."""
    return json.loads((FIXTURES / source / "captures" / "workload.measured.json").read_text())


def threads_by_tid(source: str) -> dict[int, dict[str, Any]]:
    return {thread["tid"]: thread for thread in measured(source)["threads"]}


def nlwp_during(source: str, start: float, end: float) -> set[int]:
    """Every thread count /proc/self/status showed between two epochs (the workload sampled
    it every 20 ms and recorded each change)."""
    timeline = measured(source)["nlwp_timeline"]
    times = [when for when, _ in timeline]
    first = max(bisect.bisect_right(times, start) - 1, 0)
    last = max(bisect.bisect_right(times, end) - 1, 0)
    return {count for _, count in timeline[first : last + 1]}


def shown_name(name: str, command: str) -> bool:
    """Whether `command` is `name` as top prints it: whole, or cut with a `+` mark."""
    return command == name or (command.endswith("+") and name.startswith(command[:-1]))


def parse_file(parse: Callable[..., Any], path: Path, **options: Any) -> Any:
    """`parse` of a file in small chunks (so that chunk boundaries fall inside snapshots)."""
    source = open_input(path)
    try:
        return parse(iter_line_chunks(source.stream, chunk_bytes=4096), str(path), **options)
    finally:
        source.close()


def lines_of(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _head(path: Path) -> bytes:
    source = open_input(path)
    try:
        return source.stream.read(HEAD_BYTES)
    finally:
        source.close()


def _tool_output(argv: list[str], stdin: bytes | None = None) -> bytes:
    """The tool's output, or the same made here when the tool is missing."""
    if shutil.which(argv[0]):
        return subprocess.run(argv, input=stdin, capture_output=True, check=True).stdout
    data = stdin or b""
    if argv[0] == "seq":
        lines = [str(number) for number in range(int(argv[1]), int(argv[2]) + 1)]
    elif argv[0] == "cat":
        text = data.decode("utf-8", errors="replace").split("\n")
        lines = [f"{number:6d}\t{line}" for number, line in enumerate(text, 1)]
    else:  # xxd -p: 30 bytes per line in hex
        lines = [data[start : start + 30].hex() for start in range(0, len(data), 30)]
    return ("\n".join(lines) + "\n").encode()


CAPTURE_PREFIXES = {
    "top": "top.",
    "ps_threads": "ps.",
    "pidstat": "pidstat.",
    "pyspy": "pyspy.",
    "iostat": "iostat.",
    "cloudwatch": "cloudwatch.",
}
"""How the incidents (fixtures/incidents/*/, fixtures/blind/*/) name their captures."""


def is_capture_of(source: str, path: Path) -> bool:
    """Whether `path` is an incident's capture of `source` (``top.H_b_d1_p.txt`` ...), or a
    fuzzing regression made from one of its fixtures (``fuzz/top_wide_number.txt``)."""
    relative = path.relative_to(FIXTURES)
    if relative.parts[0] == "fuzz":
        return path.name.startswith(f"{source}_")
    prefix = CAPTURE_PREFIXES.get(source)
    return (
        relative.parts[0] in ("incidents", "blind")
        and prefix is not None
        and path.name.startswith(prefix)
    )


@cache
def other_heads(own: str) -> list[tuple[str, bytes]]:
    """The heads of every fixture that is not `own`'s (strace, perf, asyncio logs, the other
    snapshot sources), plus `seq`, `cat -n` and `xxd -p` output."""
    heads: list[tuple[str, bytes]] = []
    suffixes = {".log", ".txt", ".out", ".gz", ".xz", ".zst"}
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file() or path.suffix not in suffixes:
            continue
        relative = path.relative_to(FIXTURES)
        if relative.parts[0] == own or is_capture_of(own, path):
            continue
        heads.append((str(relative), _head(path)))
    sample = (FIXTURES / "strace" / "logs" / "small_sh.f_tt_T.log").read_bytes()[:4096]
    heads.append(("seq 1 200", _tool_output(["seq", "1", "200"])))
    heads.append(("cat -n", _tool_output(["cat", "-n"], sample)))
    heads.append(("xxd -p", _tool_output(["xxd", "-p"], sample)))
    return heads
