"""The asyncio log input: application logs carrying asyncio's debug-mode messages.

`grammars/asyncio_log.lark` specifies one line (envelope, message, continuation). This module

- parses lines with the grammar (`parse_line`) into `Line` values,
- assembles them into multi-line `AsyncioRecord` values (`Assembler`): an exception-handler
  record with its ``key: repr`` lines, ``source_traceback`` frames and traceback, a
  never-awaited warning with its ``Coroutine created at`` frames, ...,
- decodes JSON lines (python-json-logger, ``journalctl -o json``) with the json module and
  parses their message lines with the grammar,
- and reads a whole input (`parse`) into the `loop_events` table plus counts.

``engine="lark"`` feeds every line to the assembler. ``engine="fast"`` first marks candidate
lines with one vectorised regex (`MARKERS`: phrases every asyncio message line contains) and
feeds only candidates and the lines that follow an open record; every other line is an
application line without being parsed. Both engines share the assembler, so they agree
whenever every message line contains a marker; tests check it on the fixtures and on
generated lines. Lines that fail the grammar are application lines, except lines that
clearly are asyncio's (`_STRONG`), which are counted as unparsed with the reason.
"""

from __future__ import annotations

import json
import re
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
from analyzer.formats.asyncio_record import AsyncioRecord, Unparsed
from analyzer.inputs import LineChunk
from analyzer.schema import LOOP_EVENTS, UNPARSED

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
    ``cont`` (a continuation line), or ``blank``. ``data`` holds the message fields (for
    ``start``: ``kind`` and record fields; for ``cont``: ``type`` and its values).
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

    def frame(self, file: Token, _line: Token, _func: Token | None) -> tuple:
        return self._cont("frame", uvloop=str(file).startswith("uvloop/"))

    def indented(self, _token: Token) -> tuple:
        return self._cont("indented")

    def exc_line(self, token: Token) -> tuple:
        name, _, text = str(token).partition(":")
        return self._cont("exc", exc_type=name, exc_message=text.strip() or None)


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
)
"""Phrases of which every line that starts an asyncio record contains at least one (the
message texts of the grammar's `message` rule, and the logger names of `other` records)."""

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


# ---------------------------------------------------------------------------------------------
# Record assembly
# ---------------------------------------------------------------------------------------------


def _is_asyncio_logger(name: str | None) -> bool:
    return name is not None and (
        name == "asyncio" or name.startswith("asyncio.") or name.startswith("aiodebug")
    )


_SINGLE_LINE_KINDS = frozenset({"slow_callback", "poll_timing", "getaddrinfo"})
_HINT = "Enable tracemalloc to get the object allocation traceback"


def _time_seconds(text: str | None) -> float | None:
    """Envelope time text -> Unix seconds (zone-less read as UTC); None without a year."""
    if not text or not text[:4].isdigit():
        return None
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


