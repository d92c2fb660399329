"""The shortcuts of the strace hot path against the plain computations they replace: the
line split, the fixed-offset timestamp and duration reads, the splice of a few lines into a
chunk's records, pairing only the groups that hold halves, the chunk-wise gather, the
byte-level fd read and the split-at-quotes read of the first quoted argument. Lines written
here by hand are marked as such."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strace_traces import TRACES, parsed_in_small_chunks

from analyzer.derive import strace_calls, strace_fds
from analyzer.formats import strace, strace_lark
from analyzer.formats.strace_bytes import simple_mask
from analyzer.formats.strace_record import Unparsed
from analyzer.formats.strace_scan import merge_by_line, scan
from analyzer.inputs import _split_lines, split_with_numpy


@pytest.mark.parametrize(
    "block",
    [
        b"",
        b"a",
        b"\n",
        b"\n\n",
        b"a\n\nb",
        b"x\r\ny\r",
        "caf\u00e9\nna\u00efve".encode(),
        b"ok\n\xff\xfe",
    ],
)
def test_split_equals_the_numpy_split(block: bytes) -> None:
    lines, bad = _split_lines(bytearray(block))
    try:
        expected = split_with_numpy(block)
        expected.validate(full=True)
    except pa.ArrowInvalid:
        assert bad == 1
        return
    if b"\r" in block:
        expected = pc.utf8_rtrim(expected, characters="\r")
    assert bad == 0
    assert lines.to_pylist() == expected.to_pylist()


# Hand-written: one chunk that mixes every clock width, epoch times, pid paddings and
# duration widths, so that the fixed-offset reads and their fallbacks meet in one chunk.
MIXED_LINES = [
    '1234  10:00:00.000001 read(3, "a", 1) = 1 <0.000004>',
    '1234 10:00:00 read(3, "a", 1) = 1 <0.000004>',
    '7        10:00:00.123 write(1, "b", 1) = 1 <12.5>',
    "10:00:00.123456789 close(3) = 0 <0.000000123>",
    "1700000000.123456 getpid() = 1234 <0.000002>",
    "99 1700000000.123456789 getpid() = 99 <123456789.123456789>",
    "1234  23:59:59.999999 futex(0x1, FUTEX_WAIT, 0, NULL <unfinished ...>",
    "1235  00:00:00.000001 <... futex resumed>) = -1 EAGAIN (Resource temporarily unavailable)"
    " <0.5>",
    '1234  00:00:00.000002 openat(AT_FDCWD, "/x", O_RDONLY)'
    " = -1 ENOENT (No such file or directory)",
    "1234  00:00:00.000003 a_very_long_syscall_name_for_the_window(1) = 0 <0.000001>",
    "1234  00:00:00.000004 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, -1, 0)"
    " = 0x7f3f1f6df000 <0.000001>",
    "1234  00:00:00.000005 umask(022) = 022 <0.000004>",
    "00:00:00.000006 exit_group(0) = ?",
]


def test_fast_scan_equals_grammar_on_a_mixed_chunk() -> None:
    lines = pa.array(MIXED_LINES, pa.string())
    assert simple_mask(lines).all()  # every line goes through the byte-level tier
    table, leftover = scan(lines, pa.array(np.arange(1, len(MIXED_LINES) + 1), pa.int64()))
    assert not leftover.any()
    expected = [strace_lark.parse_line(line) for line in MIXED_LINES]
    assert not any(isinstance(record, Unparsed) for record in expected)
    assert [record for _, record in strace.table_to_records(table)] == expected


def _records(first: list[int], second: list[int]) -> tuple[pa.Table, pa.Table]:
    def table(numbers: list[int], tag: str) -> pa.Table:
        return pa.table(
            {
                "line_no": pa.array(numbers, pa.int64()),
                "tag": pa.array([tag] * len(numbers), pa.string()),
            }
        )

    return table(first, "a"), table(second, "b")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ([1, 2, 5, 6], [3, 4]),
        ([2, 3], [1]),
        ([1, 2], [3, 4]),
        ([1, 3, 3, 5], [3]),
        ([], [1, 2]),
        ([1, 2], []),
        (list(range(0, 400, 2)), list(range(1, 400, 2))),  # more runs than are spliced
        ([5, 1], [3]),  # not in order: sorted
    ],
)
def test_merge_by_line_is_a_stable_sort(first: list[int], second: list[int]) -> None:
    a, b = _records(first, second)
    merged = pa.concat_tables([a, b])
    expected = merged.take(pc.sort_indices(merged["line_no"]))
    assert merge_by_line(a, b).to_pylist() == expected.to_pylist()


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_pairing_only_groups_with_halves_equals_pairing_all(path: Path) -> None:
    view = strace_calls.LineView.build(parsed_in_small_chunks(path).lines, 0)
    assert view.in_line_order
    tids = strace_calls.effective_tids(view)
    fast = strace_calls.pair_halves(view, tids)
    # The general path sorts every call line and then the calls by line.
    general = strace_calls.pair_halves(dataclasses.replace(view, in_line_order=False), tids)
    for name in ("entry", "exit", "tid", "detached"):
        assert np.array_equal(getattr(fast, name), getattr(general, name)), name


def test_take_chunked_equals_take() -> None:
    values = pa.chunked_array([["a", None, "c"], [], ["d", "e"], ["f"]], pa.string())
    rows = np.array([5, -1, 0, 3, 1, 5, 2, -1], dtype=np.int64)
    expected = strace_calls.take(values.combine_chunks(), rows)
    assert strace_calls.take_chunked(values, rows).equals(expected)
    assert strace_calls.take_chunked(values, np.full(3, -1)).to_pylist() == [None] * 3
    assert strace_calls.take_chunked(values, np.zeros(0, np.int64)).to_pylist() == []


def _regex_fds(syscall: pa.Array, args: pa.Array) -> tuple[list, list]:
    """`decorated_fds` done with the regex on every fd-taking row, as it was."""
    rows = pc.is_in(syscall, value_set=pa.array(sorted(strace_fds.FD_FIRST_ARG)))
    decorated = pc.extract_regex(args, strace_fds._DECORATED_FD)
    fd = pc.cast(
        pc.if_else(pc.equal(decorated.field("fd"), ""), None, decorated.field("fd")), pa.int64()
    )
    target = decorated.field("target")
    target = pc.if_else(pc.equal(target, ""), pa.scalar(None, pa.string()), target)
    none = pa.scalar(None, pa.int64())
    return (
        pc.if_else(rows, fd, none).to_pylist(),
        pc.if_else(rows, target, pa.scalar(None, pa.string())).to_pylist(),
    )


def test_decorated_fds_read_from_bytes_equal_the_regex() -> None:
    # Hand-written first arguments: plain, negative, decorated, deleted, odd and overlong.
    args = [
        "7", "7, x", "-1, x", "7<pipe:[1]>, x", "7<a>b>, ", "007, ", "3,4", "", None, "x",
        "-", "-x", "12345678, ", "1234567, y", "1<", "1<>", "1<>, z", "1 ", "1,", "-0",
        "0x3, ", "3<a>(deleted), q", "3<a>(deleted)", "3<a>x", "4<TCP:[1->2]>", "2\u00e9, x",
        "9999999", "-9999999, ", "99999999",
    ]  # fmt: skip
    names = ["read" if i % 5 else "futex" for i in range(len(args))]
    syscall, values = pa.array(names, pa.string()), pa.array(args, pa.string())
    for start, stop in ((0, len(args)), (3, 17)):  # also a slice with an offset
        fd, target = strace_fds.decorated_fds(
            syscall.slice(start, stop - start), values.slice(start, stop - start)
        )
        expected = _regex_fds(syscall.slice(start, stop - start), values.slice(start, stop - start))
        assert (fd.to_pylist(), target.to_pylist()) == expected


def _regex_quoted(args: pa.Array) -> pa.Array:
    return pc.struct_field(pc.extract_regex(args, strace_fds._QUOTED), "text")


def test_first_quoted_equals_the_regex_on_hand_written_texts() -> None:
    # Hand-written: no quote, unclosed, empty, escaped quotes and backslashes, several quotes.
    args = [
        None, "", '"', '""', '"a"', 'AT_FDCWD, "/x/y", O_RDONLY', '"a\\"b", 3', '"abc\\"',
        '"abc\\\\"', 'x"a\\\\"b"c"', '"a"b"c"', "no quotes", '"unclosed', '"a\\nb"',
        '\\"x"y"', '"caf\u00e9"',
    ]  # fmt: skip
    values = pa.array(args, pa.string())
    for start, stop in ((0, len(args)), (4, 13)):  # also a slice with an offset
        part = values.slice(start, stop - start)
        assert strace_fds.first_quoted(part).to_pylist() == _regex_quoted(part).to_pylist()


@given(st.lists(st.one_of(st.none(), st.text(alphabet='ab"\\, x\u00e9', max_size=12)), max_size=20))
def test_first_quoted_equals_the_regex(texts: list[str | None]) -> None:
    values = pa.array(texts, pa.string())
    assert strace_fds.first_quoted(values).to_pylist() == _regex_quoted(values).to_pylist()


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_first_quoted_equals_the_regex_on_every_fixture_line(path: Path) -> None:
    args = parsed_in_small_chunks(path).lines["args"].combine_chunks()
    assert strace_fds.first_quoted(args).to_pylist() == _regex_quoted(args).to_pylist()
