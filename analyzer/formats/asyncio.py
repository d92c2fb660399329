"""The asyncio log input: application logs carrying asyncio's debug-mode messages.

`grammars/asyncio_log.lark` specifies one line (envelope, message, continuation, aiomonitor
console output). This module

- parses lines with the grammar (`parse_line`) into `Line` values,
- assembles them into multi-line `AsyncioRecord` values (`Assembler`): an exception-handler
  record with its ``key: repr`` lines, ``source_traceback`` frames and traceback, a
  never-awaited warning with its ``Coroutine created at`` frames, ...; and aiomonitor
  ``ps`` / ``where`` dumps into `TaskSnapshot` rows,
- decodes JSON lines (python-json-logger, ``journalctl -o json``) with the json module and
  parses their message lines with the grammar,
- and reads a whole input (`parse`) into the `loop_events` and `tasks_snapshot` tables plus
  counts.

Two engines share the assembler. ``engine="lark"`` feeds every line, parsed by the grammar.
``engine="fast"`` feeds only the lines that contain a marker (`MARKERS`: phrases every line
that starts an asyncio record or an aiomonitor dump contains) and the lines that follow an
open record; every other line is an application line without being looked at. The markers
are searched in the raw bytes of each chunk (`candidate_lines`: RE2 through Arrow, on
newline-aligned pieces, so no line objects exist for the other lines), and the fed lines are
parsed by `parse_line_fast`, a hand-written parser for the common shapes that calls the
grammar's own transformer and hands every other line to the grammar. So the engines agree
whenever every start line contains a marker and `parse_line_fast` agrees with `parse_line`;
tests check both on the fixtures and on generated lines. Lines that fail the grammar are
application lines, except lines that clearly are asyncio's (`_STRONG`), which are counted as
unparsed with the reason.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput

from analyzer.formats import grammar
from analyzer.formats.asyncio_record import AsyncioRecord, TaskSnapshot, Unparsed
from analyzer.inputs import LineChunk
from analyzer.schema import LOOP_EVENTS, TASKS_SNAPSHOT, unparsed_table

NAME = "asyncio"

# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/asyncio_log.lark` (start symbol ``line``)."""
    return grammar.build("asyncio_log.lark", ["line"], strict=strict)


@cache
def _parser() -> Lark:
    return build_parser()


@dataclass(frozen=True)
class Line:
    """One parsed line.

    ``role`` is ``start`` (an asyncio message), ``other`` (an envelope with any other text),
    ``cont`` (a continuation line), ``monitor`` (aiomonitor console output) or ``blank``.
    ``data`` holds the message fields (for ``start``: ``kind`` and record fields; for
    ``cont`` and ``monitor``: ``type`` and its values).
    """

    role: str
    data: dict[str, Any]
    envelope: dict[str, Any] | None = None
    journal: dict[str, Any] | None = None


_WARNING_HEAD = re.compile(r"^(?P<file>.*):(?P<line>\d+): (?P<category>\w+): $")
_NUM = re.compile(r"\d+(?:\.\d+)?")
_GAI = re.compile(r"^Getting address info (?P<query>.*) took (?P<ms>\d+\.\d+)ms: $")
_JOURNAL = re.compile(r"^(?P<time>.+) (?P<host>\S+) (?P<ident>[^\s\[]+)\[(?P<pid>\d+)\]: ?$")
_GUNICORN = re.compile(r"^\[(?P<time>[^\]]+)\] \[(?P<pid>\d+)\] \[(?P<level>[A-Z]+)\] $")
_STACK = re.compile(
    r"^Stack of (?:the root task or coroutine scheduled in the event loop(?P<root_blank> ?)"
    r"|<(?P<cls>Task|TerminatedTask) name=(?P<name>.*) coro=(?P<coro>[^ >]*)"
    r"(?: (?P<status>[^<>]*))?>(?P<creator> when creating the next task)? )"
    r"\(most recent call last\)$"
)
PS_COLUMNS = ("Task ID", "State", "Name", "Coroutine", "Created Location", "Since")
PS_TERMINATED_COLUMNS = ("Trace ID", "Name", "Coro", "Since Started", "Since Terminated")


def _exception_value(value: str | None) -> tuple[str | None, str | None]:
    """``ValueError('x')`` -> (``ValueError``, ``'x'``)."""
    if not value:
        return None, None
    head, paren, rest = value.partition("(")
    return head, (rest[:-1] if paren and rest.endswith(")") else None)


