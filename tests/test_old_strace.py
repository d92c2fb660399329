"""Older strace output the grammar reads like the fast scanner does (issue 14, items 7-8).

The lines are real: each is taken from a public log in fixtures/public/strace (provenance in
fixtures/public/PROVENANCE.md).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from support import FIXTURES

from analyzer.formats import strace, strace_lark
from analyzer.formats.strace import records_to_table
from analyzer.formats.strace_record import Unparsed
from analyzer.formats.strace_scan import scan
from analyzer.inputs import iter_line_chunks, open_input

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


def _parse_file(name: str, engine: str) -> strace.ParsedLines:
    source = open_input(PUBLIC / name)
    try:
        return strace.parse(iter_line_chunks(source.stream), name, engine=engine)
    finally:
        source.close()


DEBUG_LOG = "wsl548_strace412_d_debug_spliced.log"


def test_a_debug_wait_report_alone_is_a_message() -> None:
    """strace < 4.13 `-d`: `` [wait(0x057f) = 23] WIFSTOPPED,sig=SIGTRAP`` (no `strace: `)."""
    line = (PUBLIC / DEBUG_LOG).read_text().splitlines()[2]
    record = strace_lark.parse_line(line)
    assert not isinstance(record, Unparsed), record
    assert (record.kind, record.text) == ("message", line)


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_calls_cut_by_debug_wait_reports_are_joined(engine: str) -> None:
    parsed = _parse_file(DEBUG_LOG, engine)
    assert parsed.unparsed.num_rows == 0
    rows = parsed.lines.to_pylist()
    kinds = [row["kind"] for row in rows]
    assert kinds.count("message") == 18 and len(rows) == 27
    calls = [row for row in rows if row["kind"] == "syscall"]
    assert [(row["line_no"], row["syscall"]) for row in calls][:2] == [(2, "brk"), (5, "getuid")]
    assert calls[0]["retval"] == 0x78F000 and calls[0]["args"] == "0x78f000"
    wait4 = next(row for row in calls if row["syscall"] == "wait4")
    assert wait4["args"].startswith("24, [{WIFSIGNALED(s)") and wait4["retval"] == 24
    ptrace = next(row for row in calls if row["syscall"] == "ptrace")
    assert ptrace["errno"] == "EINVAL"


def test_both_engines_agree_on_the_debug_log() -> None:
    fast, lark = _parse_file(DEBUG_LOG, "fast"), _parse_file(DEBUG_LOG, "lark")
    assert fast.lines.equals(lark.lines)


def test_a_debug_log_is_detected_as_strace() -> None:
    assert strace.sniff((PUBLIC / DEBUG_LOG).read_bytes()) >= 0.5


SECONTEXT_LOG = "secontext_strace_pr121_pr214_f_tt_T_yy.log"


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_secontext_lines_are_calls(engine: str) -> None:
    """--secontext: the task's context after the pid, a path's or fd's after it."""
    parsed = _parse_file(SECONTEXT_LOG, engine)
    assert parsed.unparsed.num_rows == 0
    rows = parsed.lines.to_pylist()
    assert [(row["pid"], row["syscall"]) for row in rows] == [
        (118104, "select"),
        (119820, "openat"),
        (151020, "connect"),
    ]
    assert [row["ts_kind"] for row in rows] == ["clock"] * 3
    openat = rows[1]
    assert (openat["ret"], openat["retval"], openat["duration_ns"]) == (
        "11</home/rmetrich/.ssh/authorized_keys>",
        11,
        399_000,
    )


def test_both_engines_agree_on_the_secontext_log() -> None:
    fast, lark = _parse_file(SECONTEXT_LOG, "fast"), _parse_file(SECONTEXT_LOG, "lark")
    assert fast.lines.equals(lark.lines)
    lines = (PUBLIC / SECONTEXT_LOG).read_text().splitlines()
    _, leftover = scan(pa.array(lines), pa.array(np.arange(1, 4), pa.int64()))
    assert not leftover.any()  # read by the scanner, not handed to the grammar


