"""strace's exit, signal, message and ``-k`` frame lines read without the grammar.

Nearly every ``strace -f`` capture has lines that the scanner (`strace_scan`) leaves:
``+++ exited with 0 +++``, ``+++ killed by SIGPIPE +++``, ``--- SIGCHLD {si_signo=SIGCHLD,
...} ---`` and, on stderr, ``strace: Process 27733 attached``. Of the 187 fixture files
detected as strace, 170 gave the grammar lines, 100 of them only such lines; the grammar costs
each run ``import lark``, `strace_lark` and a first parse, which loads the parser: 0.09-0.13 s
of CPU in a fresh interpreter at load 3 (0.2-0.27 s in the runs measured before), a tenth to a
fifth of a small trace's run.

`parse_event_line` reads those lines in the shapes it is certain of, with every prefix the
grammar allows (pid, ``-Y`` comm, ``[pid N]``, ``--secontext``, ``-t``/``-tt``/``-ttt``/``-r``,
``(+ REL)``, ``-n``, ``-i``), and returns the record the grammar gives them; for every other
line it returns None and the grammar decides. It never returns `Unparsed`: a line it does not
read may still be mended by `strace_mend`. Its regular expressions follow the terminals of
`grammars/strace.lark`, whose patterns do not overlap, so a line splits into them in one way
only; tests (`tests/test_strace_events.py`) check that its records equal the grammar's on every
fixture line and on generated lines.

``strace -k`` prints a stack frame line under each call (`` > /usr/lib/libc.so.6(__write+0x10)
[0xf8350]``), and those, read one by one by the grammar, made such traces over ten times slower
per line than plain ones: the fixture `stack_k_threads.f_k.log` repeated to 293,400 lines took
18.9-20.0 CPU-s, 4.4-5.0 with frames read here (same report; alternating runs at load ~2).

Not read here (rare, left to the grammar): a siginfo with fields other than ``name=number``
(``si_utime=6 /* 0.06 s */`` too) and ``name=NAME``, the signal lines of strace 4.5 and 4.7, and
strace's messages before 4.7 (``Process N attached``, without ``strace: ``).
"""

from __future__ import annotations

import re

from analyzer.formats.strace_record import StraceRecord, clock_text_to_ns, seconds_text_to_ns

# The prefix fields, as the grammar's terminals (each with the spaces after it): INT_FIELD,
# PID_COMM_FIELD, BRACKET_PID_FIELD, SECONTEXT_FIELD, CLOCK_FIELD, DECIMAL_FIELD,
# RELATIVE_FIELD, SCNO_FIELD, IP_FIELD. Explicit [0-9]: Python's \d also takes other digits.
_PREFIX = (
    r"(?:(?P<pid>[0-9]+) +"
    r"|(?P<comm_pid>[0-9]+)<(?P<comm>[^<>\n]*)> +"
    r"|\[pid +(?P<bracket_pid>[0-9]+)(?:<(?P<bracket_comm>[^<>\n]*)>)?\] +)?"
    r"(?:\[[A-Za-z0-9.:,-]*_[A-Za-z0-9_.:,-]*(?:!![A-Za-z0-9_.:,-]+)?\] +)?"
    r"(?:(?P<clock>[0-9][0-9]:[0-9][0-9]:[0-9][0-9](?:\.[0-9]+)?) +"
    r"| *(?P<seconds>(?P<whole>[0-9]+)\.[0-9]+) +)?"
    r"(?:\(\+ +(?P<rel>[0-9]+\.[0-9]+)\) +)?"
    r"(?:\[(?P<scno> *[0-9]{1,6})\] +)?"
    r"(?:\[(?P<ip>[0-9a-f]{8}|[0-9a-f]{16}|\?{8}|\?{16})\] +)?"
)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# A siginfo whose fields are all `name=NUMBER` or `name=NAME` (the grammar's NUMBER and NAME),
# a number perhaps with the seconds strace 6 prints after si_utime and si_stime (a COMMENT):
# what strace prints for SIGCHLD, SIGPIPE, SIGALRM, SIGSEGV ...
_FIELD = rf"{_NAME}=(?:-?(?:0x[0-9a-fA-F]+|[0-9]+)(?: /\* [0-9]+\.[0-9]+ s \*/)?|{_NAME})"
_EVENT = (
    r"(?:\+\+\+ (?:exited with (?P<exit_code>[0-9]+)"
    rf"|killed by (?P<killed_by>{_NAME})(?P<core_dumped> \(core dumped\))?"
    r"|superseded by execve in pid (?P<other_pid>[0-9]+)) \+\+\+"
    rf"|--- (?:stopped by (?P<stopped_by>{_NAME})"
    rf"|(?P<signal>{_NAME}) (?P<siginfo>\{{{_FIELD}(?:, {_FIELD})*\}})) ---)"
)
_EVENT_LINE = re.compile(_PREFIX + _EVENT)
_RELATIVE_INT_WIDTH = 6
"""A bare ``S.frac`` stamp is -ttt (epoch) when its integer part is wider than -r's ``%6ld``."""
_FRAME_LINE = re.compile(
    r" > [^\s()]+\([^\s()+]*(?:\+0x[0-9a-f]+)?\) \[0x[0-9a-f]+\](?: [^\s:]+:[0-9]+)?"
)
"""A ``-k`` stack frame, as the grammar's `frame_line` (FRAME_OBJECT, LPAR, [FRAME_SYMBOL],
[FRAME_OFFSET], RPAR, FRAME_ADDRESS, [SOURCE_LOCATION]): ``" > /usr/lib/libc.so.6(__write+0x10)
[0xf8350]"``, ``" > /usr/bin/prog() [0x1234]"``, ``-kk``'s `` file.c:42`` after it."""
_MESSAGE_STARTS = ("strace: ", "^Cstrace: ")
"""strace's own messages (the grammar's STRACE_MESSAGE, after the ``^C`` a terminal echoed):
the rest of the line is the message, whatever it holds."""


