"""Older strace output the grammar reads like the fast scanner does (issue 14, items 7-8).

The lines are real: each is taken from a public log in fixtures/public/strace (provenance in
fixtures/public/PROVENANCE.md).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from support import FIXTURES

from analyzer.formats import strace_lark
from analyzer.formats.strace import records_to_table
from analyzer.formats.strace_record import Unparsed
from analyzer.formats.strace_scan import scan

PUBLIC = FIXTURES / "public/strace"
# (file, line number): strace < 4.9 prints a comment alone where elements were elided
BARE_COMMENTS = [
    ("cupsd_segv_i386_2007.log", 2),
    ("de_notes_static_hello_terminal_transcript.log", 2),
    ("raspi_Tr_cat.log", 2),
]


@pytest.mark.parametrize(("name", "line_no"), BARE_COMMENTS)
def test_a_comment_alone_is_an_argument(name: str, line_no: int) -> None:
    line = (PUBLIC / name).read_text().splitlines()[line_no - 1]
    assert "[/* " in line
    record = strace_lark.parse_line(line)
    assert not isinstance(record, Unparsed), record
    fast, leftover = scan(pa.array([line]), pa.array(np.array([line_no]), pa.int64()))
    assert not leftover.any()
    assert fast.equals(records_to_table([(line_no, record)]))
    values = strace_lark.decode_args(record.args)
    assert isinstance(values[-1], list) and values[-1][0].comment.endswith(" vars")


def test_strace_4_5_signal_lines_are_read() -> None:
    """`--- SIGCHLD (Child exited) @ 0 (0) ---`: the signal line before siginfo structs."""
    lines = (PUBLIC / "lkml_accept_erestartsys_2005.log").read_text().splitlines()
    old = [line for line in lines if "--- SIGCHLD (Child exited) @ 0 (0) ---" in line]
    assert len(old) >= 5
    for line in old:
        record = strace_lark.parse_line(line)
        assert not isinstance(record, Unparsed), (line, record)
        assert (record.kind, record.signal, record.args) == (
            "signal",
            "SIGCHLD",
            "(Child exited) @ 0 (0)",
        )
        assert record.pid == 2688 and record.ts_kind == "clock"