@v_args(inline=True)
class _ToLine(Transformer):
    """Parse tree -> `Line`."""

    # -- line and envelopes ---------------------------------------------------------------
    def line(self, journal: Token | None, content: Any) -> Line:
        jinfo = None
        if journal is not None:
            match = _JOURNAL.match(str(journal))
            if match:
                jinfo = {
                    "time": match["time"],
                    "key": f"{match['host']} {match['ident']}[{match['pid']}]",
                    "pid": int(match["pid"]),
                    "end": journal.end_pos,
                }
        if content is None:
            return Line("blank", {}, None, jinfo)
        role, data, envelope = content
        return Line(role, data, envelope, jinfo)

    def enveloped(self, envelope: dict[str, Any], message: tuple) -> tuple:
        return ("start", message[1], envelope)

    def enveloped_other(self, envelope: dict[str, Any], other: Token) -> tuple:
        return ("other", {"kind": "other", "message": str(other)}, envelope)

    def env_basic(self, token: Token) -> dict[str, Any]:
        level, name, _ = str(token).split(":", 2)
        return {"level": level, "logger": name, "end": token.end_pos}

    def env_levelprefix(self, token: Token) -> dict[str, Any]:
        return {"level": str(token).split(":", 1)[0], "end": token.end_pos}

    def env_gunicorn(self, token: Token) -> dict[str, Any]:
        match = _GUNICORN.match(str(token))
        assert match is not None
        return {
            "time": match["time"],
            "level": match["level"],
            "pid": int(match["pid"]),
            "end": token.end_pos,
        }

    def env_ts_colon(self, ts: Token, level: Token, _pad: Token, logger: Token) -> dict:
        return {
            "time": str(ts),
            "level": str(level),
            "logger": str(logger)[:-2],
            "end": logger.end_pos,
        }

    def env_ts_bracket(self, ts: Token, level: Token, _pad: Token, logger: Token) -> dict:
        return {
            "time": str(ts),
            "level": str(level),
            "logger": str(logger),
            "end": logger.end_pos + 2,
        }

    def env_ts_thread(
        self, ts: Token, level: Token, _pad: Token, thread: Token, logger: Token
    ) -> dict:
        return {
            "time": str(ts),
            "level": str(level),
            "logger": str(logger),
            "end": logger.end_pos + 2,
        }

    def env_ts_dash_level(self, ts: Token, level: Token, _pad: Token, logger: Token) -> dict:
        return {
            "time": str(ts),
            "level": str(level),
            "logger": str(logger)[:-2],
            "end": logger.end_pos,
        }

    def env_ts_dash_logger(self, ts: Token, logger: Token, level: Token) -> dict:
        return {
            "time": str(ts),
            "level": str(level),
            "logger": str(logger),
            "end": level.end_pos + 3,
        }

    # -- reprs ----------------------------------------------------------------------------
    def future_repr(
        self,
        cls: Token,
        state: Token,
        name: Token | None,
        coro: dict | None,
        wait_for: dict | None,
        outcome: tuple | None,
        callbacks: list | None,
        created: str | None,
    ) -> dict[str, Any]:
        return {
            "class": str(cls),
            "state": str(state),
            "name": _unquote(name) if name is not None else None,
            "coro": coro["qualname"] if coro else None,
            "location": coro["location"] if coro else None,
            "exception": outcome[1] if outcome and outcome[0] == "exception" else None,
            "created_at": created,
            "uvloop": None,
        }

    def result(self, value: Token) -> tuple:
        return ("result", str(value))

    def exception(self, value: Token) -> tuple:
        return ("exception", str(value))

    def coro(self, qualname: Token, where: str | None) -> dict[str, Any]:
        return {"qualname": str(qualname), "location": where}

    def running_at(self, location: Token) -> str:
        return str(location)

    defined_at = running_at

    def running(self) -> None:
        return None

    def callbacks(self, *items: dict) -> list:
        return list(items)

    def handle_repr(
        self,
        cls: Token,
        cancelled: Token | None,
        when: Token | None,
        callback: dict | None,
        created: str | None,
    ) -> dict[str, Any]:
        return {
            "class": str(cls),
            "state": "cancelled" if cancelled is not None else None,
            "callback": callback["name"] if callback else None,
            "location": callback["location"] if callback else None,
            "created_at": created,
            "uvloop": True if callback and callback["uvloop"] else None,
        }

    def callback(self, target: Token, args: Token | None, location: Token | None) -> dict:
        name = str(target)
        uvloop = (args is None and not name.startswith("<")) or name.startswith("<function ")
        return {
            "name": name,
            "location": str(location) if location is not None else None,
            "uvloop": uvloop,
        }

    def created_at(self, location: Token) -> str:
        return str(location)

    # -- messages -------------------------------------------------------------------------
    def _start(self, kind: str, **fields: Any) -> tuple:
        return ("start", {"kind": kind, **fields}, None)

    def executing(self, subject: dict, seconds: Token) -> tuple:
        return self._start("slow_callback", subject=subject, duration_s=float(seconds))

    def poll(self, head: Token, _result: Token) -> tuple:
        took = _NUM.findall(str(head))[-1]
        return self._start("poll_timing", duration_s=float(took) / 1000)

    def getaddrinfo_start(self, _rest: Token) -> tuple:
        return self._start("getaddrinfo")

    def getaddrinfo_took(self, head: Token, _rest: Token) -> tuple:
        match = _GAI.match(str(head))
        assert match is not None
        return self._start("getaddrinfo", duration_s=float(match["ms"]) / 1000)

    def exception_in_callback(self, callback: dict) -> tuple:
        return self._start(
            "exception",
            callback=callback["name"],
            location=callback["location"],
            uvloop=True if str(callback["name"]).startswith("<function ") else None,
        )

    def task_destroyed_pending(self) -> tuple:
        return self._start("task_destroyed_pending")

    def never_retrieved(self, token: Token) -> tuple:
        return self._start("never_retrieved", repr_class=str(token).split(" ", 1)[0])

    def shielded(self, _token: Token) -> tuple:
        return self._start("exception")

    def taskgroup_orphan(self, _task: Token, _parent: Token) -> tuple:
        return self._start("exception")

    def asyncgen_error(self, _value: Token) -> tuple:
        return self._start("exception")

    def handler_message(self, _token: Token) -> tuple:
        return self._start("exception")

    def loop_closed(self, _loop: Token, _pid: Token) -> tuple:
        return self._start("other")

    def direct_message(self, _token: Token) -> tuple:
        return self._start("other")

    def never_yielded(self, _token: Token) -> tuple:
        return self._start("never_awaited")

    def ssl_handshake(self, token: Token) -> tuple:
        took = _NUM.findall(str(token))[-1]
        return self._start("other", duration_s=float(took) / 1000)

    def warning(self, head: Token, text: tuple) -> tuple:
        match = _WARNING_HEAD.match(str(head))
        assert match is not None
        kind, extra = text
        return self._start(
            kind,
            location=f"{match['file']}:{match['line']}",
            exc_type=match["category"],
            **extra,
        )

    def never_awaited(self, qualname: Token) -> tuple:
        return ("never_awaited", {"coro": str(qualname)})

    def unclosed(self, _value: Token) -> tuple:
        return ("resource_warning", {})

    def loop_is_closed(self) -> tuple:
        return ("resource_warning", {})

    def asyncgen_late(self, _value: Token) -> tuple:
        return ("resource_warning", {})

    def child_processes(self, _value: Token) -> tuple:
        return ("resource_warning", {})

    def loop_shutdown_stage(self, _value: Token) -> tuple:
        return ("resource_warning", {})

    def executor_join(self, _seconds: Token) -> tuple:
        return ("other", {})

    def watcher_detached(self) -> tuple:
        return ("other", {})

    # -- continuations --------------------------------------------------------------------
    def _cont(self, kind: str, **values: Any) -> tuple:
        return ("cont", {"type": kind, **values}, None)

    def key_future(self, value: dict) -> tuple:
        return self._cont("key", subject=value)

    key_task = key_future
    key_handle = key_future

    def key_other(self, _key: Token, _rest: Token) -> tuple:
        return self._cont("key")

    def traceback_header(self, _token: Token) -> tuple:
        return self._cont("header")

    def traceback_start(self) -> tuple:
        return self._cont("traceback")

    def chain(self, _token: Token) -> tuple:
        return self._cont("chain")

    def frame(self, file: Token, line: Token, func: Token | None) -> tuple:
        return self._cont(
            "frame",
            uvloop=str(file).startswith("uvloop/"),
            file=str(file),
            line=int(line),
            function=str(func) if func is not None else None,
        )

    def indented(self, _token: Token) -> tuple:
        return self._cont("indented")

    def exc_line(self, token: Token) -> tuple:
        name, _, text = str(token).partition(":")
        return self._cont("exc", exc_type=name, exc_message=text.strip() or None)

    # -- aiomonitor console output --------------------------------------------------------
    def monitor_prompt(self, _prompt: Token, command: Token | None) -> tuple:
        return ("monitor", {"type": "prompt", "command": str(command or "")}, None)

    def task_count(self, token: Token) -> tuple:
        count, _, rest = str(token).partition(" tasks ")
        command = "ps" if rest.startswith("running") else "ps-terminated"
        return ("monitor", {"type": "count", "command": command, "count": int(count)}, None)

    def table_rule(self, _token: Token) -> tuple:
        return ("monitor", {"type": "rule"}, None)

    def table_header(self, token: Token) -> tuple:
        text = str(token)
        ps = text.startswith("| Task ID")
        offsets, at = [], 0
        for title in PS_COLUMNS if ps else PS_TERMINATED_COLUMNS:
            at = text.index(title, at)
            offsets.append(at)
            at += len(title)
        data = {
            "type": "header",
            "command": "ps" if ps else "ps-terminated",
            "offsets": offsets,
            "width": len(text),
        }
        return ("monitor", data, None)

    def table_row(self, token: Token) -> tuple:
        return ("monitor", {"type": "row", "text": str(token)}, None)

    def stack_header(self, token: Token) -> tuple:
        match = _STACK.match(str(token))
        assert match is not None
        if match["cls"] is None:
            data = {
                "type": "stack",
                "section": "root",
                "terminated": not match["root_blank"],
                "name": None,
                "coro": None,
                "status": None,
            }
        else:
            data = {
                "type": "stack",
                "section": "creator" if match["creator"] else "task",
                "terminated": match["cls"] == "TerminatedTask",
                "name": match["name"],
                "coro": match["coro"],
                "status": match["status"] or None,
            }
        return ("monitor", data, None)


def _unquote(token: Token) -> str:
    text = str(token)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


_TO_LINE = _ToLine()


def parse_line(text: str) -> Line | str:
    """One line -> `Line`, or the reason (a string) why the grammar rejects it."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        column = getattr(error, "column", "?")
        return f"not asyncio log syntax at column {column}"
    return _TO_LINE.transform(tree)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# Fast line parser
# ---------------------------------------------------------------------------------------------
#
# `parse_line_fast` reads the lines the fast engine feeds most -- `Executing <repr> took N
# seconds` in any envelope, the exception handler's `future:`/`task:`/`handle:` lines,
# traceback lines, one-token messages, other enveloped lines, aiomonitor lines -- with one
# `re.match` per token and calls the grammar's transformer (`_TO_LINE`) on what it read, so
# its values are the grammar's by construction. What it must get right is *tokenising*
# exactly as Lark's contextual lexer does: at each point Lark tries the terminals the parser
# state accepts, ordered by (priority, widest pattern, longest literal, name), and takes the
# first that matches. So
#
# - the first token of a line, and the first token after an envelope, are found by the
#   same terminals in the same order, read from the parser itself (`_StateScanner`);
# - inside the reprs and envelopes the terminals a state accepts are literals with distinct
#   first characters or a single regex terminal, except where a literal is a prefix of
#   another (`" cancelled"`/`" when="`/`" created at "` before `" "` after a handle's class,
#   the longer `coro_where` literals first, HANDLE_CLASS.1 before CLASS_NAME, QUALNAME.1
#   before ANGLE, LEVEL.1 before LOGGER after `" - "`): those are tried in Lark's order;
# - the regex terminals are compiled from the grammar's own patterns.
#
# On anything else (a journald prefix, another message, a token that does not match, text
# left over) it returns None and `parse_line_fast` asks the grammar, which also produces the
# reason for lines it rejects.


class _Direct:
    """`_TO_LINE`'s methods without Lark's wrapper, which is rebuilt on every attribute
    access (the fast parser calls them with the arguments the transformer would get)."""

    def __init__(self, transformer: _ToLine) -> None:
        for name, value in type(transformer).__dict__.items():
            if hasattr(value, "base_func"):
                setattr(self, name, value.base_func.__get__(transformer))

    def __getattr__(self, name: str) -> Any:  # for type checkers; never reached
        raise AttributeError(name)


_T = _Direct(_TO_LINE)


def _sort_key(term: Any) -> tuple[int, int, int, str]:
    """Lark's order of the terminals its lexer tries (lark.lexer.BasicLexer)."""
    return (-term.priority, -term.pattern.max_width, -len(term.pattern.value), term.name)


