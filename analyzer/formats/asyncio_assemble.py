"""Asyncio log lines -> records: the `Assembler` both engines feed, line by line in order.

It joins parsed lines (`Line` values of `asyncio_lark.parse_line` or
`asyncio_scan.parse_line_fast`) into multi-line `AsyncioRecord` values: an exception-handler
record with its ``key: repr`` lines, ``source_traceback`` frames and traceback, a
never-awaited warning with its ``Coroutine created at`` frames, ...; and aiomonitor ``ps`` /
``where`` dumps into `TaskSnapshot` rows (field rules of both: `asyncio_record`). JSON lines
(python-json-logger, ``journalctl -o json``) are decoded with the json module and their
message lines parsed with the same line parser. Lines that fail the grammar are application
lines, except lines that clearly are asyncio's (`_STRONG`), which are kept as `Unparsed` with
the reason.

The ``lark`` engine feeds it every line; the ``fast`` engine only the candidate lines
(`asyncio_scan`) and, while `Assembler.wants_next` says so, the lines after them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from analyzer.formats.asyncio_lark import (
    PS_COLUMNS,
    PS_TERMINATED_COLUMNS,
    LazyReason,
    is_asyncio_logger,
    parse_line,
)
from analyzer.formats.asyncio_record import AsyncioRecord, Line, TaskSnapshot, Unparsed

__all__ = ["ROW_UNFIT", "Assembler", "since_seconds"]


_STRONG = re.compile(
    r"Executing <.*> took \d+\.\d+ seconds|Task was destroyed but it is pending!"
    r"|exception was never retrieved|^(?:.*: )?Exception in callback "
    r"|RuntimeWarning: coroutine '.*' was never awaited"
)
"""Lines that are certainly asyncio's: when the grammar rejects one it is `Unparsed`."""


Parsed = Line | str | LazyReason
"""What a line parser gives the assembler: the line, or why it is not read."""

_SINGLE_LINE_KINDS = frozenset({"slow_callback", "poll_timing", "getaddrinfo"})
_HINT = "Enable tracemalloc to get the object allocation traceback"


_PLAIN_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,6}))?")
_TRAILING_ANSI = re.compile(r"(?:\x1b\[[\d;]*m)+$")
"""Colour codes that end a line (a formatter's reset): not part of the message."""
_EPOCH = re.compile(r"1\d{9}(?:\.\d+)?")
_CLF_TIME = re.compile(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?")


def _time_seconds(text: str | None) -> float | None:
    """Envelope time text -> Unix seconds (zone-less read as UTC); None without a date or a
    year."""
    if not text:
        return None
    plain = _PLAIN_TIME.fullmatch(text)
    if plain is None:
        if _EPOCH.fullmatch(text):
            return float(text)
        if _CLF_TIME.fullmatch(text):  # 13/Jun/2022:08:32:44 +0000
            pattern = "%d/%b/%Y:%H:%M:%S %z" if " " in text else "%d/%b/%Y:%H:%M:%S"
            try:
                clf = datetime.strptime(text, pattern)
            except ValueError:
                return None
            return (clf if clf.tzinfo else clf.replace(tzinfo=timezone.utc)).timestamp()
        if not text[:4].isdigit():
            return None
        if text[4:5] == "/":  # 2026/12/05 08:13:03
            text = text[:4] + "-" + text[5:7] + "-" + text[8:]
            plain = _PLAIN_TIME.fullmatch(text)
    if plain is not None:  # what the strptime patterns below read, without strptime
        year, month, day, hour, minute, second, fraction = plain.groups()
        try:
            stamp = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                int((fraction or "0").ljust(6, "0")),
                tzinfo=timezone.utc,
            )
        except ValueError:
            return None
        return stamp.timestamp()
    cleaned = text.replace(",", ".").replace("T", " ").replace(" +", "+").replace(" -", "-")
    cleaned = cleaned.replace("Z", "+0000").replace(" UTC", "+0000").replace(" GMT", "+0000")
    cleaned = cleaned.replace("UTC", "+0000").replace("GMT", "+0000")
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
ROW_UNFIT = "aiomonitor table row does not fit the header's columns"
"""The `unparsed` reason of an aiomonitor table row whose cells cannot be read."""


