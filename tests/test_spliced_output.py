"""The traced program's output printed into the lines of the write that printed it (issue 14,
item 8): the call is read, the output kept as such.

The logs are real (fixtures/public/strace, provenance in fixtures/public/PROVENANCE.md); the
few hand-written lines are marked as such.
"""

from __future__ import annotations

import pytest
from support import FIXTURES

from analyzer.formats import strace
from analyzer.formats.strace_mend import parse_lines
from analyzer.formats.strace_output import output_lines
from analyzer.formats.strace_record import StraceRecord
from analyzer.inputs import iter_line_chunks, open_input

PUBLIC = FIXTURES / "public/strace"
TOKIO = "tokio_uring_cat_io_uring_spliced.log"
GO_SIEVE = "go_sieve_f_stdout_interleaved_tail.log"
CUPSD = "cupsd_segv_i386_2007.log"


def _records(name: str, engine: str) -> tuple[dict[int, StraceRecord], dict[int, str]]:
    source = open_input(PUBLIC / name)
    try:
        parsed = strace.parse(iter_line_chunks(source.stream), name, engine=engine)
    finally:
        source.close()
    unparsed = {row["line_no"]: row["reason"] for row in parsed.unparsed.to_pylist()}
    return dict(strace.table_to_records(parsed.lines)), unparsed


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_output_inside_one_call_line(engine: str) -> None:
    """``write(2, "Err", 3Err)                      = 3``: the stderr of a tokio example."""
    records, unparsed = _records(TOKIO, engine)
    assert unparsed == {}
    calls = {line: records[line] for line in (20, 21, 25, 30)}
    assert [(call.args, call.retval, call.text) for call in calls.values()] == [
        ('2, "[", 1', 1, "["),
        ('2, "examples/cat.rs", 15', 15, "examples/cat.rs"),
        (
            '2, "file.write_at(b\\"Hello World\\".to_"..., 47',
            47,
            'file.write_at(b"Hello World".to_vec(), 0).await',
        ),
        ('2, "Err", 3', 3, "Err"),
    ]
    assert all(call.kind == "syscall" and call.syscall == "write" for call in calls.values())


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_output_ending_a_line_then_the_call_on_the_next(engine: str) -> None:
    """``write(2, "(\\n", 2(`` then ``)                      = 2``."""
    records, _ = _records(TOKIO, engine)
    assert records[27] == StraceRecord("output", text="(")
    call = records[28]
    assert (call.kind, call.args, call.retval, call.text) == ("syscall", '2, "(\\n", 2', 2, None)


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_output_of_threads_with_digits_after_the_count(engine: str) -> None:
    """Go's stdout: ``[pid 29797] write(1, "11\\n", 311`` then ``)         = 3``, and an
    entry half ``write(1, "5\\n", 25`` then `` <unfinished ...>``."""
    records, unparsed = _records(GO_SIEVE, engine)
    assert records[17] == StraceRecord("output", pid=29797, text="11")
    assert (records[18].kind, records[18].pid, records[18].args, records[18].retval) == (
        "syscall",
        29797,
        '1, "11\\n", 3',
        3,
    )
    assert records[1] == StraceRecord("output", pid=29797, text="5")
    assert (records[2].kind, records[2].args) == ("unfinished", '1, "5\\n", 2')
    assert records[36] == StraceRecord("output", pid=29800, text="19")
    assert unparsed == {}


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_output_on_the_lines_after_the_write(engine: str) -> None:
    """``[pid 29797] write(1, "7\n", 2 <unfinished ...>`` then ``7`` alone on the next line."""
    records, _ = _records(GO_SIEVE, engine)
    assert records[13] == StraceRecord("output", pid=29797, text="7")
    assert records[39] == StraceRecord("output", pid=29800, text="23")
    assert records[50] == StraceRecord("output", pid=29801, text="29")
    assert sum(record.kind == "output" for record in records.values()) == 8
    transcript, unparsed = _records("de_notes_static_hello_terminal_transcript.log", engine)
    assert transcript[4] == StraceRecord("output", text="Hello World")
    assert 4 not in unparsed


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_output_of_digits_right_after_the_count(engine: str) -> None:
    """``write(2, "24", 224)                       = 2``: a call as printed, but a complete
    write prints its whole string, so the count is 2 and ``24`` was printed into the line."""
    records, _ = _records(TOKIO, engine)
    call = records[23]
    assert (call.args, call.retval, call.text) == ('2, "24", 2', 2, "24")


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_output_of_a_capture_of_this_project(engine: str) -> None:
    """fixtures/strace/research: a program's stderr shared with strace's (its script there)."""
    path = FIXTURES / "strace/research/logs/variants/interleaved_stderr.log"
    source = open_input(path)
    try:
        parsed = strace.parse(iter_line_chunks(source.stream), path.name, engine=engine)
    finally:
        source.close()
    records = dict(strace.table_to_records(parsed.lines))
    assert parsed.unparsed.num_rows == 0
    assert records[1] == StraceRecord("output", text="hello from tracee")
    assert (records[2].args, records[2].retval) == ('2, "hello from tracee\\n", 18', 18)


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_output_of_a_string_cut_by_s_is_counted_in_bytes(engine: str) -> None:
    """strace 4.x, ``-s 32``: ``write(2, "cupsd: Child exited on signal 11"..., 34cupsd: ...``
    then ``) = 34``: the output is the 34 bytes written, of which strace printed 32."""
    records, unparsed = _records(CUPSD, engine)
    assert records[30] == StraceRecord("output", text="cupsd: Child exited on signal 11!")
    assert (records[31].syscall, records[31].retval) == ("write", 34)
    assert 30 not in unparsed and 31 not in unparsed


@pytest.mark.parametrize(
    "lines",
    [
        # Hand-written: text after the count that is not what the write printed.
        ['write(1, "ab", 2xy) = 2'],
        ['write(1, "ab\\n", 3ab', "xy) = 3"],
        ['write(1, "ab"..., 40ab', ") = 40"],
        # Hand-written: a read's string is not printed by the program.
        ['read(0, "ab", 2ab) = 2'],
    ],
)
def test_text_that_is_not_the_writes_output_is_not_taken_for_it(lines: list[str]) -> None:
    parsed, rejected = parse_lines(list(range(1, len(lines) + 1)), lines)
    assert parsed == []
    assert [line_no for line_no, _, _ in rejected] == list(range(1, len(lines) + 1))


def test_a_line_after_a_write_that_is_not_its_output_stays_unparsed() -> None:
    """Hand-written: ``8`` after a write of ``7``, and ``7`` five lines after it."""
    lines = ['write(1, "7\\n", 2) = 2', "8", "close(3) = 0", "close(4) = 0", "close(5) = 0", "7"]
    parsed, rejected = parse_lines(list(range(1, len(lines) + 1)), lines)
    outputs, kept = output_lines(strace.records_to_table(parsed), rejected)
    assert outputs == []
    assert [line_no for line_no, _, _ in kept] == [2, 6]
    outputs, kept = output_lines(strace.records_to_table(parsed), [(2, "7", "unexpected '7'")])
    assert outputs == [(2, StraceRecord("output", text="7"))]
    assert kept == []