class _StateScanner:
    """Lark's lexer in the parser state after `prefix`: one regex trying the terminals that
    state accepts in Lark's order; the first that matches is the token.

    WARNING_HEAD (``file:line: XWarning: ``, priority 1, tried early) scans the whole line
    to fail; a line without ``Warning: `` cannot match it, so it is tried with a second
    regex that leaves it out (same order otherwise, hence the same token).
    """

    def __init__(self, parser: Lark, prefix: str) -> None:
        interactive = parser.parse_interactive(prefix)
        interactive.exhaust_lexer()
        lexers = parser.parser.lexer.lexers  # type: ignore[attr-defined]
        terminals = sorted(lexers[interactive.parser_state.position].terminals, key=_sort_key)
        self.full = self._compile(terminals)
        self.short = self._compile([t for t in terminals if t.name != "WARNING_HEAD"])

    @staticmethod
    def _compile(terminals: list[Any]) -> re.Pattern[str]:
        return re.compile("|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals))

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        scanner = self.full if "Warning: " in text else self.short
        return scanner.match(text, pos)


class _FastParser:
    """The hand-written reader behind `parse_line_fast` (see the comment above)."""

    def __init__(self, parser: Lark) -> None:
        terminals = {t.name: t for t in parser.terminals}
        literal = {t.pattern.value: t.name for t in parser.terminals if t.pattern.type == "str"}

        def rx(name: str) -> re.Pattern[str]:
            return re.compile(terminals[name].pattern.to_regexp())

        self.root = _StateScanner(parser, "")
        self.after_envelope = _StateScanner(parser, "WARNING:asyncio:")
        self.location = rx("LOCATION")
        self.qualname = rx("QUALNAME")
        self.angle = rx("ANGLE")
        self.args = rx("ARGS")
        self.class_name = rx("CLASS_NAME")
        self.handle_class = rx("HANDLE_CLASS")
        self.state = rx("STATE")
        self.string = rx("STRING")
        self.number = rx("NUMBER")
        self.value = rx("VALUE")
        self.level = rx("LEVEL")
        self.pad = rx("PAD")
        self.logger = rx("LOGGER")
        self.logger_colon = rx("LOGGER_COLON")
        self.thread = rx("THREAD")
        self.frame_file = rx("FRAME_FILE")
        self.int = rx("INT")
        t = _T
        whole = {
            "NEVER_RETRIEVED": t.never_retrieved,
            "SHIELDED": t.shielded,
            "HANDLER_MESSAGE": t.handler_message,
            "DIRECT_MESSAGE": t.direct_message,
            literal["Task was destroyed but it is pending!"]: lambda _tok: (
                t.task_destroyed_pending()
            ),
        }
        self.whole_message = whole
        """Messages that are one token: the token must reach the end of the line."""
        self.whole_cont = {
            "INDENTED": t.indented,
            "EXC_LINE": t.exc_line,
            "TRACEBACK_HEADER": t.traceback_header,
            "CHAIN": t.chain,
            literal["Traceback (most recent call last):"]: lambda _tok: t.traceback_start(),
            "TASK_COUNT": t.task_count,
            "TABLE_RULE": t.table_rule,
            "TABLE_HEADER": t.table_header,
            "TABLE_ROW": t.table_row,
            "STACK_HEADER": t.stack_header,
        }
        """Continuation and aiomonitor lines that are one token."""
        self.executing = literal["Executing "]
        self.keys = {
            literal["future: "]: ("future", t.key_future),
            literal["task: "]: ("future", t.key_task),
            literal["handle: "]: ("handle", t.key_handle),
        }
        self.file = literal['  File "']
        self.prompt = literal["monitor >>> "]
        self.other = "OTHER"

    # -- lines ----------------------------------------------------------------------------
    def line(self, text: str) -> Line | None:
        if not text:
            return _T.line(None, None)  # type: ignore[no-any-return]
        match = self.root.match(text)
        if match is None:
            return None
        kind = match.lastgroup
        end = match.end()
        content: tuple | None
        if kind in ("TIMESTAMP", "BASIC_PREFIX", "LEVELPREFIX", "GUNICORN_PREFIX"):
            content = self.enveloped(text, kind, match)
        elif kind == "CONTEXT_KEY":
            content = _T.key_other(match.group(), text[end:]) if end < len(text) else None
        elif kind == self.file:
            content = self.frame(text, end)
        elif kind in self.keys:
            shape, build = self.keys[kind]
            read = self.future(text, end) if shape == "future" else self.handle(text, end)
            content = build(read[0]) if read is not None and read[1] == len(text) else None
        elif kind == self.prompt:
            content = _T.monitor_prompt(match.group(), text[end:] or None)
        elif kind in self.whole_cont:
            content = self.whole_cont[kind](match.group()) if end == len(text) else None
        else:
            content = self.message(text, kind, match)
        return None if content is None else _T.line(None, content)  # type: ignore[no-any-return]

    def message(self, text: str, kind: str | None, match: re.Match[str]) -> tuple | None:
        end = match.end()
        if kind == self.executing:
            return self.executing_message(text, end)
        if kind in self.whole_message and end == len(text):
            return self.whole_message[kind](match.group())  # type: ignore[no-any-return]
        return None

    def enveloped(self, text: str, kind: str | None, match: re.Match[str]) -> tuple | None:
        end = match.end()
        token = Token(kind or "", match.group(), end_pos=end)
        envelope: dict[str, Any] | None
        if kind == "BASIC_PREFIX":
            envelope = _T.env_basic(token)
        elif kind == "LEVELPREFIX":
            envelope = _T.env_levelprefix(token)
        elif kind == "GUNICORN_PREFIX":
            envelope = _T.env_gunicorn(token)
        else:
            read = self.timestamp_envelope(text, token)
            if read is None:
                return None
            envelope, end = read
        rest = self.after_envelope.match(text, end)
        if rest is None:
            return None
        if rest.lastgroup == self.other:
            return _T.enveloped_other(envelope, rest.group())  # type: ignore[no-any-return]
        message = self.message(text, rest.lastgroup, rest)
        return None if message is None else _T.enveloped(envelope, message)

    def timestamp_envelope(self, text: str, ts: Token) -> tuple[dict[str, Any], int] | None:
        """The envelopes that start with TIMESTAMP (`env_ts_*`), and where they end."""
        pos = ts.end_pos
        assert pos is not None
        if text.startswith(" - ", pos):
            level = self.level.match(text, pos + 3)
            if level is not None:  # TIMESTAMP " - " LEVEL PAD "- " LOGGER_COLON
                pad = self.pad.match(text, level.end())
                if pad is None or not text.startswith("- ", pad.end()):
                    return None
                logger = self.logger_colon.match(text, pad.end() + 2)
                if logger is None:
                    return None
                envelope = _T.env_ts_dash_level(ts, level.group(), pad.group(), _token(logger))
                return envelope, logger.end()
            logger = self.logger.match(text, pos + 3)  # TIMESTAMP " - " LOGGER " - " LEVEL " - "
            if logger is None or not text.startswith(" - ", logger.end()):
                return None
            level = self.level.match(text, logger.end() + 3)
            if level is None or not text.startswith(" - ", level.end()):
                return None
            envelope = _T.env_ts_dash_logger(ts, logger.group(), _token(level))
            return envelope, level.end() + 3
        if not text.startswith(" ", pos):
            return None
        level = self.level.match(text, pos + 1)
        pad = self.pad.match(text, level.end()) if level is not None else None
        if level is None or pad is None:
            return None
        pos = pad.end()
        logger = self.logger_colon.match(text, pos)
        if logger is not None:  # TIMESTAMP " " LEVEL PAD LOGGER_COLON
            envelope = _T.env_ts_colon(ts, level.group(), pad.group(), _token(logger))
            return envelope, logger.end()
        if text.startswith("[", pos):  # ... PAD "[" LOGGER "] "
            logger = self.logger.match(text, pos + 1)
            if logger is None or not text.startswith("] ", logger.end()):
                return None
            envelope = _T.env_ts_bracket(ts, level.group(), pad.group(), _token(logger))
            return envelope, logger.end() + 2
        if text.startswith("(", pos):  # ... PAD "(" THREAD ") [" LOGGER "] "
            thread = self.thread.match(text, pos + 1)
            if thread is None or not text.startswith(") [", thread.end()):
                return None
            logger = self.logger.match(text, thread.end() + 3)
            if logger is None or not text.startswith("] ", logger.end()):
                return None
            envelope = _T.env_ts_thread(
                ts, level.group(), pad.group(), thread.group(), _token(logger)
            )
            return envelope, logger.end() + 2
        return None

    def executing_message(self, text: str, pos: int) -> tuple | None:
        """``Executing `` subject `` took `` NUMBER `` seconds`` to the end of the line."""
        if not text.startswith("<", pos):
            return None
        shape = self.handle_class.match(text, pos + 1)
        read = self.handle(text, pos, shape) if shape else self.future(text, pos)
        if read is None:
            return None
        subject, pos = read
        if not text.startswith(" took ", pos):
            return None
        seconds = self.number.match(text, pos + 6)
        if seconds is None or text[seconds.end() :] != " seconds":
            return None
        return _T.executing(subject, seconds.group())  # type: ignore[no-any-return]

    def frame(self, text: str, pos: int) -> tuple | None:
        """``  File "`` FRAME_FILE ``", line `` INT [``, in `` REST] to the end."""
        file = self.frame_file.match(text, pos)
        if file is None or not text.startswith('", line ', file.end()):
            return None
        line = self.int.match(text, file.end() + 8)
        if line is None:
            return None
        pos = line.end()
        if pos == len(text):
            return _T.frame(file.group(), line.group(), None)  # type: ignore[no-any-return]
        if text.startswith(", in ", pos) and pos + 5 < len(text):
            return _T.frame(file.group(), line.group(), text[pos + 5 :])  # type: ignore[no-any-return]
        return None

    # -- reprs: each reads from the "<" and returns (value, position after the ">") ------
    def future(self, text: str, pos: int) -> tuple[dict[str, Any], int] | None:
        """future_repr, where only it may follow (CLASS_NAME alone after the "<")."""
        if not text.startswith("<", pos):
            return None
        cls = self.class_name.match(text, pos + 1)
        if cls is None or not text.startswith(" ", cls.end()):
            return None
        state = self.state.match(text, cls.end() + 1)
        if state is None:
            return None
        pos = state.end()
        name = coro = wait_for = outcome = callbacks = None
        if text.startswith(" name=", pos):
            string = self.string.match(text, pos + 6)
            if string is None:
                return None
            name, pos = string.group(), string.end()
        if text.startswith(" coro=<", pos):
            qualname = self.qualname.match(text, pos + 7)
            if qualname is None or not text.startswith("()", qualname.end()):
                return None
            pos = qualname.end() + 2
            where = None
            for literal in (" running, defined at ", " done, defined at ", " running at "):
                if text.startswith(literal, pos):
                    location = self.location.match(text, pos + len(literal))
                    if location is None:
                        return None
                    where, pos = location.group(), location.end()
                    break
            else:
                if text.startswith(" running", pos):
                    pos += 8
            if not text.startswith(">", pos):
                return None
            coro = _T.coro(qualname.group(), where)
            pos += 1
        if text.startswith(" wait_for=", pos):
            read = self.future(text, pos + 10)
            if read is None:
                return None
            wait_for, pos = read
        for literal, build in ((" result=", _T.result), (" exception=", _T.exception)):
            if text.startswith(literal, pos):
                value = self.value.match(text, pos + len(literal))
                if value is None:
                    return None
                outcome, pos = build(value.group()), value.end()
                break
        if text.startswith(" cb=[", pos):
            pos += 5
            items = []
            while True:
                read = self.callback(text, pos)
                if read is None:
                    return None
                items.append(read[0])
                pos = read[1]
                if not text.startswith(", ", pos):
                    break
                pos += 2
            if not text.startswith("]", pos):
                return None
            callbacks, pos = _T.callbacks(*items), pos + 1
        end = self.created_and_close(text, pos)
        if end is None:
            return None
        created, pos = end
        value = _T.future_repr(
            cls.group(), state.group(), name, coro, wait_for, outcome, callbacks, created
        )
        return value, pos

    def handle(
        self, text: str, pos: int, shape: re.Match[str] | None = None
    ) -> tuple[dict[str, Any], int] | None:
        """handle_repr (`shape` is the HANDLE_CLASS match after the "<", if already made)."""
        if shape is None:
            if not text.startswith("<", pos):
                return None
            shape = self.handle_class.match(text, pos + 1)
            if shape is None:
                return None
        pos = shape.end()
        cancelled = when = callback = None
        # After the class Lark tries " created at ", " cancelled", " when=", then " ".
        if not text.startswith(" created at ", pos):
            if text.startswith(" cancelled", pos):
                cancelled, pos = " cancelled", pos + 10
            if text.startswith(" when=", pos):
                number = self.number.match(text, pos + 6)
                if number is None:
                    return None
                when, pos = number.group(), number.end()
            if text.startswith(" ", pos) and not text.startswith(" created at ", pos):
                read = self.callback(text, pos + 1)
                if read is None:
                    return None
                callback, pos = read
        end = self.created_and_close(text, pos)
        if end is None:
            return None
        created, pos = end
        value = _T.handle_repr(shape.group(), cancelled, when, callback, created)
        return value, pos

    def created_and_close(self, text: str, pos: int) -> tuple[str | None, int] | None:
        """The end of a future or handle repr: an optional " created at LOCATION", then ">".
        Returns the location (None when absent) and the position after the ">"; None when
        the text does not end that way."""
        created = None
        if text.startswith(" created at ", pos):
            location = self.location.match(text, pos + 12)
            if location is None:
                return None
            created, pos = location.group(), location.end()
        if not text.startswith(">", pos):
            return None
        return created, pos + 1

    def callback(self, text: str, pos: int) -> tuple[dict[str, Any], int] | None:
        """(QUALNAME | ANGLE) [ARGS] [" at " LOCATION]."""
        target = self.qualname.match(text, pos) or self.angle.match(text, pos)
        if target is None:
            return None
        pos = target.end()
        args = self.args.match(text, pos)
        if args is not None:
            pos = args.end()
        location = None
        if text.startswith(" at ", pos):
            where = self.location.match(text, pos + 4)
            if where is None:
                return None
            location, pos = where.group(), where.end()
        value = _T.callback(target.group(), args and args.group(), location)
        return value, pos


def _token(match: re.Match[str]) -> Token:
    """A token for the transformer methods that read where it ends."""
    return Token("T", match.group(), end_pos=match.end())


@cache
def _fast_parser() -> _FastParser:
    return _FastParser(_parser())


def parse_line_fast(text: str) -> Line | str:
    """`parse_line`, read without the grammar for the common shapes (equal to it)."""
    line = _fast_parser().line(text)
    return line if line is not None else parse_line(text)


# ---------------------------------------------------------------------------------------------
# Candidates (the fast pre-filter)
# ---------------------------------------------------------------------------------------------

MARKERS: tuple[str, ...] = (
    "Executing <",
    "poll ",
    "address info ",
    "xception in ",
    "destroyed but it is pending",
    "exception was never retrieved",
    "has errored out",
    "asynchronous generator",
    "nhandled e",
    "garbage collected",
    "Fatal ",
    "eof_received",
    "_writing() failed",
    "Error on ",
    "out of system resource",
    "Accept failed",
    "SIGCHLD",
    "raised exception.",
    "that handles pid",
    "child process",
    "Child watcher",
    "Caught subprocess",
    "SSL ",
    "create_server",
    "attempting to bind",
    "UNIX socket",
    "event loop",
    "UVStream",
    "was never yielded from",
    "Warning: ",
    "asyncio",
    "aiodebug",
    "monitor >>> ",
    " tasks running",
    " tasks terminated",
    "Stack of ",
)
"""Phrases of which every line that starts an asyncio record contains at least one (the
message texts of the grammar's `message` rule, the logger names of `other` records, and the
aiomonitor lines that start a dump: prompt, task count, stack header)."""

MARKER_REGEX = "|".join(re.escape(marker) for marker in MARKERS)

_STRONG = re.compile(
    r"Executing <.*> took \d+\.\d+ seconds|Task was destroyed but it is pending!"
    r"|exception was never retrieved|^(?:.*: )?Exception in callback "
    r"|RuntimeWarning: coroutine '.*' was never awaited"
)
"""Lines that are certainly asyncio's: when the grammar rejects one it is `Unparsed`."""


def candidate_mask(lines: pa.StringArray) -> np.ndarray:
    """Which lines may start an asyncio record (vectorised; a superset of the true ones)."""
    mask = pc.match_substring_regex(lines, MARKER_REGEX)
    return np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


PIECE_BYTES = 16 << 10
"""Size of the pieces `candidate_lines` hands to RE2 (cut at line ends)."""
MAX_ROUNDS = 8
"""Rounds of `candidate_lines` before a block counts as dense and is matched line by line."""


def candidate_lines(block: bytes | bytearray) -> tuple[list[int], list[int]]:
    """The lines of a block (whole lines, no final newline) that contain a marker: their
    start offsets and their 0-based indexes, ascending.

    The block is cut at line ends into pieces of about `PIECE_BYTES`. RE2 first tells which
    pieces hold a marker at all (Arrow's ``match_substring_regex``, the fastest of its RE2
    kernels: it stops at a piece's first marker); in those, ``find_substring_regex`` finds
    the first marker, and the next round searches the piece again from the end of the
    line that held it, until no piece has one. The bytes are read about once, without the
    GIL, and no line object is made for lines without a marker. A block where that takes
    more than `MAX_ROUNDS` rounds has markers on many lines; it is split into lines and
    matched line by line. Line indexes are counted by numpy between hits.
    """
    size = len(block)
    bounds = [0]
    at = PIECE_BYTES
    while at < size:
        newline = block.find(b"\n", at)
        if newline < 0:
            break
        bounds.append(newline + 1)
        at = newline + 1 + PIECE_BYTES
    starts = np.array(bounds, dtype=np.int64)
    ends = np.append(starts[1:], size)
    buffer = pa.py_buffer(block)
    offsets = np.append(starts, size)
    pieces = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(starts), [None, pa.py_buffer(offsets), buffer]
    )
    marked = pc.match_substring_regex(pieces, MARKER_REGEX).to_numpy(zero_copy_only=False)
    starts, ends = starts[marked], ends[marked]
    hits: list[int] = []
    for _ in range(MAX_ROUNDS):
        if not len(starts):
            break
        first = _first_markers(buffer, starts, ends)
        found = first >= 0
        if not found.any():
            starts = starts[:0]
            break
        pieces_found = starts[found].tolist()
        following = []
        positions = (starts[found] + first[found]).tolist()
        for piece, position in zip(pieces_found, positions, strict=True):
            line_start = block.rfind(b"\n", piece, position)
            hits.append(piece if line_start < 0 else line_start + 1)
            line_end = block.find(b"\n", position)
            following.append(size if line_end < 0 else line_end + 1)
        starts, ends = np.array(following, dtype=np.int64), ends[found]
        left = starts < ends
        starts, ends = starts[left], ends[left]
    if len(starts):
        return _candidate_lines_dense(block)
    hits.sort()
    data = np.frombuffer(block, dtype=np.uint8)
    indexes, previous, count = [], 0, 0
    for offset in hits:
        count += int(np.count_nonzero(data[previous:offset] == 10))
        indexes.append(count)
        previous = offset
    return hits, indexes