def since_seconds(text: str) -> float | None:
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

    def __init__(self, parse: Callable[[str], Parsed] = parse_line) -> None:
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

    def boundary(self) -> None:
        """What a line that starts a one-line record does before it starts (a line the bulk
        path reads instead of `feed`, `asyncio_bulk`): end the prompt, dump and record that
        are open."""
        self._prompt = None
        if self._dump is not None:
            self._end_monitor()
        self._close()

    def finish(self) -> None:
        """Close the record or dump still open at the end of the input."""
        self._close()
        self._end_monitor()

    # -- internals ------------------------------------------------------------------------
    def _start(self, line_no: int, text: str, parsed: Parsed) -> None:
        if not isinstance(parsed, Line):
            if _STRONG.search(text):
                self.unparsed.append(Unparsed(line_no, text, str(parsed)))
            return
        if parsed.role == "monitor":
            kind = parsed.data["type"]
            if kind == "prompt":
                self._prompt = (line_no, parsed.data["command"], [])
            elif kind in ("count", "stack"):
                self._open_dump(line_no, parsed, None)
            return
        if parsed.role == "other" and not is_asyncio_logger((parsed.envelope or {}).get("logger")):
            return
        if parsed.role not in ("start", "other"):
            return
        self._open = _Open(line_no, line_no, parsed, [text])
        if parsed.data["kind"] in _SINGLE_LINE_KINDS:
            self._close()

    def _continue(self, line_no: int, text: str, parsed: Parsed) -> bool:
        """Add the line to the open record if it belongs there; else close the record."""
        record = self._open
        assert record is not None
        if not isinstance(parsed, Line) or parsed.role not in ("cont", "blank"):
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
    def _prompt_continue(self, line_no: int, parsed: Parsed) -> bool:
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

    def _dump_continue(self, line_no: int, text: str, parsed: Parsed) -> bool:
        """Add the line to the open dump if it belongs there; else close the dump."""
        dump = self._dump
        assert dump is not None
        if not isinstance(parsed, Line):
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
            dump.unparsed.append(Unparsed(line_no, text, ROW_UNFIT))
            return
        base: dict[str, Any] = {"snapshot": dump.first, "command": dump.command, "line_no": line_no}
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
                since_s=since_seconds(since),
            )
        else:
            trace_id, name, coro, started, terminated = cells
            row = TaskSnapshot(
                **base,
                line_end=line_no,
                task_id=trace_id,
                name=name or None,
                coro=_coro_name(coro),
                since_s=since_seconds(started),
                terminated_s=since_seconds(terminated),
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
        message = _json_str(obj, *_JSON_MESSAGE)
        if message is None:
            return False
        self._close()
        level = _json_str(obj, *_JSON_LEVEL)
        envelope: dict[str, Any] = {
            "time": _json_str(obj, *_JSON_TIME),
            "level": level.upper() if level is not None else None,
            "logger": _json_str(obj, *_JSON_LOGGER),
            "pid": _json_int(obj, *_JSON_PID),
            "thread": _json_str(obj, *_JSON_THREAD),
        }
        if envelope["time"] is None:
            envelope["time_s"] = _json_epoch(obj)
        texts = message.rstrip("\n").split("\n")
        for extra in ("exc_info", "stack_info"):
            if isinstance(obj.get(extra), str) and obj[extra]:
                texts += obj[extra].rstrip("\n").split("\n")
        first = self._parse(texts[0])
        if not isinstance(first, Line) or first.role not in ("start", "other"):
            if not is_asyncio_logger(envelope["logger"]):
                if not isinstance(first, Line) and _STRONG.search(texts[0]):
                    self.unparsed.append(Unparsed(line_no, text, str(first)))
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


_JSON_MESSAGE = ("message", "msg", "event")
"""Keys of a JSON line's message (python-json-logger, plain ``msg``, structlog's ``event``),
first present string wins (``MESSAGE`` is journald's: `Assembler._feed_journal_json`)."""
_JSON_TIME = ("asctime", "ts", "time", "timestamp", "@timestamp")
_JSON_EPOCH = ("created", "ts", "time", "timestamp")
_JSON_LEVEL = ("levelname", "level", "severity", "lvl")
_JSON_LOGGER = ("logger", "logger_name", "name")
_JSON_PID = ("process", "pid", "_PID")
_JSON_THREAD = ("threadName", "thread_name", "thread")


def _json_epoch(obj: dict[str, Any]) -> float | None:
    """A JSON line's time given as a number: epoch seconds (``created``), or milliseconds."""
    for name in _JSON_EPOCH:
        value = obj.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value) / 1000 if value > 1e11 else float(value)
    return None


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


def _exception_value(value: str | None) -> tuple[str | None, str | None]:
    """``ValueError('x')`` -> (``ValueError``, ``'x'``)."""
    if not value:
        return None, None
    head, paren, rest = value.partition("(")
    return head, (rest[:-1] if paren and rest.endswith(")") else None)


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
        thread=envelope.get("thread"),
        message=_message(texts[0][_message_start(start) :]),
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


def _message(text: str) -> str:
    """The message text without the colour codes that may end the line."""
    return _TRAILING_ANSI.sub("", text) if "\x1b" in text else text


def _message_start(line: Line) -> int:
    if line.envelope is not None:
        return int(line.envelope.get("end", 0))
    if line.journal is not None:
        return int(line.journal.get("end", 0))
    return 0
