"""The block reader (`perf_assemble.BlockReader`) builds exactly the rows of line-by-line reading.

The reference is the plain loop: every line through the scanner (the grammar when it declines)
and into an `Assembler`, one record at a time. The block reader cuts the input at blank lines,
reads whole samples at once and looks callchains and header templates up in dictionaries; on
every fixture (perf and not), with blocks cut at every size and anywhere, and on generated
inputs, its rows must be the same. The header templates rest on one claim about the scanner
(`perf_scan.header_time_span`), checked here on generated headers.
"""

from __future__ import annotations

import gc
import io
import random
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import examples

from analyzer.formats import perf_lark
from analyzer.formats.perf import chunk_bytes, parse
from analyzer.formats.perf_assemble import (
    SAMPLE_COLUMNS,
    SIDEBAND_COLUMNS,
    Assembler,
    BlockReader,
    gc_paused,
    parse_line,
)
from analyzer.formats.perf_record import PerfRecord
from analyzer.formats.perf_scan import header_time_span, scan_line
from analyzer.inputs import LineChunk, iter_line_chunks
from analyzer.schema import PERF_FRAMES, PERF_SAMPLES, PERF_SIDEBAND

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
PERF_FILES = sorted((ROOT / "perf").glob("*/*.txt")) + sorted(
    (ROOT / "diagnosis" / "logs").glob("*perf*.txt")
)
# inputs that are not perf script output: every line must still be kept or rejected alike
OTHER_FILES = [
    ROOT / "strace" / "logs" / "pool8.f_tt_T.log",
    ROOT / "diagnosis" / "logs" / "asyncio_server.perf_cpu.debug.log",
    ROOT / "perf" / "flamegraph-test" / "results" / "perf-vertx-stacks-01-collapsed-all.txt",
]
SETTINGS = settings(
    max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _rows(assembler: Assembler) -> dict[str, object]:
    return {
        "samples": assembler.samples,
        "stacks": assembler.stack_rows(),
        "frames": assembler.frame_rows(),
        "sideband": assembler.sideband,
        "rejected": assembler.rejected,
        "header": assembler.header,
    }


def _line_by_line(text: str) -> dict[str, object]:
    """The reference: one record per line, in order (lines as `analyzer.inputs` splits them)."""
    assembler = Assembler()
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    if text:
        for line_no, line in enumerate(lines, 1):
            assembler.add(line_no, line, parse_line(line))
    assembler.end()
    return _rows(assembler)


def _raw(data: bytes, cuts: list[int]) -> dict[str, object]:
    reader = BlockReader()
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        reader.feed_raw(data[start:cut])
        start = cut
    return _rows(reader.finish())


def _blocks(data: bytes, chunk_bytes_: int) -> dict[str, object]:
    reader = BlockReader()
    stream = io.BytesIO(data)
    for chunk in iter_line_chunks(stream, chunk_bytes=chunk_bytes_):
        reader.feed(chunk_bytes(chunk), chunk.first_line_no)
    return _rows(reader.finish())


def test_columns_are_the_schema_columns() -> None:
    assert tuple(PERF_SAMPLES.names) == SAMPLE_COLUMNS
    assert tuple(PERF_SIDEBAND.names) == SIDEBAND_COLUMNS
    assert len(PERF_FRAMES.names) == 7  # frame_id + the six fields of a FrameKey


@pytest.mark.parametrize(
    "path", PERF_FILES + OTHER_FILES, ids=lambda path: f"{path.parent.name}/{path.name}"
)
@pytest.mark.slow
def test_blocks_read_every_fixture_as_lines_do(path: Path) -> None:
    data = path.read_bytes()
    expected = _line_by_line(data.decode("utf-8"))
    assert _raw(data, []) == expected
    assert _blocks(data, 1 << 20) == expected
    assert _blocks(data, 300) == expected  # most samples cut across blocks
    rng = random.Random(path.name)
    assert _raw(data, [rng.randrange(len(data) + 1) for _ in range(40)]) == expected
    assert _raw(data, list(range(0, len(data), 7))) == expected


@pytest.mark.parametrize("path", PERF_FILES[:6], ids=lambda path: path.name)
def test_caches_that_restart_give_the_same_rows(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader forgets callchain text past `CACHE_LIMIT` and frame lines past
    `LINE_LIMIT`: with both tiny (restarting all the time) the rows are the same."""
    data = path.read_bytes()
    expected = _line_by_line(data.decode("utf-8"))
    monkeypatch.setattr(BlockReader, "LINE_LIMIT", 3)
    monkeypatch.setattr(BlockReader, "CACHE_LIMIT", 200)
    assert _blocks(data, 1 << 20) == expected


def test_engines_agree_through_parse() -> None:
    path = ROOT / "perf" / "research" / "variants.txt"
    with path.open("rb") as stream:
        fast = parse(iter_line_chunks(stream, chunk_bytes=2048), "x", engine="fast")
    with path.open("rb") as stream:
        slow = parse(iter_line_chunks(stream), "x", engine="lark", threads=1)
    for name in ("samples", "stacks", "frames", "sideband", "unparsed"):
        assert getattr(fast, name).equals(getattr(slow, name)), name


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "\n\n",
        "\n\n\n",
        "a 1 1.5: e:\n",
        "a 1 1.5: e:\n\n",
        "a 1 1.5: e:\n\tff f (d)\n",
        "a 1 1.5: e:\n\tff f (d)",
        "a 1 1.5: e:\n\tff f (d)\n\n",
        "a 1 1.5: e:\n\tff f (d)\n\n\n",
        "\n\na 1 1.5: e:\n\tff f (d)\n\n\tff g (d)\n",
        "a 1 1.5: e:\n\tff f (d)\nb 2 2.5: e:\n\tee g (d)\n\n",
        "a 1 1.5: e:\n\tff f (d)\n  malloc.c:1\n\n  malloc.c:2\n",
        "# header\na 1 1.5: e:\n# inside\n\tff f (d)\n \t\n\tff f (d)\n",
        "a 1 1.5: e: payload\n\tff f (d)\n\n",
        "a 1 1.5: e:  ff f (d)\n\tee g (d)\n\n",
        "a 1 PERF_RECORD_COMM: x\n\tff f (d)\n\n",
        "a\u00e9 1 1.5: e:\n\tff f\u00e9 (d)\n\n",
        "ev 1.5: 9 2.5: e:\n\tff f (d)\n\nev 7.5: 9 2.5: e:\n\tff f (d)\n\n",
        "a: 1 2.5: e:\n\tff f (d)\n\na: 1 2.5: e:\n\tff f (d)\n\n",
    ],
)
def test_edge_cases_at_every_cut(text: str) -> None:
    data = text.encode("utf-8")
    expected = _line_by_line(text)
    for cut in range(len(data) + 1):
        assert _raw(data, [cut]) == expected, cut
    for cut in range(len(data) + 1):
        for cut2 in range(cut, len(data) + 1):
            assert _raw(data, [cut, cut2]) == expected, (cut, cut2)


def test_long_runs_without_blank_lines_are_read_as_they_come() -> None:
    """A recording without callchains has no blank lines: the unfinished piece is read line by
    line once it passes `CARRY_LIMIT`, keeping the assembler's state across blocks."""
    path = ROOT / "perf" / "research" / "cpu_awkward_comm_nocallchain.txt"
    data = path.read_bytes() * 3 + (ROOT / "perf" / "research" / "variants.txt").read_bytes()
    expected = _line_by_line(data.decode("utf-8"))
    for limit in (1, 50, 1000):
        for raw in (True, False):
            reader = BlockReader()
            reader.CARRY_LIMIT = limit
            if raw:
                for start in range(0, len(data), 333):
                    reader.feed_raw(data[start : start + 333])
            else:
                stream = io.BytesIO(data)
                for chunk in iter_line_chunks(stream, chunk_bytes=333):
                    reader.feed(chunk_bytes(chunk), chunk.first_line_no)
            assert _rows(reader.finish()) == expected, (limit, raw)


def test_bad_utf8_is_read_as_backslash_escapes() -> None:
    data = b"a\xff 1 1.5: e:\n\tff f\xfe (d)\n\n\tff \xc3 (d)\n"
    expected = _line_by_line(data.decode("utf-8", "backslashreplace"))
    assert _raw(data, []) == expected
    assert _raw(data, [5, 17]) == expected


# ---------------------------------------------------------------------------------------------
# Generated inputs
# ---------------------------------------------------------------------------------------------

_lines = st.sampled_from(
    [
        "python3.12  8798   303.571566:    2004008 cpu-clock: ",
        "python3.12  8798   303.571567:    2004008 cpu-clock: ",
        "java 19983 cycles:",
        "io worker 1 11709 [001]   492.273049: sched:sched_switch: prev_comm=x prev_pid=1",
        "    :-1    -1 [000]     1.000001: cpu-clock:  ffffffff81 f ([kernel.kallsyms])",
        "x 1 PERF_RECORD_COMM exec: x:1/1",
        "# ========",
        "\t    7f1e214c24d9 sym+0x1d (/usr/lib/libc.so.6)",
        "\t    7f1e214c24d9 sym+0x1d (/usr/lib/libc.so.6)",
        "\tffffffff821e8bb6 copy_mc+0x6 ([kernel.kallsyms])",
        "\t               0 [unknown] ([unknown])",
        "\t    55d0c1 py::f:/x.py (/tmp/perf-1.map)",
        "\t    55d0c1 inl (inlined)",
        "     c6d7895aac9 LazyCompile:~body_0 evalmachine.<anonymous>:1 (/tmp/perf-3.map)",
        "7f9c33ac176d __libc_start_main (/lib/libc.so)",
        "  malloc.c:4140",
        "  malloc.c:3315 (inlined)",
        "",
        "",
        "",
        " \t",
        "not perf at all",
        "\tnot hex (x)",
    ]
)


@SETTINGS
@given(st.lists(_lines, max_size=40), st.lists(st.integers(0, 10_000), max_size=6))
def test_generated_inputs_read_alike(lines: list[str], cuts: list[int]) -> None:
    text = "\n".join(lines)
    data = text.encode("utf-8")
    expected = _line_by_line(text)
    assert _raw(data, [cut % (len(data) + 1) for cut in cuts]) == expected
    assert _raw(data + b"\n", []) == _line_by_line(text + "\n")


# headers in many layouts, with a time: the template claim of `header_time_span`
_word = st.text(alphabet="abz09_-./:[]()#'\"=+", min_size=1, max_size=6)
_blank = st.sampled_from([" ", "  ", "\t", " \t "])
_stamp = st.builds(
    lambda whole, fraction: f"{whole}.{fraction}",
    st.integers(0, 10**12).map(str),
    st.text(alphabet="0123456789", min_size=1, max_size=12),
)


@st.composite
def _timed_headers(draw: st.DrawFn) -> tuple[str, str, str]:
    """(text before the time, time, text after it) of a header-like line."""
    words = draw(st.lists(st.one_of(_word, st.integers(-1, 99).map(str)), min_size=1, max_size=4))
    prefix = ""
    for word in words:
        prefix += word + draw(_blank)
    if draw(st.booleans()):
        prefix = " " * draw(st.integers(1, 8)) + prefix
    task = draw(st.sampled_from(["1234", "-1", "12/34", "0/0"]))
    prefix += task + draw(_blank)
    if draw(st.booleans()):
        prefix += "[003]" + draw(_blank)
    if draw(st.booleans()):
        prefix += "2026-11-26 15:02:10.508630590" + draw(_blank)
    suffix = ":" + draw(_blank)
    if draw(st.booleans()):
        suffix += draw(st.integers(0, 10**9).map(str)) + draw(_blank)
    suffix += draw(st.sampled_from(["cpu-clock:", "cycles:u:", "a: b:", "PERF_RECORD_X", "x"]))
    suffix += draw(st.sampled_from(["", " ", "  ffff f (d)", "\tx", " p: 1"]))
    return prefix, draw(_stamp), suffix


@SETTINGS
@given(_timed_headers(), _stamp)
def test_a_header_reads_the_same_with_any_time(parts: tuple[str, str, str], other: str) -> None:
    prefix, stamp, suffix = parts
    text = prefix + stamp + suffix
    record = scan_line(text)
    if record is None or record.time_ns is None:
        return
    span = header_time_span(text)
    assert span is not None
    start, end = span
    changed = text[:start] + other + text[end:]
    again = scan_line(changed)
    assert again is not None
    whole, _, fraction = other.partition(".")
    assert again == record._replace(time_ns=int(whole + (fraction + "0" * 9)[:9]))
    assert again == perf_lark.parse_line(changed)


@SETTINGS
@given(st.lists(_timed_headers(), min_size=1, max_size=6), st.lists(_stamp, min_size=8))
def test_block_reader_templates_give_the_scanned_headers(
    headers: list[tuple[str, str, str]], stamps: list[str]
) -> None:
    lines = []
    for index, (prefix, stamp, suffix) in enumerate(headers * 2):
        time = stamp if index < len(headers) else stamps[index % len(stamps)]
        lines += [prefix + time + suffix, "\tff f (d)", ""]
    text = "\n".join(lines)
    assert _raw(text.encode("utf-8"), []) == _line_by_line(text)


_bare = st.text(alphabet="0123456789abcdefx :;()[]<>~*+.-_/\t", max_size=40)


@SETTINGS
@given(st.sampled_from(["", " ", "  ", "   ", "\t ", " \t"]), _bare)
def test_lines_without_an_event_word_agree(indent: str, body: str) -> None:
    """The scanner reads a line with no ``word:`` (nor PERF_RECORD_) as a bare frame."""
    text = indent + body
    fast = scan_line(text)
    if fast is not None:
        assert fast == perf_lark.parse_line(text), text


def test_strace_lines_are_bare_frames_for_both_parsers() -> None:
    """Why format detection must prefer strace on a tie (see analyzer.cli.fold)."""
    line = "8393  15:41:33.448126 brk(NULL)         = 0x9d86000 <0.000030>"
    record = scan_line(line)
    assert isinstance(record, PerfRecord) and record.kind == "frame" and record.addr == "8393"
    assert record == perf_lark.parse_line(line)


def test_templates_need_a_real_time() -> None:
    """A header around a template's time is read from it only when its time is digits.digits."""
    stamps = ["1.5", "x.5", "1.", ".5", "1.5.5", "-1.5", "1,5", "١.٥", "1.5x", "01.50", "1 .5"]
    text = "".join(f"a 1 {stamp}: e:\n\tff f (d)\n\n" for stamp in stamps * 2)
    expected = _line_by_line(text)
    assert _raw(text.encode("utf-8"), []) == expected
    assert expected["samples"]["event"][:3] == ["e", "x.5", "1."]  # type: ignore[index]


def test_chunk_bytes_is_the_text_of_the_lines() -> None:
    lines = pa.array(["x", "", "a\\xff b", "\u00e9", ""], pa.string())
    expected = "\n".join(lines.to_pylist()).encode("utf-8")
    assert chunk_bytes(LineChunk(1, lines, 0)) == expected
    assert chunk_bytes(LineChunk(1, lines.slice(2, 2), 0)) == "a\\xff b\n\u00e9".encode()
    assert chunk_bytes(LineChunk(1, pa.array(["", ""], pa.string()), 0)) == b"\n"
    data = b"a 1 1.5: e:\r\n\tff f (d)\r\r\n\r\n\xffx\r\n"
    stream = io.BytesIO(data)
    chunks = list(iter_line_chunks(stream))
    text = b"\n".join(chunk_bytes(chunk) for chunk in chunks)
    assert text.decode("utf-8").split("\n") == [
        line for chunk in chunks for line in chunk.lines.to_pylist()
    ]


def test_gc_pauses_nest_and_restore_the_collector() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.disable()
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