def _first_markers(buffer: pa.Buffer, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each piece [start, end) of the buffer, where its first marker is (-1: none).

    The pieces need not touch: the array alternates null gaps (never searched) and pieces.
    """
    count = len(starts)
    offsets = np.empty(2 * count + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1::2] = starts
    offsets[2::2] = ends
    valid = np.zeros(2 * count, dtype=bool)
    valid[1::2] = True
    array = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        2 * count,
        [pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(offsets), buffer],
        null_count=count,
    )
    first = pc.find_substring_regex(array, MARKER_REGEX).fill_null(-1)
    return np.asarray(first.to_numpy(zero_copy_only=False))[1::2]


def _candidate_lines_dense(block: bytes | bytearray) -> tuple[list[int], list[int]]:
    """`candidate_lines` by splitting the block into lines and matching each (RE2)."""
    data = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    offsets = np.empty(len(newlines) + 2, dtype=np.int64)
    offsets[0] = 0
    offsets[1:-1] = newlines + 1
    offsets[-1] = len(block)
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(newlines) + 1, [None, pa.py_buffer(offsets), pa.py_buffer(block)]
    )
    mask = pc.match_substring_regex(lines, MARKER_REGEX).to_numpy(zero_copy_only=False)
    indexes = np.flatnonzero(mask)
    return offsets[indexes].tolist(), indexes.tolist()


def _decode(raw: bytes | bytearray) -> str:
    """One line as `LineChunk.lines` holds it: UTF-8 (bad bytes as ``\\xNN``), CR trimmed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="backslashreplace")
    return text.rstrip("\r") if text.endswith("\r") else text


