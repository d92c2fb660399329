"""Reference parser for asyncio log lines, driven by the grammar `grammars/asyncio.lark`.

This is the slow-but-obviously-correct parser: every line goes through an LALR parser built
from the grammar, which specifies one line (envelope, message, continuation, aiomonitor
console output). `parse_line(text)` reduces the parse tree to a `Line` (`asyncio_record`) with
the `ToLine` transformer, or returns the reason (a string) why the grammar rejects the line.

A line in a logging envelope the `line` rule does not know (any order of fields, any
separators) is read by the procedure the grammar's header specifies (`read_line`): the cut
reprs of `cut_line`, then the message found at a `MESSAGE_START` with the text before it read
as `fields`, then the `envelope_other` of asyncio's loggers. The procedure reads the parts
through a `Readers` object: `GrammarReaders` here (each part by the grammar), the fast paths'
in `asyncio_scan`, so the two engines share the procedure and differ only in how they read
each part.

The fast line parser (`asyncio_scan.parse_line_fast`) uses the same parser (`cached_parser`)
and calls the same transformer (`TO_LINE`) on what it reads, so its values are the grammar's
by construction; tests check that it reads every line as `parse_line` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput

from analyzer.formats import grammar
from analyzer.formats.asyncio_record import Line

__all__ = [
    "GRAMMAR_READERS",
    "MESSAGE_HINTS",
    "PS_COLUMNS",
    "PS_TERMINATED_COLUMNS",
    "START_SYMBOLS",
    "TO_LINE",
    "GrammarReaders",
    "LazyReason",
    "Readers",
    "Rejected",
    "ToLine",
    "build_parser",
    "cached_parser",
    "cut_callback",
    "cut_subject",
    "is_asyncio_logger",
    "journal_info",
    "message_start",
    "message_start_parts",
    "message_starts",
    "parse_line",
    "read_fields",
    "read_line",
    "settled",
]


START_SYMBOLS = ("line", "fields", "envelope_other", "cut_line")
"""The grammar's start symbols: a line, and the parts of lines in other envelopes."""


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/asyncio.lark` (start symbols `START_SYMBOLS`)."""
    return grammar.build("asyncio.lark", START_SYMBOLS, strict=strict)


@cache
def cached_parser() -> Lark:
    """The parser of `parse_line`, built once; the fast line parser reads its terminals and
    lexer states."""
    return build_parser()


_WARNING_HEAD = re.compile(r"^(?P<file>.*):(?P<line>\d+): (?P<category>\w+): $")
_NUM = re.compile(r"\d+(?:\.\d+)?")
_GAI = re.compile(r"^Getting address info (?P<query>.*) took (?P<ms>\d+\.\d+)ms: $")
_JOURNAL = re.compile(r"^(?P<time>.+) (?P<host>\S+) (?P<ident>[^\s\[]+)\[(?P<pid>\d+)\]: ?$")
_COMPOSE = re.compile(r"^(?:\x1b\[[\d;]*m)?(?P<service>[\w\-]+) +\| (?:\x1b\[[\d;]*m)?$")
_TRAILING_ANSI = re.compile(r"(?:\x1b\[[\d;]*m)+$")
_GUNICORN = re.compile(r"^\[(?P<time>[^\]]+)\] \[(?P<pid>\d+)\] \[(?P<level>[A-Z]+)\] $")
_STACK = re.compile(
    r"^Stack of (?:the root task or coroutine scheduled in the event loop(?P<root_blank> ?)"
    r"|<(?P<cls>Task|TerminatedTask) name=(?P<name>.*) coro=(?P<coro>[^ >]*)"
    r"(?: (?P<status>[^<>]*))?>(?P<creator> when creating the next task)? )"
    r"\(most recent call last\)$"
)
PS_COLUMNS = ("Task ID", "State", "Name", "Coroutine", "Created Location", "Since")
PS_TERMINATED_COLUMNS = ("Trace ID", "Name", "Coro", "Since Started", "Since Terminated")


@v_args(inline=True)
class ToLine(Transformer):
    """Parse tree -> `Line`."""

    # -- line and envelopes ---------------------------------------------------------------
    def line(self, journal: Token | None, content: Any) -> Line:
        jinfo = None
        if journal is not None:
            assert journal.end_pos is not None
            jinfo = journal_info(str(journal), journal.end_pos)
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
            "end": _end(logger),
        }

    def env_ts_bracket(self, ts: Token, level: Token, _pad: Token, logger: Token) -> dict:
        return {
            "time": str(ts),
            "level": str(level),
            "logger": str(logger),
            "end": _end(logger) + 2,
        }

    def env_ts_thread(
        self, ts: Token, level: Token, _pad: Token, thread: Token, logger: Token
    ) -> dict:
        return {
            "time": str(ts),
            "level": str(level),
            "logger": str(logger),
            "thread": str(thread),
            "end": _end(logger) + 2,
        }

    def env_ts_dash_level(self, ts: Token, level: Token, _pad: Token, logger: Token) -> dict:
        return {
            "time": str(ts),
            "level": str(level),
            "logger": str(logger)[:-2],
            "end": _end(logger),
        }

    def env_ts_dash_logger(self, ts: Token, logger: Token, level: Token) -> dict:
        return {
            "time": str(ts),
            "level": str(level),
            "logger": str(logger),
            "end": _end(level) + 3,
        }

    # -- generic envelopes (section 1b) ---------------------------------------------------
    def fields(self, *tokens: Token | None) -> dict[str, Any]:
        # (the first child is the [F_SERVICE] placeholder: None when absent)
        return read_fields([(token.type, str(token)) for token in tokens if token is not None])

    def envelope_other(self, *tokens: Token | None) -> tuple[dict[str, Any], int, str]:
        other = tokens[-1]
        assert other is not None and other.start_pos is not None
        fields = [(token.type, str(token)) for token in tokens[:-1] if token is not None]
        return read_fields(fields), other.start_pos, str(other)

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
        name = str(token).split(" ", 1)[0]
        return self._start("never_retrieved", repr_class=None if "/" in name else name)

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

    # -- reprs that asyncio cut (section 3b) ----------------------------------------------
    def cut_executing(self, text: Token, seconds: Token) -> tuple:
        return self._start(
            "slow_callback", subject=cut_subject(str(text)), duration_s=float(seconds)
        )

    def cut_exception(self, token: Token) -> tuple:
        name, location = cut_callback(str(token))
        return self._start("exception", callback=name, location=location, uvloop=None)

    def cut_key(self, _key: Token, text: Token) -> tuple:
        return self._cont("key", subject=cut_subject(str(text)))

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


def _end(token: Token) -> int:
    """Where a token ends in the line."""
    assert token.end_pos is not None
    return token.end_pos


def _unquote(token: Token | str) -> str:
    text = str(token)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


TO_LINE = ToLine()


def is_asyncio_logger(name: str | None) -> bool:
    """The loggers asyncio's messages come from: ``asyncio``, ``asyncio.*``, ``aiodebug*``."""
    return name is not None and (
        name == "asyncio" or name.startswith("asyncio.") or name.startswith("aiodebug")
    )


def journal_info(text: str, end: int) -> dict[str, Any] | None:
    """The values of a JOURNAL prefix (`text`, ending at `end` in the line): journald's, or
    docker compose's service (no time, no pid). ``key`` tells the lines of one source."""
    compose = _COMPOSE.match(text)
    if compose is not None:
        return {"time": None, "key": f"compose {compose['service']}", "pid": None, "end": end}
    match = _JOURNAL.match(text)
    if match is None:
        return None
    return {
        "time": match["time"],
        "key": f"{match['host']} {match['ident']}[{match['pid']}]",
        "pid": int(match["pid"]),
        "end": end,
    }


@cache
def _terminal(name: str) -> re.Pattern[str]:
    """The regex of one of the grammar's terminals."""
    return re.compile(cached_parser().get_terminal(name).pattern.to_regexp())


# -- generic envelopes: what the fields say (grammar section 1b) -------------------------------

_KV_KEYS = {
    "time": "time",
    "ts": "time",
    "timestamp": "time",
    "asctime": "time",
    "level": "level",
    "levelname": "level",
    "lvl": "level",
    "severity": "level",
    "logger": "logger",
    "logger_name": "logger",
    "loggerName": "logger",
    "name": "logger",
    "pid": "pid",
    "process": "pid",
    "process_id": "pid",
    "thread": "thread",
    "threadName": "thread",
    "thread_name": "thread",
}
"""``key=value`` fields whose key names an envelope value (other keys are other fields)."""
_NAME = re.compile(r"[A-Za-z_][\w\-]*")
_LOGGER_TOKENS = frozenset({"F_ALOGGER", "F_ALOGGER_GROUP", "F_ALOGGER_KV", "F_LOGGER"})
_DIGITS = re.compile(r"\d{1,7}")


def _logger(name: str, is_asyncio: bool | None = None) -> tuple[str, tuple[bool, str]]:
    return "logger", (is_asyncio_logger(name) if is_asyncio is None else is_asyncio, name)


def _kv(text: str) -> list[tuple[str, Any]]:
    key, _, value = text.partition("=")
    value = _unquote(value)
    target = _KV_KEYS.get(key)
    if target == "pid":
        return [("pid", int(value))] if _DIGITS.fullmatch(value) else []
    if target == "level":
        return [("level", value.upper())] if _terminal("F_LEVEL").fullmatch(value) else []
    if target == "logger":
        return [_logger(value)] if value else []
    return [(target, value)] if target is not None and value else []


def _group(text: str) -> list[tuple[str, Any]]:
    """What a "[...]" or "(...)" field holds."""
    inner = text[1:-1].strip()
    if _terminal("F_TIME").fullmatch(inner):
        return [("time", inner)]
    if _terminal("F_LEVEL").fullmatch(inner):
        return [("level", inner.upper())]
    if _DIGITS.fullmatch(inner):
        return [("pid", int(inner))]
    if _terminal("F_THREAD").fullmatch(inner):
        return [("thread", inner)]
    if _terminal("F_ALOGGER").fullmatch(inner):
        return [_logger(inner.split(":", 1)[0], True)]
    if _terminal("F_KV").fullmatch(inner):
        return _kv(inner)
    if _terminal("F_LOGGER").fullmatch(inner):
        return [_logger(inner, False)]
    if text.startswith("(") and _NAME.fullmatch(inner):
        return [("thread", inner)]
    return []


def _field(kind: str, text: str) -> list[tuple[str, Any]]:
    """The envelope values one field token gives (key, value); loggers as (asyncio's?, name)."""
    if kind == "F_TIME":
        return [("time", text)]
    if kind == "F_LEVEL":
        return [("level", text.upper())]
    if kind == "F_THREAD":
        return [("thread", text)]
    if kind == "F_PID":
        return [("pid", int(text))]
    if kind == "F_ALOGGER":
        return [_logger(text.split(":", 1)[0], True)]
    if kind == "F_ALOGGER_GROUP":
        return [_logger(text[1:-1], True)]
    if kind == "F_ALOGGER_KV":
        return [_logger(text.partition("=")[2], True)]
    if kind == "F_LOGGER":
        return [_logger(text, False)]
    if kind == "F_KV":
        return _kv(text)
    if kind == "F_GROUP":
        return _group(text)
    return []


def read_fields(tokens: list[tuple[str, str]]) -> dict[str, Any]:
    """The envelope of a run of field tokens (terminal name, text): the first time, level, pid
    and thread; the first asyncio logger name, else the first other logger name (a dotted
    name, a bracketed one, a ``logger=`` value, or a free word right before ``:``). A bare
    number right after a logger name is its line number (``%(name)s %(lineno)d``), not a pid.
    Keys without a value are left out."""
    found: dict[str, Any] = {}
    loggers: list[tuple[bool, str]] = []
    for index, (kind, text) in enumerate(tokens):
        if kind == "F_PID" and index >= 2 and tokens[index - 2][0] in _LOGGER_TOKENS:
            continue  # "%(name)s %(lineno)d": the line that logged, not a process id
        if kind == "F_WORD":
            after = tokens[index + 1] if index + 1 < len(tokens) else None
            if (
                after is not None
                and after[0] == "F_SEP"
                and after[1].startswith(":")
                and _NAME.fullmatch(text)
            ):
                loggers.append((False, text))
            continue
        for key, value in _field(kind, text):
            if key == "logger":
                loggers.append(value)
            else:
                found.setdefault(key, value)
    if loggers:
        ours = [name for is_asyncio, name in loggers if is_asyncio]
        found["logger"] = ours[0] if ours else loggers[0][1]
    return found


# -- reprs that asyncio cut (grammar section 3b) ----------------------------------------------


@cache
def _cut_patterns() -> dict[str, re.Pattern[str]]:
    term = {
        name: cached_parser().get_terminal(name).pattern.to_regexp()
        for name in ("QUALNAME", "LOCATION", "CLASS_NAME", "STATE", "STRING", "NUMBER")
    }
    qualname, location = term["QUALNAME"], term["LOCATION"]
    return {
        "class": re.compile(rf"<({term['CLASS_NAME']})(?=[ >])"),
        "handle": re.compile(
            rf"<\w+(?P<cancelled> cancelled)?(?: when=(?:{term['NUMBER']}))?"
            rf"(?: (?!created at )(?P<callback>{qualname}))?"
        ),
        "future": re.compile(
            rf"<\w+ (?P<state>{term['STATE']})(?: name=(?P<name>{term['STRING']}))?"
            rf"(?: coro=<(?P<coro>{qualname})\(\)"
            rf"(?: (?:running at|done, defined at|running, defined at) (?P<location>{location}))?)?"
        ),
        "created": re.compile(rf" created at ({location})>$"),
        "handle_at": re.compile(rf"\) at ({location})(?: created at {location})?>$"),
        "callback": re.compile(rf"({qualname})\("),
        "callback_at": re.compile(rf"\) at ({location})$"),
    }


def cut_subject(text: str) -> dict[str, Any]:
    """The subject values of a repr that asyncio cut (`CUT_REPR`, `CUT_TEXT`): what stands
    before the cut, and the ``created at`` (and a handle callback's `` at f:l``) at its end."""
    patterns = _cut_patterns()
    cls_match = patterns["class"].match(text)
    cls = cls_match.group(1) if cls_match else None
    created = patterns["created"].search(text)
    created_at = created.group(1) if created else None
    if cls is not None and _terminal("HANDLE_CLASS").fullmatch(cls):
        head = patterns["handle"].match(text)
        at = patterns["handle_at"].search(text)
        return {
            "class": cls,
            "state": "cancelled" if head and head["cancelled"] else None,
            "callback": head["callback"] if head else None,
            "location": at.group(1) if at else None,
            "created_at": created_at,
            "uvloop": None,
        }
    head = patterns["future"].match(text)
    return {
        "class": cls,
        "state": head["state"] if head else None,
        "name": _unquote(head["name"]) if head and head["name"] else None,
        "coro": head["coro"] if head else None,
        "location": head["location"] if head else None,
        "exception": None,
        "created_at": created_at,
        "uvloop": None,
    }


def cut_callback(text: str) -> tuple[str | None, str | None]:
    """A cut callback (`CUT_CALLBACK`): its name and its `` at f:l`` (plain functions)."""
    patterns = _cut_patterns()
    name = patterns["callback"].match(text)
    at = patterns["callback_at"].search(text)
    return (name.group(1) if name else None), (at.group(1) if at else None)


# -- the procedure for lines in other envelopes (grammar header) -------------------------------


@cache
def message_start_parts() -> tuple[tuple[str, str], ...]:
    """The regexes `message_start` is made of, with the terminal each stands for: the first
    terminal of each `message` alternative, except three that would match too often, narrowed
    to the messages they begin (``Task <``, ``Loop <``, and a warning's ``file:line:
    XWarning:`` with a blank-free file name after a blank)."""
    parser = cached_parser()
    narrowed = {
        "Task ": r"Task <",
        "Loop ": r"Loop <",
        "WARNING_HEAD": r"(?<!\S)\S+:\d+: [A-Z]\w*Warning: ",
    }
    parts = []
    for name in sorted(
        {rule.expansion[0].name for rule in parser.rules if rule.origin.name == "message"}
    ):
        pattern = parser.get_terminal(name).pattern
        key = name if name == "WARNING_HEAD" else pattern.value
        parts.append((name, narrowed.get(key, pattern.to_regexp())))
    return tuple(parts)


@cache
def message_start() -> re.Pattern[str]:
    """Where a message can start (step 2 of the procedure): `message_start_parts`."""
    return re.compile("|".join(f"(?:{part})" for _, part in message_start_parts()))


MESSAGE_HINTS: tuple[str, ...] = (
    "Executing ",
    "poll ",
    "address info ",
    "xception in ",
    "Task was destroyed but it is pending!",
    "exception was never retrieved",
    "Task <",
    "an error occurred during closing of asynchronous generator ",
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
    "Loop <",
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
)
"""Phrases of which every text where `message_start` matches holds one (tests prove it for
each terminal): a line without any has no message start, and the slow search is skipped."""
_HINTS = re.compile("|".join(re.escape(hint) for hint in MESSAGE_HINTS))


def message_starts(text: str) -> list[int]:
    """The positions in `text` where a message can start (`message_start`), ascending."""
    if _HINTS.search(text) is None:
        return []
    pattern = message_start()
    found = []
    match = pattern.search(text)
    while match is not None:
        found.append(match.start())
        match = pattern.search(text, match.start() + 1)
    return found


@cache
def _journal_prefix() -> list[re.Pattern[str]]:
    parser = cached_parser()
    names = ("JOURNAL_SHORT", "JOURNAL_ISO", "COMPOSE")
    terms = sorted((parser.get_terminal(name) for name in names), key=_lark_order)
    return [re.compile(term.pattern.to_regexp()) for term in terms]


def _lark_order(term: Any) -> tuple[int, int, int, str]:
    """Lark's order of the terminals its lexer tries (lark.lexer.BasicLexer)."""
    return (-term.priority, -term.pattern.max_width, -len(term.pattern.value), term.name)


@dataclass(frozen=True)
class Rejected:
    """`line` rejects the text; ``column`` is where (1-based), None while not computed."""

    column: int | str | None = None


class Readers(Protocol):
    """How `read_line` reads the parts of a line (each method specified by a start symbol)."""

    def line(self, text: str) -> Line | Rejected:
        """`line`."""

    def column(self, text: str, rejected: Rejected) -> int | str:
        """Where `line` rejects `text` (1-based column)."""

    def fields(self, text: str) -> dict[str, Any] | None:
        """`fields` (transformed by `read_fields`); None when the text does not lex."""

    def envelope_other(self, text: str) -> tuple[dict[str, Any], int, str] | None:
        """`envelope_other`: the fields, where the OTHER text starts, and the text."""

    def cut(self, text: str) -> Line | None:
        """`cut_line`."""


class GrammarReaders:
    """Every part read by the grammar."""

    def line(self, text: str) -> Line | Rejected:
        try:
            tree = cached_parser().parse(text, start="line")
        except UnexpectedInput as error:
            return Rejected(getattr(error, "column", "?"))
        return TO_LINE.transform(tree)

    def column(self, text: str, rejected: Rejected) -> int | str:
        if rejected.column is not None:
            return rejected.column
        again = self.line(text)
        assert isinstance(again, Rejected) and again.column is not None
        return again.column

    def fields(self, text: str) -> dict[str, Any] | None:
        try:
            tree = cached_parser().parse(text, start="fields")
        except UnexpectedInput:
            return None
        return TO_LINE.transform(tree)

    def envelope_other(self, text: str) -> tuple[dict[str, Any], int, str] | None:
        try:
            tree = cached_parser().parse(text, start="envelope_other")
        except UnexpectedInput:
            return None
        return TO_LINE.transform(tree)

    def cut(self, text: str) -> Line | None:
        try:
            tree = cached_parser().parse(text, start="cut_line")
        except UnexpectedInput:
            return None
        role, data, _ = TO_LINE.transform(tree)
        return Line(role, data)


GRAMMAR_READERS = GrammarReaders()


def _has_time_or_level(envelope: dict[str, Any] | None) -> bool:
    return envelope is not None and ("time" in envelope or "level" in envelope)


def _blank_in_warning_file(line: Line) -> bool:
    """A warning read without envelope whose file name holds a blank: WARNING_HEAD allows
    blanks (Windows paths), so an envelope before the file name reads as part of it."""
    return (
        line.role == "start"
        and line.envelope is None
        and "exc_type" in line.data
        and " " in (line.data.get("location") or "")
    )


def _bare_message(text: str, readers: Readers) -> tuple[Line | None, Rejected | None]:
    """A message with nothing before it (`line` without envelope or journal, else a cut
    message of `cut_line`), or None; and `line`'s rejection of the text, if it rejects it."""
    read = readers.line(text)
    if isinstance(read, Line):
        bare = read.role == "start" and read.envelope is None and read.journal is None
        return (read if bare else None), None
    cut = readers.cut(text)
    return (cut if cut is not None and cut.role == "start" else None), read


class LazyReason:
    """Why a line is not read, worked out when first asked for (``str()``): the assembler
    needs it only for lines that look like asyncio's (most rejected lines are application
    lines), and the fast engine would have to ask the grammar for its column."""

    __slots__ = ("_compute", "_text")

    def __init__(self, compute: Callable[[], str]) -> None:
        self._compute: Callable[[], str] | None = compute
        self._text = ""

    def __str__(self) -> str:
        if self._compute is not None:
            self._text, self._compute = self._compute(), None
        return self._text

    def __repr__(self) -> str:
        return f"LazyReason({str(self)!r})"


def settled(line: Line) -> bool:
    """Whether `line`'s reading by the `line` rule stands without the generic-envelope
    procedure (the grammar's header says which readings it revisits)."""
    if line.role == "cont":
        return line.data["type"] not in ("indented", "exc")
    return line.role in ("monitor", "blank") or (
        line.role == "start" and not _blank_in_warning_file(line)
    )


def read_line(
    text: str, readers: Readers, *, lazy: bool = False, first: Line | Rejected | None = None
) -> Line | str | LazyReason:
    """One line -> `Line`, or the reason it is not read (a `LazyReason` with ``lazy``): the
    procedure of the grammar's header, each part read by `readers` (``first``: the `line`
    reading, if already made)."""
    if first is None:
        first = readers.line(text)
    if isinstance(first, Line) and (
        settled(first)
        or (  # a traceback line with no message start and no asyncio logger name: as read
            first.role == "cont"
            and _HINTS.search(text) is None
            and "asyncio" not in text
            and "aiodebug" not in text
        )
    ):
        return first
    rejected = isinstance(first, Rejected)
    journal, offset = None, 0
    if isinstance(first, Line):  # `line` read the prefix (Lark tries it first)
        journal = first.journal
        offset = journal["end"] if journal is not None else 0
    else:
        for pattern in _journal_prefix():
            match = pattern.match(text)
            if match is not None:
                journal, offset = journal_info(match.group(), match.end()), match.end()
                break
    rest = text[offset:]
    if "\x1b" in rest:
        colours = _TRAILING_ANSI.search(rest)
        if colours is not None:
            rest = rest[: colours.start()]
    if rejected:
        cut = readers.cut(rest)
        if cut is not None:
            return Line(cut.role, cut.data, None, journal)
    note: tuple[str, int, Rejected | None] | None = None
    for start in message_starts(rest):
        envelope = readers.fields(rest[:start])
        valid = _has_time_or_level(envelope)
        message, refused = _bare_message(rest[start:], readers)
        if message is not None and valid:
            assert envelope is not None
            return Line("start", message.data, {**envelope, "end": offset + start}, journal)
        if note is None and message is not None:
            note = ("no envelope", start, None)
        elif note is None and refused is not None:
            note = ("message", start, refused)
    indented = isinstance(first, Line) and first.data.get("type") == "indented"
    known = first.envelope if isinstance(first, Line) and first.role == "other" else None
    if (rejected or indented or known) and ("asyncio" in rest or "aiodebug" in rest):
        read = readers.envelope_other(rest)
        if (
            read is not None
            and _has_time_or_level(read[0])
            and (known is None or offset + read[1] > known["end"])
        ):
            envelope, start, other = read
            data = {"kind": "other", "message": other}
            return Line("other", data, {**envelope, "end": offset + start}, journal)
    if isinstance(first, Line):
        return first
    rejection = first

    def reason() -> str:
        if note is not None and note[0] == "message":
            _, start, refused = note
            assert refused is not None
            column = readers.column(rest[start:], refused)
            where = column + offset + start if isinstance(column, int) else column
            return (
                f"not asyncio log syntax at column {where} "
                f"(in the asyncio message that starts at column {offset + start + 1})"
            )
        if note is not None:
            return (
                f"asyncio message at column {offset + note[1] + 1} after text that is no log "
                "envelope (no timestamp or level)"
            )
        return f"not asyncio log syntax at column {readers.column(text, rejection)}"

    return LazyReason(reason) if lazy else reason()


def parse_line(text: str) -> Line | str:
    """One line -> `Line`, or the reason (a string) why the grammar rejects it."""
    read = read_line(text, GRAMMAR_READERS)
    assert not isinstance(read, LazyReason)
    return read
