"""Reading strace lines with the grammar, mending the calls that strace's own messages, or the
traced program's output, cut. Exit, signal, ``strace:`` and ``-k`` frame lines are read first
without it (`strace_events`): most captures then never import Lark.

Pure Python (no pyarrow), so that the fast `fold` command line decides "is this strace?"
exactly as `strace.sniff` does without importing the columnar reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from analyzer.formats.strace_events import parse_event_line
from analyzer.formats.strace_record import StraceRecord, Unparsed
from analyzer.lazy import lazy_module

if TYPE_CHECKING:
    from analyzer.formats import strace_lark
else:
    strace_lark = lazy_module("analyzer.formats.strace_lark")

_MESSAGE_INSIDE = re.compile(
    r"^(?P<fragment>.+?)"
    r"(?P<message>(?:\^C)?(?:strace: )?Process \d+ (?:attached|detached).*"
    r"| \[wait\(0x[0-9a-f]+\) = \d+\] .*)$"
)
# The entry half of a write as strace prints it before the call returns: the program's output
# can follow it on the terminal before strace prints the rest.
_WRITE_ENTRY = re.compile(
    r'^(?:.*? )?write\([0-9]+, (?P<string>"(?:[^"\\]|\\.)*"(?:\.\.\.)?), (?P<count>[0-9]+)'
)
_OUTPUT_LOOKAHEAD = 8
"""Lines looked past for the end of a write whose output was spliced into its line."""
_DETACHED_END = " <detached ...>"
_DETACH_LOOKAHEAD = 4
"""Lines looked past (blank, or strace's messages) for the `` <detached ...>`` that ends a call."""
GRAMMAR_LINE_CAP = 128 << 10
"""Longest line given to the grammar: its lexer needs about 1 KB per character of a string
it cannot close (5 MB took 5.6 GB). The scanner reads longer well-formed call lines."""
TOO_LONG_FOR_GRAMMAR = f"a line over {GRAMMAR_LINE_CAP:,} characters that is no plain call line"


def parse_line(text: str) -> StraceRecord | Unparsed:
    """The grammar's record of one line: exit, signal, `strace:` and `-k` frame lines read
    without it (`strace_events`), the others by the grammar."""
    record = parse_event_line(text)
    return record if record is not None else strace_lark.parse_line(text)


def parse_lines(
    line_numbers: list[int],
    texts: list[str],
    check: Callable[[StraceRecord | Unparsed], StraceRecord | Unparsed] = lambda result: result,
    *,
    events: bool = True,
) -> tuple[list[tuple[int, StraceRecord]], list[tuple[int, str, str]]]:
    """Grammar-parse lines, mending lines split by a `strace: Process N attached` message
    or by a pre-4.13 `-d` wait report. With `events`, exit, signal, `strace:` and frame lines are
    read by `strace_events` (`parse_line`); without, every line by the grammar (the reference
    engine, ``engine="lark"``).

    Without `-o`, strace and the trace share stderr, so a call can be cut by the message:
    ``clone3({...}strace: Process 8378 attached`` then `` => {...}, 88) = 8378``, or
    ``brk(0x78f000 [wait(0x057f) = 23] WIFSTOPPED,sig=SIGTRAP`` then ``)   = 0x78f000``. The
    first line becomes the message and the joined call is recorded on the second line. When
    `strace -p` is interrupted, the call in progress can end a few lines on, after the detach
    message: ``nanosleep({50, 0}, ``, a blank line, ``^CProcess 26587 detached``, then
    `` <detached ...>``; the call is recorded on its first line, and the closing line is counted
    as unparsed with a reason that points there.

    When the traced program's stdout or stderr is strace's terminal or file, what a write
    prints lands after the write's entry half: ``write(2, "Err", 3Err) = 3``, or over lines,
    ``write(1, "11\\n", 311`` then ``)         = 3``. The write's own string says what was
    printed (or, cut by ``-s``, how it begins and its length): the call is joined without it,
    and the output is kept in the records, line by line: a line of output alone is an
    ``output`` record, the output before the call's end is the `text` of the call's record,
    which is on the line where the call ends (`_spliced_output`).
    """
    parsed: list[tuple[int, StraceRecord]] = []
    rejected: list[tuple[int, str, str]] = []
    ends: dict[int, int] = {}  # index of a " <detached ...>" line -> line of its call
    read = parse_line if events else strace_lark.parse_line
    index = 0
    while index < len(texts):
        line_no, text = line_numbers[index], texts[index]
        if index in ends:
            rejected.append((line_no, text, f"the end of the call on line {ends.pop(index)}"))
            index += 1
            continue
        if len(text) > GRAMMAR_LINE_CAP:
            rejected.append((line_no, text, TOO_LONG_FOR_GRAMMAR))
            index += 1
            continue
        result = check(read(text))
        split = _MESSAGE_INSIDE.match(text) if isinstance(result, Unparsed) else None
        if split and index + 1 < len(texts) and line_numbers[index + 1] == line_no + 1:
            joined = check(strace_lark.parse_line(split["fragment"] + texts[index + 1]))
            if not isinstance(joined, Unparsed):
                parsed.append((line_no, StraceRecord(kind="message", text=split["message"])))
                parsed.append((line_no + 1, joined))
                index += 2
                continue
        unparsed = isinstance(result, Unparsed)
        spliced = _spliced_output(line_numbers, texts, index, check) if unparsed else []
        if spliced:
            parsed.extend(spliced)
            index += len(spliced)
            continue
        end = _detached_end(line_numbers, texts, index, read) if unparsed else None
        if end is not None:
            result = check(strace_lark.parse_line(text + _DETACHED_END))
            ends[end] = line_no
        if isinstance(result, Unparsed):
            rejected.append((line_no, text, result.reason))
        else:
            parsed.append((line_no, result))
        index += 1
    return parsed, rejected


def _detached_end(
    line_numbers: list[int],
    texts: list[str],
    index: int,
    read: Callable[[str], StraceRecord | Unparsed],
) -> int | None:
    """The index of the `` <detached ...>`` line that ends the call begun on line `index`, when
    only blank lines and strace's messages come between; None otherwise."""
    if isinstance(strace_lark.parse_line(texts[index] + _DETACHED_END), Unparsed):
        return None
    for ahead in range(index + 1, min(index + 1 + _DETACH_LOOKAHEAD, len(texts))):
        if line_numbers[ahead] != line_numbers[ahead - 1] + 1:
            return None
        if texts[ahead].rstrip() == _DETACHED_END:
            return ahead
        between = read(texts[ahead]) if texts[ahead].strip() else None
        if isinstance(between, Unparsed) or (between is not None and between.kind != "message"):
            return None
    return None


def _spliced_output(
    line_numbers: list[int],
    texts: list[str],
    index: int,
    check: Callable[[StraceRecord | Unparsed], StraceRecord | Unparsed],
) -> list[tuple[int, StraceRecord]]:
    """The records of a write on line `index` whose output was printed into its line (one per
    line, the call on the last), or an empty list when the lines are not such a write."""
    entry = _WRITE_ENTRY.match(texts[index])
    if entry is None:
        return []
    (string,) = strace_lark.decode_args(entry["string"])
    if not isinstance(string, strace_lark.Str):
        return []
    written = string.value.decode("utf-8", "replace")
    digits = entry["count"]
    # The output may begin with digits too ("write(1, "5\\n", 25"): the count is the length
    # of the whole string, or, cut by -s, at least the length printed.
    for width in range(1, len(digits) + 1):
        count = int(digits[:width])
        if count != len(string.value) and (not string.truncated or count < len(string.value)):
            continue
        start = entry.start("count") + width
        if string.truncated:
            pieces = _output_by_size(line_numbers, texts, index, start, written, count)
        else:
            pieces = _output_by_text(line_numbers, texts, index, start, written)
        if not pieces or pieces == [""]:
            continue
        last = index + len(pieces) - 1
        end = texts[last][start:] if last == index else texts[last]
        call = check(strace_lark.parse_line(texts[index][:start] + end[len(pieces[-1]) :]))
        if isinstance(call, Unparsed) or call.syscall != "write" or call.kind == "resumed":
            continue
        records = [
            (line_numbers[index + offset], StraceRecord("output", call.pid, call.comm, text=piece))
            for offset, piece in enumerate(pieces[:-1])
        ]
        records.append((line_numbers[last], call._replace(text=pieces[-1] or None)))
        return records
    return []


def _next_line(line_numbers: list[int], texts: list[str], index: int, at: int) -> bool:
    """Whether line `at` exists, follows line `at - 1` and is near enough to line `index`."""
    return (
        at < len(texts)
        and at - index <= _OUTPUT_LOOKAHEAD
        and line_numbers[at] == line_numbers[at - 1] + 1
    )


def _output_by_text(
    line_numbers: list[int], texts: list[str], index: int, start: int, written: str
) -> list[str]:
    """The output on each line from column `start` of line `index`: `written`, whole."""
    lines = written.split("\n")
    pieces: list[str] = []
    for offset, expected in enumerate(lines):
        at = index + offset
        if offset and not _next_line(line_numbers, texts, index, at):
            return []
        text = texts[at][start:] if offset == 0 else texts[at]
        whole = offset < len(lines) - 1
        if (text != expected) if whole else not text.startswith(expected):
            return []
        pieces.append(expected)
    return pieces


def _output_by_size(
    line_numbers: list[int], texts: list[str], index: int, start: int, begins: str, count: int
) -> list[str]:
    """The output on each line from column `start` of line `index`: `count` bytes (a newline
    is one) that begin with `begins` (the string strace cut with ``-s``)."""
    text = texts[index][start:]
    if not text.startswith(begins.split("\n")[0]):
        return []
    remaining = count
    pieces: list[str] = []
    at = index
    while True:
        size = len(text.encode())
        if size >= remaining:
            pieces.append(text.encode()[:remaining].decode("utf-8", "ignore"))
            return pieces if "\n".join(pieces).startswith(begins) else []
        pieces.append(text)
        remaining -= size + 1
        at += 1
        if not _next_line(line_numbers, texts, index, at):
            return []
        text = texts[at]
