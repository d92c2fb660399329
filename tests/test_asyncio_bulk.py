"""The bulk path (`asyncio_bulk`) and the remembering line reader (`asyncio_scan.CachedReader`)
read lines exactly as the grammar does.

Each line the bulk path reads must give the record the assembler builds from the grammar's
reading of it (`asyncio_lark.parse_line`): on every fixture and public line, on those lines
mutated, and on generated ``Executing`` lines in the plain envelope. Whole logs are compared
engine against engine in test_asyncio_parsers_agree.py (its generated logs hold such lines).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import examples
from test_asyncio_parsers_agree import (
    FIXTURE_LINES,
    FRAGMENTS,
    PUBLIC_LINES,
    future_reprs,
    mutated,
)

from analyzer.formats import asyncio as asyncio_format
from analyzer.formats import asyncio_bulk, asyncio_lark, asyncio_scan
from analyzer.formats.asyncio_assemble import Assembler


def _grammar_record(line: str) -> list[dict]:
    """The records the grammar engine makes of the line alone."""
    assembler = Assembler(asyncio_lark.parse_line)
    assembler.feed(7, line)
    assembler.finish()
    return asyncio_format.records_to_table(assembler.records, "in").to_pylist()


def _bulk_record(line: str) -> list[dict] | None:
    """The bulk path's record of the line alone (None: it leaves the line to the parser)."""
    block = line.encode()
    if b"\n" in block or b"\r" in block:
        return None
    bulk = asyncio_bulk.slow_records(block, ([0], [0]), "in", 7)
    assert len(bulk.indexes) == bulk.table.num_rows
    return bulk.table.to_pylist() if bulk.table.num_rows else None


def _agree(line: str) -> bool:
    """Whether the bulk path reads the line; where it does, as the grammar."""
    bulk = _bulk_record(line)
    if bulk is not None:
        assert bulk == _grammar_record(line), line
    return bulk is not None


def test_bulk_lines_read_as_the_grammar_on_every_fixture_line() -> None:
    read = sum(_agree(line) for line in [*FIXTURE_LINES, *PUBLIC_LINES])
    assert read >= 10  # the plain `Executing <Task ...>` lines of the research logs


@settings(max_examples=examples(600), deadline=None)
@given(
    st.sampled_from([line for line in FIXTURE_LINES if "Executing <" in line]),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.sampled_from(["delete", "insert", "truncate", "double"]),
    st.sampled_from([*FRAGMENTS, "name='", "'", " wait_for=<Future pending>", ":12", "\\"]),
)
def test_bulk_lines_read_as_the_grammar_on_mutated_lines(
    line: str, at: int, length: int, how: str, fragment: str
) -> None:
    _agree(mutated(line, at, length, how, fragment))


TIMES = st.builds(
    lambda date, sep, clock, fraction: f"{date}{sep}{clock}{fraction}",
    st.sampled_from(["2026-11-26", "2024-02-29", "2023-02-29", "0000-01-01", "2026-13-01"]),
    st.sampled_from([" ", "T"]),
    st.sampled_from(["15:08:39", "23:59:59", "24:00:00", "12:60:00", "00:00:60"]),
    st.sampled_from(["", ",013", ".5", ",123456", ".1234567"]),
)


@settings(max_examples=examples(400), deadline=None)
@given(
    TIMES,
    st.sampled_from(["WARNING", "INFO", "DEBUG", "ERROR", "CRITICAL"]),
    st.sampled_from([" ", "  ", "    "]),
    st.sampled_from(["asyncio", "asyncio.base_events", "aiodebug", "app-1", "x"]),
    future_reprs("3.12"),
    st.sampled_from(["0.153", "1", "12.000", "0.100", "99999999999", "1e3"]),
)
def test_generated_executing_lines_read_as_the_grammar(
    time: str, level: str, pad: str, logger: str, subject: str, took: str
) -> None:
    _agree(f"{time} {level}{pad}{logger}: Executing {subject} took {took} seconds")


