"""perf's sniffer needs a real sample header (issue 14, item 2).

Any line that starts with a hex-looking word reads as an unindented frame of old perf
versions, so frames alone prove nothing: `seq`, `cat -n`, `xxd -p` output and strace lines
(whose pids are hex-looking) must score 0, and so must a log whose lines look like
``name 116 LEVEL: text``. Hand-written heads are marked as such.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from analyzer.formats import perf
from analyzer.formats.perf_assemble import is_sample_header, parse_line

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def _tool(argv: list[str], stdin: bytes | None = None) -> bytes:
    return subprocess.run(argv, input=stdin, capture_output=True, check=True).stdout


def test_seq_cat_n_and_xxd_are_not_perf() -> None:
    sample = (FIXTURES / "strace" / "logs" / "small_sh.f_tt_T.log").read_bytes()[:4096]
    for name, head in (
        ("seq", _tool(["seq", "1", "2000"])),
        ("seq -w", _tool(["seq", "-w", "1", "500"])),
        ("cat -n", _tool(["cat", "-n"], sample)),
        ("cat -n README", _tool(["cat", "-n", str(ROOT / "README.md")])),
        ("xxd -p", _tool(["xxd", "-p"], sample)),
    ):
        assert perf.sniff(head) == 0.0, name


@pytest.mark.parametrize(
    "head",
    [
        # hand-written: lines that start with a hex-looking token and nothing else
        b"deadbeef\ncafe 12\nabc123 foo bar\n",
        b"1234 some_symbol (libc.so.6)\n5678 other_symbol (libc.so.6)\n",
        # hand-written: a log whose lines read as `comm tid event:` without a time
        b"app.worker 116 TRACE: sending\napp.worker 117 WARNING: slow\n",
    ],
    ids=["hex-words", "bare-frames", "log-levels"],
)
def test_frames_or_log_lines_alone_are_not_perf(head: bytes) -> None:
    assert perf.sniff(head) == 0.0


def test_strace_logs_are_never_perf() -> None:
    """Every strace fixture: perf's sniffer finds no sample header in it."""
    paths = [
        path
        for folder in (FIXTURES / "strace" / "logs", FIXTURES / "public" / "strace")
        for path in sorted(folder.rglob("*.log"))
    ]
    assert len(paths) > 40
    for path in paths:
        assert perf.sniff(path.read_bytes()[: 64 << 10]) == 0.0, path.name


@pytest.mark.parametrize(
    "line,header",
    [
        ("python3 12345/12346 [001] 303.512366:     250000 cpu-clock:", True),
        ("java 19983 cycles:", True),  # perf 3.x: no time
        ("func_ab 15294 cpu-clock: ", True),
        ("\t    7f1e214c24d9 __GI___libc_write+0x14 (/usr/lib/libc.so.6)", False),
        ("8393  15:41:33.447474 brk(NULL) = 0x55", False),
        ("# ========", False),
    ],
)
def test_is_sample_header(line: str, header: bool) -> None:
    # hand-written lines in the shapes perf script and strace print
    assert is_sample_header(parse_line(line)) is header


def test_a_timeless_header_has_a_kernel_comm() -> None:
    """perf versions without a time printed the kernel's comm (at most 15 bytes): a Python
    log line whose message holds ``N ms:`` is not thread N's event "ms" (found by the asyncio
    benchmark's sparse log, which was read as perf)."""
    # hand-written after the asyncio benchmark's application lines
    line = "2023-11-14 22:15:43,008 DEBUG app.db: query took 43 ms: SELECT * FROM orders"
    assert not is_sample_header(parse_line(line))
    head = "\n".join(
        f"2023-11-14 22:15:{n:02d},008 DEBUG app.db: query took {n} ms: SELECT 1" for n in range(40)
    )
    assert perf.sniff(head.encode() + b"\n") == 0.0
    # the same shape with a comm of 15 bytes is still old perf's header
    assert is_sample_header(parse_line("java-worker-012 19983 cycles:"))