# ---------------------------------------------------------------------------------------------
# Record assembly
# ---------------------------------------------------------------------------------------------


def _is_asyncio_logger(name: str | None) -> bool:
    return name is not None and (
        name == "asyncio" or name.startswith("asyncio.") or name.startswith("aiodebug")
    )


_SINGLE_LINE_KINDS = frozenset({"slow_callback", "poll_timing", "getaddrinfo"})
_HINT = "Enable tracemalloc to get the object allocation traceback"


_PLAIN_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,6}))?")


def _time_seconds(text: str | None) -> float | None:
    """Envelope time text -> Unix seconds (zone-less read as UTC); None without a year."""
    if not text or not text[:4].isdigit():
        return None
    plain = _PLAIN_TIME.fullmatch(text)
    if plain is not None:  # what the strptime patterns below read, without strptime
        *fields, fraction = plain.groups()
        try:
            stamp = datetime(
                *map(int, fields),
                int((fraction or "0").ljust(6, "0")),
                tzinfo=timezone.utc,
            )
        except ValueError:
            return None
        return stamp.timestamp()
    cleaned = text.replace(",", ".").replace("T", " ").replace(" +", "+").replace(" -", "-")
    cleaned = cleaned.replace("Z", "+0000")
    for pattern in (
        "%Y-%m-%d %H:%M:%S.%f%z",
        "%Y-%m-%d %H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S.%f",
        "%Y-%m-%d %H:%M:%S",
    ):
        try:
            stamp = datetime.strptime(cleaned, pattern)
        except ValueError:
            continue
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        return stamp.timestamp()
    return None


@dataclass
class _Open:
    """A record being assembled."""

    first: int
    last: int
    start: Line
    texts: list[str]
    conts: list[Line] = field(default_factory=list)
    seen_traceback: bool = False
    previous: str = "start"
    after_exc: bool = False
    pending: list[tuple[int, str, Line]] = field(default_factory=list)


@dataclass
class _Dump:
    """An aiomonitor dump being assembled: a ``ps`` table or a ``where`` output."""

    first: int
    last: int
    command: str
    task_id: str | None
    stage: str
    """ps: ``count``, ``top`` (rule read), ``head`` (header read), ``rows``; where: ``stack``."""
    header: dict[str, Any] | None = None
    rows: list[TaskSnapshot] = field(default_factory=list)
    unparsed: list[Unparsed] = field(default_factory=list)
    stack: dict[str, Any] | None = None
    pending: list[int] = field(default_factory=list)


_WHERE_COMMANDS = frozenset({"where", "w", "where-terminated", "wt"})
_SINCE = re.compile(
    r"^(?:(?P<y>\d+)y)?(?:(?P<mo>\d+)m)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?"
    r"(?P<min>\d+):(?P<s>\d+(?:\.\d+)?)$"
)
_ROW_UNFIT = "aiomonitor table row does not fit the header's columns"