def test_secontext_of_paths_and_fds_is_decoded() -> None:
    lines = (PUBLIC / SECONTEXT_LOG).read_text().splitlines()
    openat = strace_lark.decode_args(strace_lark.parse_line(lines[1]).args)  # type: ignore[union-attr]
    assert openat[1] == strace_lark.Str(
        b"/home/rmetrich/.ssh/authorized_keys", context="system_u:object_r:nfs_t:s0"
    )
    connect = strace_lark.decode_args(strace_lark.parse_line(lines[2]).args)  # type: ignore[union-attr]
    assert connect[0] == strace_lark.Fd(3, "UNIX-STREAM:[524197]", context="unconfined_t")
    assert connect[1].fields["sun_path"].context == "system_dbusd_var_run_t"
    select = strace_lark.decode_args(strace_lark.parse_line(lines[0]).args)  # type: ignore[union-attr]
    assert select[1].names == ("4", "6")  # an fd set with -y decorations


SIGINFO_FIRST_LOG = "android_strace47_siginfo_first_commented.log"


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_strace_4_7_signal_lines_start_with_the_siginfo(engine: str) -> None:
    """strace 4.6/4.7: ``--- {si_signo=SIGCHLD, ...} (Child exited) ---``, no name first."""
    parsed = _parse_file(SIGINFO_FIRST_LOG, engine)
    assert parsed.unparsed.num_rows == 0
    signal = parsed.lines.to_pylist()[0]
    assert (signal["kind"], signal["pid"], signal["signal"]) == ("signal", 1114, "SIGCHLD")
    assert signal["args"].startswith("{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1115")
    assert signal["args"].endswith("} (Child exited)")


def _rows(name: str, engine: str) -> tuple[dict[int, dict], dict[int, str]]:
    parsed = _parse_file(name, engine)
    rows = {row["line_no"]: row for row in parsed.lines.to_pylist()}
    reasons = {row["line_no"]: row["reason"] for row in parsed.unparsed.to_pylist()}
    return rows, reasons


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_a_call_interrupted_by_ctrl_c_ends_after_the_detach_message(engine: str) -> None:
    """`strace -p` stopped with ^C (strace 4.x): ``nanosleep({50, 0}, ``, a blank line,
    ``^CProcess 26587 detached``, `` <detached ...>``."""
    rows, reasons = _rows("raspi_p_attach_detached.log", engine)
    assert (rows[4]["kind"], rows[4]["text"]) == ("message", "Process 26587 attached")
    assert (rows[5]["kind"], rows[5]["syscall"], rows[5]["args"]) == (
        "detached",
        "nanosleep",
        "{50, 0}, ",
    )
    assert (rows[7]["kind"], rows[7]["text"]) == ("message", "^CProcess 26587 detached")
    assert reasons[6] == "empty line"
    assert reasons[8] == "the end of the call on line 5"


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_a_detach_message_inside_a_call_line(engine: str) -> None:
    """``[pid    55] epoll_wait(10, ^Cstrace: Process 55 detached`` then `` <detached ...>``."""
    rows, reasons = _rows("nginx_distroless_f_p_ctrlc_tail.log", engine)
    assert not reasons
    assert (rows[38]["kind"], rows[38]["text"]) == ("message", "^Cstrace: Process 55 detached")
    assert (rows[39]["kind"], rows[39]["pid"], rows[39]["syscall"], rows[39]["args"]) == (
        "detached",
        55,
        "epoll_wait",
        "10, ",
    )


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_the_ctrl_c_echo_is_not_an_argument(engine: str) -> None:
    rows, _ = _rows("processpool_f_p_attach_ctrlc.log", engine)
    assert (rows[24]["kind"], rows[24]["args"]) == ("unfinished", "0, NULL, NULL, NULL, {1, 0}")
    assert [rows[n]["kind"] for n in (25, 26, 27, 28)] == ["message"] * 4
    rows, reasons = _rows("shell_clone_execve_p_f_ctrlc.log", engine)
    assert not reasons and (rows[7]["kind"], rows[7]["text"]) == ("message", "^C")