def parse_event_line(text: str) -> StraceRecord | None:
    """The grammar's record of an exit, signal, ``strace:`` message or ``-k`` frame line, or
    None when the grammar must decide."""
    if text.startswith(_MESSAGE_STARTS):
        return StraceRecord("message", text=text.rstrip())
    if text.startswith(" > "):
        return StraceRecord("frame", text=text) if _FRAME_LINE.fullmatch(text) else None
    if "+++" not in text and "---" not in text:
        return None
    match = _EVENT_LINE.fullmatch(text)
    if match is None:
        return None
    fields = match.groupdict()
    pid, comm = _pid(fields)
    ts_ns = ts_kind = None
    if fields["clock"] is not None:
        ts_ns, ts_kind = clock_text_to_ns(fields["clock"]), "clock"
    elif fields["seconds"] is not None:
        ts_ns = seconds_text_to_ns(fields["seconds"])
        ts_kind = "epoch" if len(fields["whole"]) > _RELATIVE_INT_WIDTH else "relative"
    rel = fields["rel"]
    scno = fields["scno"]
    prefix = (
        pid,
        comm,
        ts_ns,
        ts_kind,
        seconds_text_to_ns(rel) if rel is not None else None,
        int(scno) if scno is not None else None,
        fields["ip"],
    )
    if fields["exit_code"] is not None:
        return StraceRecord("exit", *prefix, exit_code=int(fields["exit_code"]))
    if fields["killed_by"] is not None:
        core_dumped = True if fields["core_dumped"] is not None else None
        return StraceRecord("exit", *prefix, signal=fields["killed_by"], core_dumped=core_dumped)
    if fields["other_pid"] is not None:
        return StraceRecord("exit", *prefix, other_pid=int(fields["other_pid"]))
    if fields["stopped_by"] is not None:
        return StraceRecord("signal", *prefix, signal=fields["stopped_by"], text="stopped")
    return StraceRecord("signal", *prefix, args=fields["siginfo"], signal=fields["signal"])


def _pid(fields: dict[str, str | None]) -> tuple[int | None, str | None]:
    """The pid and ``-Y`` comm of the prefix (None, None without a pid)."""
    for pid, comm in (("pid", None), ("comm_pid", "comm"), ("bracket_pid", "bracket_comm")):
        value = fields[pid]
        if value is not None:
            return int(value), fields[comm] if comm is not None else None
    return None, None