def _since_seconds(text: str) -> float | None:
    """aiomonitor's ``_format_timedelta`` text (``[Ny][Nm][Nd][Nh]MM:SS.mmm``, m = 30 days)
    as seconds; None for ``-`` or anything else."""
    match = _SINCE.match(text)
    if match is None:
        return None
    days = int(match["y"] or 0) * 365 + int(match["mo"] or 0) * 30 + int(match["d"] or 0)
    hours = days * 24 + int(match["h"] or 0)
    return hours * 3600.0 + int(match["min"]) * 60 + float(match["s"])


def _coro_name(text: str | None) -> str | None:
    if not text:
        return None
    return text[:-2] if text.endswith("()") else text


def _table_cells(text: str, header: dict[str, Any], count: int) -> list[str] | None:
    """A row's cells: cut at the header's column starts when the row is as wide as the
    header and blank before each start (terminaltables pads every cell by one blank each
    side); else split at runs of 2+ blanks if that gives `count` cells; else None."""
    offsets = header["offsets"]
    if len(text) == header["width"] and all(text[o - 2 : o] == "  " for o in offsets[1:]):
        bounds = [*offsets, len(text) - 1]
        return [text[bounds[i] : bounds[i + 1]].strip() for i in range(count)]
    cells = re.split(r" {2,}", text[1:-1].strip())
    return cells if len(cells) == count else None


class Assembler:
    """Joins parsed lines into records and aiomonitor dumps into snapshot rows. Feed lines
    in order; read `records`, `snapshots`, `unparsed`."""

    def __init__(self, parse: Callable[[str], Line | str] = parse_line) -> None:
        self._parse = parse
        self.records: list[AsyncioRecord] = []
        self.snapshots: list[TaskSnapshot] = []
        self.unparsed: list[Unparsed] = []
        self.record_lines = 0
        self.snapshot_lines = 0
        self._open: _Open | None = None
        self._dump: _Dump | None = None
        self._prompt: tuple[int, str, list[int]] | None = None

    @property
    def wants_next(self) -> bool:
        """True while a record or dump is open (or an aiomonitor prompt waits for its
        output): the next line must be fed, candidate or not."""
        return self._open is not None or self._dump is not None or self._prompt is not None

    def feed(self, line_no: int, text: str) -> None:
        """One line, in input order."""
        if text.startswith("{") and self._feed_json(line_no, text):
            return
        parsed = self._parse(text)
        if self._prompt is not None and self._prompt_continue(line_no, parsed):
            return
        if self._dump is not None and self._dump_continue(line_no, text, parsed):
            return
        if self._open is not None and self._continue(line_no, text, parsed):
            return
        self._start(line_no, text, parsed)

    def finish(self) -> None:
        """Close the record or dump still open at the end of the input."""
        self._close()
        self._end_monitor()

    # -- internals ------------------------------------------------------------------------
    def _start(self, line_no: int, text: str, parsed: Line | str) -> None:
        if isinstance(parsed, str):
            if _STRONG.search(text):
                self.unparsed.append(Unparsed(line_no, text, parsed))
            return
        if parsed.role == "monitor":
            kind = parsed.data["type"]
            if kind == "prompt":
                self._prompt = (line_no, parsed.data["command"], [])
            elif kind in ("count", "stack"):
                self._open_dump(line_no, parsed, None)
            return
        if parsed.role == "other" and not _is_asyncio_logger((parsed.envelope or {}).get("logger")):
            return
        if parsed.role not in ("start", "other"):
            return
        self._open = _Open(line_no, line_no, parsed, [text])
        if parsed.data["kind"] in _SINGLE_LINE_KINDS:
            self._close()

    def _continue(self, line_no: int, text: str, parsed: Line | str) -> bool:
        """Add the line to the open record if it belongs there; else close the record."""
        record = self._open
        assert record is not None
        if isinstance(parsed, str) or parsed.role not in ("cont", "blank"):
            self._close()
            return False
        start_journal = (record.start.journal or {}).get("key")
        if (parsed.journal or {}).get("key") != start_journal:
            self._close()
            return False
        if parsed.role == "blank":
            record.pending.append((line_no, text, parsed))
            return True
        kind = parsed.data["type"]
        if record.after_exc and kind != "chain":
            self._close()
            return False
        if not self._accepts(record, kind):
            self._close()
            return False
        for pending_no, pending_text, _ in record.pending:
            record.texts.append(pending_text)
            record.last = pending_no
        record.pending.clear()
        record.texts.append(text)
        record.last = line_no
        record.conts.append(parsed)
        record.previous = kind
        if kind == "traceback":
            record.seen_traceback = True
        record.after_exc = kind == "exc"
        return True

    @staticmethod
    def _accepts(record: _Open, kind: str) -> bool:
        start_kind = record.start.data["kind"]
        warning = "exc_type" in record.start.data
        if start_kind == "other" and not warning and not record.conts and kind != "traceback":
            return False
        if kind == "exc":
            return (
                record.seen_traceback
                or record.previous in ("frame", "indented")
                or (record.previous == "key" and start_kind in ("never_retrieved", "exception"))
            )
        return True

    def _close(self) -> None:
        record = self._open
        if record is None:
            return
        self._open = None
        self.records.append(
            _build(record.first, record.last, record.start, record.conts, record.texts)
        )
        self.record_lines += record.last - record.first + 1
        # Pending blank lines after the record are application lines.

    # -- aiomonitor dumps -----------------------------------------------------------------
    def _prompt_continue(self, line_no: int, parsed: Line | str) -> bool:
        """A ``monitor >>> CMD`` prompt line belongs to the dump printed right after it
        (blank lines between allowed); else it is an application line."""
        assert self._prompt is not None
        prompt_line, command, blanks = self._prompt
        if isinstance(parsed, Line) and parsed.role == "blank":
            blanks.append(line_no)
            return True
        self._prompt = None
        if (
            isinstance(parsed, Line)
            and parsed.role == "monitor"
            and parsed.data["type"] in ("count", "stack")
        ):
            self._open_dump(line_no, parsed, (prompt_line, command))
            return True
        return False

    def _open_dump(self, line_no: int, parsed: Line, prompt: tuple[int, str] | None) -> None:
        data = parsed.data
        first = prompt[0] if prompt is not None else line_no
        if data["type"] == "count":
            self._dump = _Dump(first, line_no, data["command"], None, "count")
            return
        task_id = None
        words = prompt[1].split() if prompt is not None else []
        if len(words) >= 2 and words[0] in _WHERE_COMMANDS:
            task_id = words[1]
        command = "where-terminated" if data["terminated"] else "where"
        self._dump = _Dump(first, line_no, command, task_id, "stack")
        self._dump.stack = _new_stack(line_no, data)

    def _dump_continue(self, line_no: int, text: str, parsed: Line | str) -> bool:
        """Add the line to the open dump if it belongs there; else close the dump."""
        dump = self._dump
        assert dump is not None
        if isinstance(parsed, str):
            self._end_monitor()
            return False
        data = parsed.data
        if dump.stage == "stack":
            if parsed.role == "blank":
                dump.pending.append(line_no)
                return True
            if parsed.role == "monitor" and data["type"] == "stack":
                if ("where-terminated" if data["terminated"] else "where") == dump.command:
                    self._end_stack(dump)
                    dump.stack = _new_stack(line_no, data)
                    dump.pending.clear()
                    dump.last = line_no
                    return True
            elif parsed.role == "cont" and not dump.pending and _add_to_stack(dump, data, text):
                assert dump.stack is not None
                dump.last = dump.stack["last"] = line_no
                return True
            self._end_monitor()
            return False
        kind = data["type"] if parsed.role == "monitor" else None
        if dump.stage == "count" and kind == "rule":
            dump.stage = "top"
        elif dump.stage == "top" and kind == "header" and data["command"] == dump.command:
            dump.header, dump.stage = data, "head"
        elif dump.stage == "head" and kind == "rule":
            dump.stage = "rows"
        elif dump.stage == "rows" and kind == "row":
            self._table_row(dump, line_no, data["text"])
        elif dump.stage == "rows" and kind == "rule":
            dump.last = line_no
            self._end_monitor()
            return True
        else:
            self._end_monitor()
            return False
        dump.last = line_no
        return True

    def _table_row(self, dump: _Dump, line_no: int, text: str) -> None:
        assert dump.header is not None
        ps = dump.command == "ps"
        cells = _table_cells(text, dump.header, len(PS_COLUMNS if ps else PS_TERMINATED_COLUMNS))
        if cells is None or not cells[0]:
            dump.unparsed.append(Unparsed(line_no, text, _ROW_UNFIT))
            return
        base = {"snapshot": dump.first, "command": dump.command, "line_no": line_no}
        if ps:
            task_id, state, name, coro, created, since = cells
            row = TaskSnapshot(
                **base,
                line_end=line_no,
                task_id=task_id,
                state=state or None,
                name=name or None,
                coro=_coro_name(coro),
                created_at=None if created in ("", "-") else created,
                since_s=_since_seconds(since),
            )
        else:
            trace_id, name, coro, started, terminated = cells
            row = TaskSnapshot(
                **base,
                line_end=line_no,
                task_id=trace_id,
                name=name or None,
                coro=_coro_name(coro),
                since_s=_since_seconds(started),
                terminated_s=_since_seconds(terminated),
            )
        dump.rows.append(row)

    def _end_stack(self, dump: _Dump) -> None:
        stack = dump.stack
        if stack is None:
            return
        dump.stack = None
        data = stack["data"]
        state = exception = None
        if dump.command == "where-terminated" and data["section"] != "root":
            status = data["status"] or ""
            state = "CANCELLED" if status == "cancelled" else "FINISHED"
            exception = status[4:] if status.startswith("exc=") else None
        dump.rows.append(
            TaskSnapshot(
                snapshot=dump.first,
                command=dump.command,
                line_no=stack["line"],
                line_end=stack["last"],
                task_id=dump.task_id if data["section"] == "task" else None,
                state=state,
                name=data["name"],
                coro=_coro_name(data["coro"]),
                section=data["section"],
                exception=exception,
                note=stack["note"],
                frames=stack["frames"],
            )
        )

    def _end_monitor(self) -> None:
        """Close the open dump (a table counts once its header was read) and drop a
        waiting prompt (an application line then)."""
        self._prompt = None
        dump = self._dump
        if dump is None:
            return
        self._dump = None
        self._end_stack(dump)
        if dump.stage in ("count", "top"):
            return
        self.snapshots += dump.rows
        self.unparsed += dump.unparsed
        self.snapshot_lines += dump.last - dump.first + 1 - len(dump.unparsed)

    # -- JSON lines -----------------------------------------------------------------------
    def _feed_json(self, line_no: int, text: str) -> bool:
        try:
            obj = json.loads(text)
        except ValueError:
            return False
        if not isinstance(obj, dict):
            return False
        self._end_monitor()
        if "MESSAGE" in obj and isinstance(obj["MESSAGE"], str):
            return self._feed_journal_json(line_no, obj)
        message = obj.get("message", obj.get("msg"))
        if not isinstance(message, str):
            return False
        self._close()
        envelope = {
            "time": _json_str(obj, "asctime", "time", "timestamp"),
            "level": _json_str(obj, "levelname", "level"),
            "logger": _json_str(obj, "name", "logger"),
            "pid": _json_int(obj, "process", "pid"),
        }
        if envelope["time"] is None and isinstance(obj.get("created"), (int, float)):
            envelope["time_s"] = float(obj["created"])
        texts = message.rstrip("\n").split("\n")
        for extra in ("exc_info", "stack_info"):
            if isinstance(obj.get(extra), str) and obj[extra]:
                texts += obj[extra].rstrip("\n").split("\n")
        first = self._parse(texts[0])
        if isinstance(first, str) or first.role not in ("start", "other"):
            if not _is_asyncio_logger(envelope["logger"]):
                if isinstance(first, str) and _STRONG.search(texts[0]):
                    self.unparsed.append(Unparsed(line_no, text, first))
                return True
            first = Line("other", {"kind": "other"}, None, None)
        start = Line(first.role, first.data, {**envelope, "end": 0}, None)
        conts: list[Line] = []
        for sub in texts[1:]:
            parsed = self._parse(sub)
            if isinstance(parsed, Line) and parsed.role == "cont":
                conts.append(parsed)
        self.records.append(_build(line_no, line_no, start, conts, texts))
        self.record_lines += 1
        return True

    def _feed_journal_json(self, line_no: int, obj: dict[str, Any]) -> bool:
        ident = obj.get("SYSLOG_IDENTIFIER", "?")
        pid = _json_int(obj, "_PID")
        stamp = obj.get("__REALTIME_TIMESTAMP")
        prefix_time = None
        if isinstance(stamp, str) and stamp.isdigit():
            prefix_time = datetime.fromtimestamp(int(stamp) / 1e6, timezone.utc).isoformat()
        journal = {"time": prefix_time, "key": f"json {ident}[{pid}]", "pid": pid, "end": 0}
        text = obj["MESSAGE"]
        parsed = self._parse(text)
        if isinstance(parsed, Line):
            parsed = Line(parsed.role, parsed.data, parsed.envelope, journal)
        if self._open is not None and self._continue(line_no, text, parsed):
            return True
        self._start(line_no, text, parsed)
        return True


