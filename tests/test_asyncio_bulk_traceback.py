"""The bulk path for whole never-retrieved records (`asyncio_bulk_traceback`) reads them as
the grammar engine does.

Every record the bulk path reads in a block must be the record the assembler builds from the
grammar's reading of the block's lines (`asyncio_lark.parse_line`), with the same line span:
on every fixture and public log, on generated records followed by the lines that do and do not
close them, and on such records with one line mutated. Whole logs are compared engine against
engine in test_asyncio_parsers_agree.py.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import examples
from test_asyncio_parsers_agree import (
    FIXTURE_LINES,
    FIXTURES,
    FRAGMENTS,
    INCIDENT_LOGS,
    PUBLIC,
    PUBLIC_LINES,
    future_reprs,
    mutated,
)

from analyzer.formats import asyncio as asyncio_format
from analyzer.formats import asyncio_bulk_traceback, asyncio_lark
from analyzer.formats.asyncio_assemble import Assembler
from analyzer.formats.asyncio_bulk_traceback import ContinuationKinds, traceback_records
from analyzer.inputs import iter_line_chunks


def _grammar_records(lines: list[str]) -> dict[int, dict]:
    """The grammar engine's records of the lines, by first line."""
    assembler = Assembler(asyncio_lark.parse_line)
    for number, line in enumerate(lines, 1):
        assembler.feed(number, line)
    assembler.finish()
    rows = asyncio_format.records_to_table(assembler.records, "in").to_pylist()
    return {row["line_start"]: row for row in rows}


def _agree(text: str) -> int:
    """How many records the bulk path reads in the text; each as the grammar engine."""
    block = text.encode()
    if b"\r" in block:
        return 0
    lines = text.split("\n")
    newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    read = traceback_records(block, newlines, list(range(len(lines))), "in", 1, ContinuationKinds())
    assert read.table.num_rows == len(read.heads)
    rows = read.table.to_pylist()
    if not rows:
        return 0
    grammar = _grammar_records(lines)
    spans = [range(row["line_start"] - 1, row["line_end"]) for row in rows]
    assert read.lines.tolist() == [line for span in spans for line in span]
    for row in rows:
        assert row == grammar.get(row["line_start"]), text
    return len(rows)


def test_records_read_as_the_grammar_in_every_fixture_and_public_log() -> None:
    for path in [*FIXTURES, *INCIDENT_LOGS, *PUBLIC]:
        try:
            text = path.read_bytes().decode()
        except UnicodeDecodeError:
            continue
        _agree(text.rstrip("\n"))


_RECORD = [
    "2023-11-14 22:13:21,817 ERROR asyncio: Task exception was never retrieved",
    "future: <Task finished name='Task-9' coro=<fetch() done, defined at /srv/c.py:12> "
    "exception=ValueError('x')>",
    "Traceback (most recent call last):",
    '  File "/srv/c.py", line 14, in fetch',
    "    raise ValueError('x')",
    "ValueError: x",
]
_AFTER = "2023-11-14 22:13:22,001 INFO app: done"


def test_every_fixture_and_public_line_inside_a_record_reads_as_the_grammar() -> None:
    """Each real line as a traceback line and as the exception line of a record, and as
    the line after one: the records read are the grammar engine's (the logs themselves
    hold no record of the plain shape followed by a plain time)."""
    lines = []
    for line in [*FIXTURE_LINES, *PUBLIC_LINES]:
        if "\r" in line or "\n" in line:
            continue
        lines += [*_RECORD[:4], line, *_RECORD[5:], _AFTER]
        lines += [*_RECORD[:5], line, _AFTER]
        lines += [*_RECORD, line]
    assert _agree("\n".join(lines)) > 1000  # (2268: the frame, code and exception lines)


HEADS = st.builds(
    lambda time, level, pad, logger, cls: (
        f"{time} {level}{pad}{logger}: {cls} exception was never retrieved"
    ),
    st.sampled_from(["2023-11-14 22:13:21,817", "2026-12-05T08:13:03.5", "2024-02-30 00:00:00"]),
    st.sampled_from(["ERROR", "WARNING", "CRITICAL"]),
    st.sampled_from([" ", "   "]),
    st.sampled_from(["asyncio", "app.tasks", "aiodebug-1"]),
    st.sampled_from(["Task", "Future"]),
)
FRAMES = st.lists(
    st.tuples(
        st.sampled_from(["/srv/app/client.py", "uvloop/loop.pyx", "<string>", "C:\\a b.py"]),
        st.integers(1, 999),
        st.sampled_from(["fetch", "<module>", "run"]),
        st.sampled_from(["", "    data = await reader.read(65536)", "    ^^^^^", "  | x"]),
    ),
    min_size=0,
    max_size=4,
)
EXCEPTION_LINES = st.sampled_from(
    [
        "ConnectionResetError: [Errno 104] Connection reset by peer",
        "asyncio.exceptions.CancelledError",
        "ValueError:",
        "KeyError: 'a'",
        "ERROR: x",
        "RuntimeWarning: Enable tracemalloc to get the object allocation traceback",
        "Traceback (most recent call last):",
    ]
)
NEXT_LINES = st.sampled_from(
    [
        "2023-11-14 22:13:22,001 INFO app.worker: processed job 7 in 3 ms",
        "2023-11-14 22:13:22 WARNING asyncio: Executing <Task pending name='Task-1'> took 0.2 "
        "seconds",
        "",
        "During handling of the above exception, another exception occurred:",
        "2023-11-14T22:13:21Z host app[1]: x",
        "web-1  | 2023-11-14 22:13:22,001 INFO x: y",
        "    more",
    ]
)