class Assembler:
    """Joins parsed lines into records. Feed lines in order; read `records`, `unparsed`."""

    def __init__(self, parse: Callable[[str], Line | str] = parse_line) -> None:
        self._parse = parse
        self.records: list[AsyncioRecord] = []
        self.unparsed: list[Unparsed] = []
        self.record_lines = 0
        self._open: _Open | None = None

    @property
    def wants_next(self) -> bool:
        """True while a record is open: the next line must be fed, candidate or not."""
        return self._open is not None

    def feed(self, line_no: int, text: str) -> None:
        """One line, in input order."""
        if text.startswith("{") and self._feed_json(line_no, text):
            return
        parsed = self._parse(text)
        if self._open is not None and self._continue(line_no, text, parsed):
            return
        self._start(line_no, text, parsed)

    def finish(self) -> None:
        """Close the record still open at the end of the input."""
        self._close()

    # -- internals ------------------------------------------------------------------------
    def _start(self, line_no: int, text: str, parsed: Line | str) -> None:
        if isinstance(parsed, str):
            if _STRONG.search(text):
                self.unparsed.append(Unparsed(line_no, text, parsed))
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

    # -- JSON lines -----------------------------------------------------------------------
    def _feed_json(self, line_no: int, text: str) -> bool:
        try:
            obj = json.loads(text)
        except ValueError:
            return False
        if not isinstance(obj, dict):
            return False
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

    An application log is mostly other lines, so one recognised asyncio record is already
    good evidence: the score is 0.5 for one record and grows with the share of record lines.
    """
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()[:SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]
    if not lines:
        return 0.0
    assembler = Assembler()
    for number, line in enumerate(lines, 1):
        assembler.feed(number, line)
    assembler.finish()
    strong = [r for r in assembler.records if r.kind != "other" or r.logger is not None]
    if not strong:
        return 0.0
    return min(1.0, 0.5 + 0.5 * assembler.record_lines / len(lines))


@dataclass(frozen=True)
class ParsedLog:
    """What parsing one input produced: the tables and the line counts."""

    loop_events: pa.Table
    unparsed: pa.Table
    line_count: int
    record_count: int
    record_lines: int
    application_lines: int
    non_utf8_lines: int


def records_to_table(records: Iterable[AsyncioRecord], input_name: str) -> pa.Table:
    """Records as a `loop_events` table."""
    rows = list(records)
    columns: dict[str, list[Any]] = {"input": [input_name] * len(rows)}
    for index, name in enumerate(AsyncioRecord._fields):
        columns[name] = [record[index] for record in rows]
    return pa.table(columns, schema=LOOP_EVENTS.schema)


def table_to_records(table: pa.Table) -> list[AsyncioRecord]:
    """The inverse of `records_to_table`, for comparing engines."""
    data = table.to_pydict()
    return [
        AsyncioRecord(*(data[name][row] for name in AsyncioRecord._fields))
        for row in range(table.num_rows)
    ]


def _feed_chunk(assembler: Assembler, chunk: LineChunk, mask: np.ndarray | None) -> None:
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


def parse(
    chunks: Iterator[LineChunk],
    input_name: str,
    engine: str = "fast",
    threads: int = 2,
    on_chunk: Callable[[LineChunk], None] | None = None,
) -> ParsedLog:
    """Parse one input. ``engine`` is ``fast`` (pre-filter + grammar) or ``lark`` (grammar
    on every line). The candidate masks are computed in ``threads`` threads; assembly is
    sequential, so records may span chunks."""
    if engine not in ("fast", "lark"):
        raise ValueError(f"unknown engine {engine!r}")
    assembler = Assembler()
    line_count = 0
    non_utf8 = 0

    def masked(chunk: LineChunk) -> tuple[LineChunk, np.ndarray | None]:
        return chunk, (candidate_mask(chunk.lines) if engine == "fast" else None)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pending: list[Any] = []

        def drain(limit: int) -> None:
            nonlocal line_count, non_utf8
            while len(pending) > limit:
                chunk, mask = pending.pop(0).result()
                line_count += len(chunk.lines)
                non_utf8 += chunk.non_utf8_lines
                if on_chunk is not None:
                    on_chunk(chunk)
                _feed_chunk(assembler, chunk, mask)

        for chunk in chunks:
            pending.append(pool.submit(masked, chunk))
            drain(threads)
        drain(0)
    assembler.finish()
    unparsed = pa.table(
        {
            "input": [input_name] * len(assembler.unparsed),
            "line_no": [item.line_no for item in assembler.unparsed],
            "text": [item.text for item in assembler.unparsed],
            "reason": [item.reason for item in assembler.unparsed],
        },
        schema=UNPARSED.schema,
    )
    return ParsedLog(
        loop_events=records_to_table(assembler.records, input_name),
        unparsed=unparsed,
        line_count=line_count,
        record_count=len(assembler.records),
        record_lines=assembler.record_lines,
        application_lines=line_count - assembler.record_lines - len(assembler.unparsed),
        non_utf8_lines=non_utf8,
    )


def input_report(parsed: ParsedLog) -> dict[str, Any]:
    """The asyncio keys of an `inputs[]` entry: asyncio records, their lines, the other lines
    (application lines count as parsed: they were read and are not asyncio's)."""
    return {
        "parsed_lines": parsed.record_lines + parsed.application_lines,
        "asyncio_records": parsed.record_count,
        "asyncio_lines": parsed.record_lines,
        "application_lines": parsed.application_lines,
    }