def _new_stack(line_no: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"line": line_no, "last": line_no, "data": data, "frames": [], "note": None}


def _add_to_stack(dump: _Dump, data: dict[str, Any], text: str) -> bool:
    """A ``where`` stack's content: a frame, the code line under it, or the note printed
    instead of frames. False when the line is none of those."""
    stack = dump.stack
    if stack is None:
        return False
    frames = stack["frames"]
    if data["type"] == "frame" and stack["note"] is None:
        frames.append(
            {"file": data["file"], "line": data["line"], "function": data["function"], "code": None}
        )
        return True
    if data["type"] != "indented":
        return False
    if frames and frames[-1]["code"] is None:
        if text.startswith("    "):
            frames[-1]["code"] = text.strip()
            return True
        return False
    if not frames and stack["note"] is None:
        stack["note"] = text.strip()
        return True
    return False


def _json_str(obj: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = obj.get(name)
        if isinstance(value, str):
            return value
    return None


def _json_int(obj: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = obj.get(name)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def _build(
    first: int, last: int, start: Line, conts: list[Line], texts: list[str]
) -> AsyncioRecord:
    """The record for a start line and its continuation lines (field rules: asyncio_record)."""
    data = start.data
    envelope = start.envelope or {}
    journal = start.journal or {}
    subject = data.get("subject")
    for cont in conts:
        if subject is None and cont.data["type"] == "key" and "subject" in cont.data:
            subject = cont.data["subject"]
    subject = subject or {}
    time_text = envelope.get("time") or journal.get("time")
    time_s = envelope.get("time_s")
    if time_s is None:
        time_s = _time_seconds(time_text)
    exc_type, exc_message = data.get("exc_type"), None
    if exc_type is not None:  # a warning: category and text
        exc_message = texts[0][_message_start(start) :].split(f"{exc_type}: ", 1)[-1]
    excs = [
        cont
        for cont in conts
        if cont.data["type"] == "exc" and (cont.data.get("exc_message") or "") != _HINT
    ]
    if excs:
        exc_type, exc_message = excs[-1].data["exc_type"], excs[-1].data["exc_message"]
    elif exc_type is None:
        exc_type, exc_message = _exception_value(subject.get("exception"))
    uvloop = data.get("uvloop") or subject.get("uvloop")
    if any(cont.data["type"] == "frame" and cont.data.get("uvloop") for cont in conts):
        uvloop = True
    return AsyncioRecord(
        line_start=first,
        line_end=last,
        kind=data["kind"],
        time=time_text,
        time_s=time_s,
        level=envelope.get("level"),
        logger=envelope.get("logger"),
        pid=envelope.get("pid", journal.get("pid")),
        message=texts[0][_message_start(start) :],
        duration_s=data.get("duration_s"),
        repr_class=subject.get("class") or data.get("repr_class"),
        task_name=subject.get("name"),
        task_state=subject.get("state"),
        coro=subject.get("coro") or data.get("coro"),
        callback=subject.get("callback") or data.get("callback"),
        location=subject.get("location") or data.get("location"),
        created_at=subject.get("created_at"),
        exc_type=exc_type,
        exc_message=exc_message,
        uvloop=True if uvloop else None,
        text="\n".join(texts),
    )


def _message_start(line: Line) -> int:
    if line.envelope is not None:
        return int(line.envelope.get("end", 0))
    if line.journal is not None:
        return int(line.journal.get("end", 0))
    return 0


# ---------------------------------------------------------------------------------------------
# Detection and whole inputs
# ---------------------------------------------------------------------------------------------

SNIFF_LINES = 200


def sniff(head: bytes) -> float:
    """How much the first lines look like a log with asyncio messages (0..1).

    An application log is mostly other lines, so one recognised asyncio record (or one
    aiomonitor dump) is already good evidence: the score is 0.5 for one and grows with the
    share of the lines they span.
    """
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()[:SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]
    if not lines:
        return 0.0
    assembler = Assembler(parse_line_fast)
    for number, line in enumerate(lines, 1):
        assembler.feed(number, line)
    assembler.finish()
    strong = [r for r in assembler.records if r.kind != "other" or r.logger is not None]
    if not strong and not assembler.snapshots:
        return 0.0
    known = assembler.record_lines + assembler.snapshot_lines
    return min(1.0, 0.5 + 0.5 * known / len(lines))


@dataclass(frozen=True)
class ParsedLog:
    """What parsing one input produced: the tables and the line counts.

    ``line_count == record_lines + snapshot_lines + application_lines + unparsed rows``.
    """

    loop_events: pa.Table
    unparsed: pa.Table
    line_count: int
    record_count: int
    record_lines: int
    application_lines: int
    non_utf8_lines: int
    tasks_snapshot: pa.Table
    """aiomonitor ``ps`` / ``where`` dumps (`TASKS_SNAPSHOT`); empty when there are none."""
    snapshot_lines: int = 0


def records_to_table(records: Iterable[AsyncioRecord], input_name: str) -> pa.Table:
    """Records as a `loop_events` table."""
    rows = list(records)
    columns: dict[str, Any] = {"input": [input_name] * len(rows)}
    values = zip(*rows, strict=True) if rows else ([] for _ in AsyncioRecord._fields)
    columns.update(zip(AsyncioRecord._fields, values, strict=True))
    return pa.table(columns, schema=LOOP_EVENTS.schema)


def snapshots_to_table(rows: Iterable[TaskSnapshot], input_name: str) -> pa.Table:
    """Snapshot rows as a `tasks_snapshot` table."""
    items = list(rows)
    columns: dict[str, list[Any]] = {"input": [input_name] * len(items)}
    for index, name in enumerate(TaskSnapshot._fields):
        columns[name] = [row[index] for row in items]
    return pa.table(columns, schema=TASKS_SNAPSHOT.schema)


def table_to_snapshots(table: pa.Table) -> list[TaskSnapshot]:
    """The inverse of `snapshots_to_table`, for comparing engines."""
    data = table.to_pydict()
    return [
        TaskSnapshot(*(data[name][row] for name in TaskSnapshot._fields))
        for row in range(table.num_rows)
    ]


def table_to_records(table: pa.Table) -> list[AsyncioRecord]:
    """The inverse of `records_to_table`, for comparing engines."""
    data = table.to_pydict()
    return [
        AsyncioRecord(*(data[name][row] for name in AsyncioRecord._fields))
        for row in range(table.num_rows)
    ]


def _feed_chunk(assembler: Assembler, chunk: LineChunk, mask: np.ndarray | None) -> None:
    """Feed a chunk's lines: all of them (no mask), or the masked ones and the lines after
    them while the assembler wants them."""
    first = chunk.first_line_no
    lines = chunk.lines
    if mask is None:
        for offset, text in enumerate(lines.to_pylist()):
            assembler.feed(first + offset, text or "")
        return
    candidates = np.flatnonzero(mask)
    count = len(lines)
    position = 0
    while position < count:
        if not assembler.wants_next:
            index = int(np.searchsorted(candidates, position))
            if index >= len(candidates):
                break
            position = int(candidates[index])
        assembler.feed(first + position, lines[position].as_py() or "")
        position += 1


def _feed_block(assembler: Assembler, chunk: LineChunk, hits: tuple[list[int], list[int]]) -> None:
    """Feed the candidate lines of a chunk (`candidate_lines`) and the lines after them
    while the assembler wants them, reading each from the raw block."""
    block = chunk.block
    assert block is not None
    offsets, indexes = hits
    first = chunk.first_line_no
    size = len(block)
    position = index = 0
    next_hit = 0
    while True:
        if not assembler.wants_next:
            while next_hit < len(offsets) and offsets[next_hit] < position:
                next_hit += 1
            if next_hit == len(offsets):
                return
            position, index = offsets[next_hit], indexes[next_hit]
            next_hit += 1
        end = block.find(b"\n", position)
        if end < 0:
            end = size
        assembler.feed(first + index, _decode(block[position:end]))
        if end >= size:
            return
        position, index = end + 1, index + 1


_DONE = object()


def _ahead(
    chunks: Iterator[LineChunk],
    prepare: Callable[[LineChunk], tuple[LineChunk, Any]],
    threads: int,
) -> Iterator[tuple[LineChunk, Any]]:
    """`prepare` of each chunk, in input order. With `threads` >= 2 a reader thread pulls the
    chunks (reading and decompressing the input) and hands each to a pool of `threads`
    workers, up to `threads` + 1 chunks ahead of the caller, so the calling thread only
    feeds the assembler; errors of the reader are raised here. With 1, all in this thread.
    """
    if threads <= 1:
        for chunk in chunks:
            yield prepare(chunk)
        return
    ready: queue.Queue[Any] = queue.Queue(maxsize=threads + 1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not put(pool.submit(prepare, chunk)):
                    return
        except BaseException as error:  # handed to the calling thread
            put(error)
            return
        put(_DONE)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        reader = threading.Thread(target=read, name="asyncio-log-reader", daemon=True)
        reader.start()
        try:
            while (item := ready.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item.result()
        finally:
            stop.set()
            reader.join()


def parse(
    chunks: Iterator[LineChunk],
    input_name: str,
    engine: str = "fast",
    threads: int = 2,
    on_chunk: Callable[[LineChunk], None] | None = None,
) -> ParsedLog:
    """Parse one input. ``engine`` is ``fast`` (marker pre-filter on the bytes, then
    `parse_line_fast`) or ``lark`` (the grammar on every line). With ``threads`` >= 2 the
    input is read and pre-filtered ahead in other threads (`_ahead`; reading, RE2 and numpy
    release the GIL); assembly is sequential, so records may span chunks."""
    if engine not in ("fast", "lark"):
        raise ValueError(f"unknown engine {engine!r}")
    assembler = Assembler(parse_line_fast if engine == "fast" else parse_line)
    line_count = 0
    non_utf8 = 0

    def prepare(chunk: LineChunk) -> tuple[LineChunk, Any]:
        if engine == "lark":
            return chunk, None
        if chunk.block is None:
            return chunk, candidate_mask(chunk.lines)
        hits = candidate_lines(chunk.block)
        chunk.non_utf8_lines  # noqa: B018 - checks the UTF-8 here, off the feeding thread
        return chunk, hits

    for chunk, found in _ahead(chunks, prepare, threads):
        line_count += chunk.line_count
        non_utf8 += chunk.non_utf8_lines
        if on_chunk is not None:
            on_chunk(chunk)
        if isinstance(found, tuple):
            _feed_block(assembler, chunk, found)
        else:
            _feed_chunk(assembler, chunk, found)
    assembler.finish()
    unparsed = unparsed_table(
        input_name,
        sorted(
            ((item.line_no, item.text, item.reason) for item in assembler.unparsed),
            key=lambda row: row[0],
        ),
    )
    return ParsedLog(
        loop_events=records_to_table(assembler.records, input_name),
        unparsed=unparsed,
        line_count=line_count,
        record_count=len(assembler.records),
        record_lines=assembler.record_lines,
        application_lines=line_count
        - assembler.record_lines
        - assembler.snapshot_lines
        - len(assembler.unparsed),
        non_utf8_lines=non_utf8,
        tasks_snapshot=snapshots_to_table(assembler.snapshots, input_name),
        snapshot_lines=assembler.snapshot_lines,
    )


def input_report(parsed: ParsedLog) -> dict[str, Any]:
    """The asyncio keys of an `inputs[]` entry: asyncio records, their lines (and the lines
    of aiomonitor dumps), the other lines (application lines count as parsed: they were
    read and are not asyncio's)."""
    asyncio_lines = parsed.record_lines + parsed.snapshot_lines
    return {
        "parsed_lines": asyncio_lines + parsed.application_lines,
        "asyncio_records": parsed.record_count,
        "asyncio_lines": asyncio_lines,
        "application_lines": parsed.application_lines,
    }