@st.composite
def records(draw: st.DrawFn) -> list[str]:
    lines = [draw(HEADS), f"{draw(st.sampled_from(['future', 'task']))}: "]
    lines[1] += draw(future_reprs("3.12"))
    lines.append("Traceback (most recent call last):")
    for path, number, function, code in draw(FRAMES):
        lines.append(f'  File "{path}", line {number}, in {function}')
        if code:
            lines.append(code)
    lines.append(draw(EXCEPTION_LINES))
    return lines


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(st.tuples(records(), NEXT_LINES), min_size=1, max_size=3))
def test_generated_records_read_as_the_grammar(items: list[tuple[list[str], str]]) -> None:
    lines = [line for record, after in items for line in [*record, after]]
    _agree("\n".join(lines))


def test_generated_records_are_read() -> None:
    """The plain shape is read (so that the comparisons above compare something), and one
    not closed by its next line is not."""
    record, after = _RECORD, _AFTER
    assert _agree("\n".join([*record, after, *record, after])) == 2
    assert _agree("\n".join([*record, "", after])) == 0
    assert _agree("\n".join(record)) == 0


@settings(max_examples=examples(600), deadline=None)
@given(
    records(),
    st.integers(0, 20),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.sampled_from(["delete", "insert", "truncate", "double"]),
    st.sampled_from([*FRAGMENTS, '  File "', "Traceback", ": ", "\\", "Error"]),
)
def test_mutated_records_read_as_the_grammar(
    record: list[str], which: int, at: int, length: int, how: str, fragment: str
) -> None:
    which %= len(record)
    record[which] = mutated(record[which], at, length, how, fragment)
    _agree("\n".join([*record, _AFTER]))


@settings(max_examples=examples(40), deadline=None)
@given(st.lists(st.tuples(records(), NEXT_LINES), min_size=1, max_size=40))
def test_fast_engine_with_the_bulk_records_is_the_grammar_engine(
    items: list[tuple[list[str], str]],
) -> None:
    """Whole logs of such records (each with the lines after it, and a slow-callback line
    between them) read by both engines, the bulk path taking every chunk (its minimum of
    candidate lines set to 0): the same records, unparsed lines and counts."""
    slow = (
        "2023-11-14 22:13:22,5 WARNING asyncio: Executing <Task pending name='Task-2' "
        "coro=<run() running at /srv/r.py:9>> took 0.300 seconds"
    )
    lines = [line for record, after in items for line in [*record, after, slow]]
    text = "\n".join(lines) + "\n"
    read = []

    def spy(*args: object, **kwargs: object) -> object:
        rows, covered = asyncio_bulk_traceback.traceback_rows(*args, **kwargs)  # type: ignore[arg-type]
        read.append(len(rows.indexes))
        return rows, covered

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncio_format, "TRACEBACK_BULK_LINES", 0)
        patch.setattr(asyncio_format, "traceback_rows", spy)
        parsed = {
            engine: asyncio_format.parse(
                iter_line_chunks(io.BytesIO(text.encode()), chunk_bytes=4096), "-", engine=engine
            )
            for engine in ("fast", "lark")
        }
    fast, lark = parsed["fast"], parsed["lark"]
    assert asyncio_format.table_to_records(fast.loop_events) == asyncio_format.table_to_records(
        lark.loop_events
    )
    assert fast.unparsed.to_pylist() == lark.unparsed.to_pylist()
    assert (fast.record_lines, fast.application_lines) == (
        lark.record_lines,
        lark.application_lines,
    )
    assert read  # the bulk path was asked (what it read: the other tests)


def test_fast_engine_reads_the_plain_records_in_bulk() -> None:
    """On a log of the plain shape, the bulk path reads the records (so that the comparison
    above compares it), and the engines agree."""
    lines = [line for _ in range(200) for line in [*_RECORD, _AFTER]]
    text = "\n".join(lines) + "\n"
    read = []
    original = asyncio_bulk_traceback.traceback_rows

    def spy(*args: object, **kwargs: object) -> object:
        rows, covered = original(*args, **kwargs)  # type: ignore[arg-type]
        read.append(len(rows.indexes))
        return rows, covered

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncio_format, "traceback_rows", spy)
        fast = asyncio_format.parse(iter_line_chunks(io.BytesIO(text.encode())), "-")
    lark = asyncio_format.parse(iter_line_chunks(io.BytesIO(text.encode())), "-", engine="lark")
    assert sum(read) == 200
    assert asyncio_format.table_to_records(fast.loop_events) == asyncio_format.table_to_records(
        lark.loop_events
    )
    assert fast.record_lines == lark.record_lines == 1200
