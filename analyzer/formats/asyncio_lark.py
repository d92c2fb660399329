"""Reference parser for asyncio log lines, driven by the grammar `grammars/asyncio.lark`.

This is the slow-but-obviously-correct parser: every line goes through an LALR parser built
from the grammar, which specifies one line (envelope, message, continuation, aiomonitor
console output). `parse_line(text)` reduces the parse tree to a `Line` (`asyncio_record`) with
the `ToLine` transformer, or returns the reason (a string) why the grammar rejects the line.

The fast line parser (`asyncio_scan.parse_line_fast`) uses the same parser (`cached_parser`)
and calls the same transformer (`TO_LINE`) on what it reads, so its values are the grammar's
by construction; tests check that it reads every line as `parse_line` does.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput

from analyzer.formats import grammar
from analyzer.formats.asyncio_record import Line

__all__ = [
    "PS_COLUMNS",
    "PS_TERMINATED_COLUMNS",
    "TO_LINE",
    "ToLine",
    "build_parser",
    "cached_parser",
    "parse_line",
]


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/asyncio.lark` (start symbol ``line``)."""
    return grammar.build("asyncio.lark", ["line"], strict=strict)


@cache
def cached_parser() -> Lark:
    """The parser of `parse_line`, built once; the fast line parser reads its terminals and
    lexer states."""
    return build_parser()


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


@v_args(inline=True)
class ToLine(Transformer):
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


TO_LINE = ToLine()


def parse_line(text: str) -> Line | str:
    """One line -> `Line`, or the reason (a string) why the grammar rejects it."""
    try:
        tree = cached_parser().parse(text)
    except UnexpectedInput as error:
        column = getattr(error, "column", "?")
        return f"not asyncio log syntax at column {column}"
    return TO_LINE.transform(tree)  # type: ignore[no-any-return]
