"""Reading strace lines with the grammar, mending the calls that strace's own messages cut.

Pure Python (no pyarrow), so that the fast `fold` command line decides "is this strace?"
exactly as `strace.sniff` does without importing the columnar reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from analyzer.formats import strace_lark
from analyzer.formats.strace_record import StraceRecord, Unparsed

_MESSAGE_INSIDE = re.compile(
    r"^(?P<fragment>.+?)"
    r"(?P<message>(?:\^C)?(?:strace: )?Process \d+ (?:attached|detached).*"
    r"| \[wait\(0x[0-9a-f]+\) = \d+\] .*)$"
)
_DETACHED_END = " <detached ...>"
_DETACH_LOOKAHEAD = 4
"""Lines looked past (blank, or strace's messages) for the `` <detached ...>`` that ends a call."""
GRAMMAR_LINE_CAP = 128 << 10
"""Longest line given to the grammar: its lexer needs about 1 KB per character of a string
it cannot close (5 MB took 5.6 GB). The scanner reads longer well-formed call lines."""
TOO_LONG_FOR_GRAMMAR = f"a line over {GRAMMAR_LINE_CAP:,} characters that is no plain call line"


def parse_lines(
    line_numbers: list[int],
    texts: list[str],
    check: Callable[[StraceRecord | Unparsed], StraceRecord | Unparsed] = lambda result: result,
) -> tuple[list[tuple[int, StraceRecord]], list[tuple[int, str, str]]]:
    """Grammar-parse lines, mending lines split by a `strace: Process N attached` message
    or by a pre-4.13 `-d` wait report.

    Without `-o`, strace and the trace share stderr, so a call can be cut by the message:
    ``clone3({...}strace: Process 8378 attached`` then `` => {...}, 88) = 8378``, or
    ``brk(0x78f000 [wait(0x057f) = 23] WIFSTOPPED,sig=SIGTRAP`` then ``)   = 0x78f000``. The
    first line becomes the message and the joined call is recorded on the second line. When
    `strace -p` is interrupted, the call in progress can end a few lines on, after the detach
    message: ``nanosleep({50, 0}, ``, a blank line, ``^CProcess 26587 detached``, then
    `` <detached ...>``; the call is recorded on its first line, and the closing line is counted
    as unparsed with a reason that points there.
    """
    parsed: list[tuple[int, StraceRecord]] = []
    rejected: list[tuple[int, str, str]] = []
    ends: dict[int, int] = {}  # index of a " <detached ...>" line -> line of its call
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
        result = check(strace_lark.parse_line(text))
        split = _MESSAGE_INSIDE.match(text) if isinstance(result, Unparsed) else None
        if split and index + 1 < len(texts) and line_numbers[index + 1] == line_no + 1:
            joined = check(strace_lark.parse_line(split["fragment"] + texts[index + 1]))
            if not isinstance(joined, Unparsed):
                parsed.append((line_no, StraceRecord(kind="message", text=split["message"])))
                parsed.append((line_no + 1, joined))
                index += 2
                continue
        end = _detached_end(line_numbers, texts, index) if isinstance(result, Unparsed) else None
        if end is not None:
            result = check(strace_lark.parse_line(text + _DETACHED_END))
            ends[end] = line_no
        if isinstance(result, Unparsed):
            rejected.append((line_no, text, result.reason))
        else:
            parsed.append((line_no, result))
        index += 1
    return parsed, rejected


def _detached_end(line_numbers: list[int], texts: list[str], index: int) -> int | None:
    """The index of the `` <detached ...>`` line that ends the call begun on line `index`, when
    only blank lines and strace's messages come between; None otherwise."""
    if isinstance(strace_lark.parse_line(texts[index] + _DETACHED_END), Unparsed):
        return None
    for ahead in range(index + 1, min(index + 1 + _DETACH_LOOKAHEAD, len(texts))):
        if line_numbers[ahead] != line_numbers[ahead - 1] + 1:
            return None
        if texts[ahead].rstrip() == _DETACHED_END:
            return ahead
        between = strace_lark.parse_line(texts[ahead]) if texts[ahead].strip() else None
        if isinstance(between, Unparsed) or (between is not None and between.kind != "message"):
            return None
    return None
