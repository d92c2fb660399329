"""The fast scanner (`perf_scan`) and the grammar parser (`perf_lark`) give identical records.

On every line of every fixture, and on generated headers, frames and source lines in every
layout: when the scanner reads a line (it may decline, returning None, and leave it to the
grammar) its record equals the grammar's. Generated headers whose comm cannot be confused with
the fields after it must also come back with exactly the comm and tid they were built from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import examples

from analyzer.formats import perf_lark
from analyzer.formats.perf import parse
from analyzer.formats.perf_record import PerfRecord
from analyzer.formats.perf_scan import scan_line
from analyzer.inputs import iter_line_chunks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "perf"
ALL_FILES = sorted((FIXTURES / "research").glob("*.txt")) + sorted(
    (FIXTURES / "flamegraph-test").glob("*.txt")
)
SETTINGS = settings(
    max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_fast_equals_grammar_on_every_fixture_line(path: Path) -> None:
    for line_no, text in enumerate(_lines(path), 1):
        fast = scan_line(text)
        if fast is not None:
            assert fast == perf_lark.parse_line(text), (path.name, line_no, text)


def test_fast_path_reads_nearly_all_perf_script_lines() -> None:
    read = total = 0
    for path in ALL_FILES:
        if path.parent.name == "research" and path.name.startswith(("perf_", "variants")):
            continue
        for text in _lines(path):
            total += 1
            read += scan_line(text) is not None
    assert read / total > 0.99


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_engines_build_identical_tables(path: Path) -> None:
    with path.open("rb") as stream:
        fast = parse(iter_line_chunks(stream, chunk_bytes=4096), "x", engine="fast", threads=2)
    with path.open("rb") as stream:
        slow = parse(iter_line_chunks(stream), "x", engine="lark", threads=1)
    for name in ("samples", "stacks", "frames", "sideband", "unparsed"):
        assert getattr(fast, name).equals(getattr(slow, name)), name
    assert fast.header == slow.header


# ---------------------------------------------------------------------------------------------
# Generated lines
# ---------------------------------------------------------------------------------------------

_WORD_CHARS = "abcxyz0123456789_-./:[]()#<>'\"=+"
_comm_word = st.text(alphabet=_WORD_CHARS, min_size=1, max_size=8)
_plain_word = st.from_regex(r"[a-z][a-z0-9_.\-/\[\]]{0,6}[a-z0-9\]]?", fullmatch=True)
_number = st.integers(min_value=-1, max_value=4_194_304)
_blanks = st.sampled_from([" ", "  ", "    ", "\t", " \t"])
_event = st.sampled_from(
    [
        "cpu-clock:",
        "cycles:u:",
        "cpu-clock:uhH:",
        "cpu-clock/freq=199/:",
        "task-clock:ppp:",
        "sched:sched_switch:",
        "block:block_rq_issue:",
        "raw_syscalls:sys_exit:",
        "page-faults:",
        "PERF_RECORD_SWITCH",
        "PERF_RECORD_COMM:",
        "PERF_RECORD_MMAP2",
    ]
)
_payload = st.sampled_from(
    [
        "",
        " ",
        " prev_comm=io worker 1 prev_pid=13650 prev_prio=120 prev_state=S ==> next_comm=x",
        " 254,0 WS 4096 () 70139856 + 8 0x2,0,4 [python3.11]",
        " NR 0 (3, 7ffe0c077258, 340, 0, 7ffe0c077237, 0)",
        " NR 59 = 0",
        " 0x0",
        "  7fe140eb4fc1 _imp_find_frozen+0x1 (/usr/lib/libpython3.12.so.1.0)",
        "  ffffffff821e8bb6 copy_mc+0x6 ([kernel.kallsyms])",
        "      0 [unknown] ([unknown])",
        " OUT preempt     ",
        " exec: python3.12:8798/8798",
        "\tffff x (y)",
    ]
)


@st.composite
def _headers(draw: st.DrawFn, plain: bool) -> tuple[str, str, int]:
    words = draw(st.lists(_plain_word if plain else _comm_word, min_size=1, max_size=4))
    if plain and draw(st.booleans()):
        words.append(str(draw(st.integers(0, 99))))  # "io worker 1"
    comm = ""
    for index, word in enumerate(words):
        comm += word if index == 0 else draw(st.sampled_from([" ", "  ", "\t"])) + word
    tid = draw(_number)
    task = f"{draw(_number)}/{tid}" if draw(st.booleans()) else str(tid)
    text = comm + draw(_blanks) + task
    if draw(st.booleans()):
        text = " " * draw(st.integers(1, 16)) + text  # right-aligned "%16s"
    if draw(st.booleans()):
        text += f" [{draw(st.integers(0, 255)):03d}]"
    if draw(st.booleans()):
        text += " 2026-11-26 15:02:10.508630590"
    if draw(st.booleans()):
        seconds = draw(st.integers(0, 10**7))
        digits = draw(st.sampled_from([6, 9]))
        text += draw(_blanks) + f"{seconds}.{draw(st.integers(0, 10**digits - 1)):0{digits}d}:"
        if draw(st.booleans()):
            text += draw(_blanks) + str(draw(st.integers(0, 10**10)))
    text += draw(_blanks) + draw(_event) + draw(_payload)
    return text, comm, tid


_symbol = st.one_of(
    st.sampled_from(
        [
            "[unknown]",
            "copy_mc+0x6",
            "StealTask::do_it(GCTaskManager*, unsigned int)",
            "py::fib:/tmp/perfwork/cpu_work.py+0x5",
            "Ljava/io/PrintStream;::print",
            "LazyCompile:~body_0 evalmachine.<anonymous>:1",
            "regexp/syntax.(*parser).push",
            "(anonymous namespace)::f",
            "a->b->c",
            "",
            "+0x10",
            "foo  (bar)",
        ]
    ),
    st.text(alphabet="ab _+0x()[]:;<>", min_size=1, max_size=12),
)
_dso = st.sampled_from(
    [
        "",
        " ([kernel.kallsyms])",
        " (/usr/lib/x86_64-linux-gnu/libc.so.6)",
        " (inlined)",
        " (/tmp/perf-8798.map)",
        " (/tmp/jitted-9290-433.so)",
        " (/memfd:sealed-91173221a7ea (deleted))",
        " ([unknown])",
        "  (/lib/x.so)",
        " ((a)(b))",
        " (a (b (c)))",
        " (unbalanced",
    ]
)


@st.composite
def _frames(draw: st.DrawFn) -> str:
    indent = draw(st.sampled_from(["\t", "\t    ", "            ", "", "\t\t"]))
    addr = draw(st.from_regex(r"[0-9a-f]{1,16}", fullmatch=True))
    symbol = draw(_symbol)
    return indent + addr + (" " + symbol if symbol or draw(st.booleans()) else "") + draw(_dso)


_srclines = st.sampled_from(
    [
        "  malloc.c:4140",
        "  malloc.c:3315 (inlined)",
        "  [JIT] tid 8962[7fb420ed41da]",
        "  libc-2.33.so[27b25]",
        "  ??:0",
        "   not a srcline",
        "  ",
        "\t",
    ]
)


def _agree(text: str) -> None:
    fast = scan_line(text)
    if fast is not None:
        assert fast == perf_lark.parse_line(text), text


@SETTINGS
@given(_headers(plain=False))
def test_generated_headers_agree(header: tuple[str, str, int]) -> None:
    _agree(header[0])


@SETTINGS
@given(_headers(plain=True))
def test_generated_plain_headers_round_trip(header: tuple[str, str, int]) -> None:
    text, comm, tid = header
    record = perf_lark.parse_line(text)
    assert isinstance(record, PerfRecord), (text, record)
    assert (record.comm, record.tid) == (comm, tid), text
    fast = scan_line(text)
    assert fast is None or fast == record, text


@SETTINGS
@given(_frames())
def test_generated_frames_agree(frame: str) -> None:
    _agree(frame)


@SETTINGS
@given(st.one_of(_srclines, st.text(alphabet=" \t#:()[]ab01.", max_size=20)))
def test_generated_other_lines_agree(text: str) -> None:
    _agree(text)