def test_time_seconds_is_datetimes_reading() -> None:
    texts = [
        "2026-11-26 15:08:39,013",
        "2024-02-29T00:00:00",
        "1970-01-01 00:00:00.000001",
        "9999-12-31 23:59:59,999999",
        "0001-01-01 00:00:00",
        "2023-02-29 10:00:00",
        "2026-00-10 10:00:00",
        "2026-11-26 24:00:00",
    ]
    got = asyncio_bulk.time_seconds(pa.array(texts, pa.string())).to_pylist()
    for text, seconds in zip(texts, got, strict=True):
        match = re.fullmatch(r"(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)(?:[.,](\d+))?", text)
        assert match is not None
        parts = [int(part) for part in match.groups()[:6]]
        micro = int((match[7] or "0").ljust(6, "0"))
        try:
            expected = datetime(*parts, micro, tzinfo=timezone.utc).timestamp()  # type: ignore[misc]
        except ValueError:
            expected = None
        assert seconds == expected, text


@pytest.mark.parametrize("lines", [FIXTURE_LINES, PUBLIC_LINES], ids=["fixtures", "public"])
def test_cached_reader_reads_as_the_lazy_parser(lines: list[str]) -> None:
    """Each line twice (the second read from memory), and again with another time in its
    envelope (its message from memory)."""
    reader = asyncio_scan.CachedReader()
    for line in lines:
        for _ in range(2):
            read = reader(line)
            expected = asyncio_scan.parse_line_lazy(line)
            assert (read if not isinstance(read, asyncio_lark.LazyReason) else str(read)) == (
                expected if not isinstance(expected, asyncio_lark.LazyReason) else str(expected)
            ), line
        other = re.sub(r"^\d{4}-\d\d-\d\d", "1999-01-02", line)
        if other != line:
            read = reader(other)
            assert (read if not isinstance(read, asyncio_lark.LazyReason) else str(read)) == (
                asyncio_lark.parse_line(other)
            ), other


def _key_agree(line: str) -> bool:
    """Whether `key_lines` reads the line; where it does, as the grammar."""
    if "\n" in line or "\r" in line:
        return False
    read = asyncio_bulk.key_lines(line.encode())
    assert set(read) <= {line}
    if read:
        assert read[line] == asyncio_lark.parse_line(line), line
    return bool(read)


def test_key_lines_read_as_the_grammar_on_every_fixture_line() -> None:
    read = sum(_key_agree(line) for line in [*FIXTURE_LINES, *PUBLIC_LINES])
    assert read >= 10  # the research logs' `future: <Task finished ...>` lines


@settings(max_examples=examples(600), deadline=None)
@given(
    st.sampled_from([line for line in FIXTURE_LINES if line.startswith(("future: ", "task: "))]),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.sampled_from(["delete", "insert", "truncate", "double"]),
    st.sampled_from([*FRAGMENTS, "name='", "'", " result=(1, 2)", ":12", "\\", " exception=X"]),
)
def test_key_lines_read_as_the_grammar_on_mutated_lines(
    line: str, at: int, length: int, how: str, fragment: str
) -> None:
    _key_agree(mutated(line, at, length, how, fragment))


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(["future: ", "task: "]), future_reprs("3.12"))
def test_generated_key_lines_read_as_the_grammar(key: str, subject: str) -> None:
    _key_agree(key + subject)


def test_dense_and_sparse_blocks_read_the_same_records() -> None:
    """`slow_records` reads the matched lines in the block where candidate lines are most of
    it and in a copy of them where they are few: both give the same rows."""
    lines = [line for line in FIXTURE_LINES if "Executing <" in line and "\n" not in line]
    filler = "x" * 5000  # an application line that makes the candidate lines a small share
    dense = "\n".join(lines).encode()
    sparse = "\n".join(part for line in lines for part in (line, filler)).encode()

    def read(block: bytes, step: int) -> pa.Table:
        offsets = [0]
        for _ in range(len(lines) * step - 1):
            offsets.append(block.index(b"\n", offsets[-1]) + 1)
        picked = list(range(0, len(offsets), step))
        hits = ([offsets[i] for i in picked], picked)
        table = asyncio_bulk.slow_records(block, hits, "in", 1).table
        return table.drop_columns(["line_start", "line_end"])

    dense_rows = read(dense, 1)
    assert dense_rows.num_rows >= 10
    assert 2 * sum(len(line.encode()) for line in lines) < len(sparse)
    assert read(sparse, 2).equals(dense_rows)
