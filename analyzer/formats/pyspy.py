"""The `py-spy dump` input format: detection, and lines -> dumps, threads and frames tables.

Every line goes through the grammar (`pyspy_lark`); there is no fast path, because dumps are
small (a dump is tens of lines; a file of dumps taken in a loop a few thousand). The line
records are then assembled in order:

- a ``Process N:`` line starts a dump; the ``Python v...`` and ``Parent Process`` lines
  after it describe it; a ``Thread`` line before any ``Process`` line (a dump pasted
  without its header) starts a dump with no pid;
- a ``date`` line gives the time of the NEXT dump (``for ...; do date; py-spy dump ...``);
- a ``Thread`` line starts a thread of the current dump; frame lines add to its stack,
  innermost first (depth 0), as py-spy prints them; ``Arguments:``/``Locals:`` sections and
  variable lines add to the frame above them;
- py-spy's ``Error: ...`` messages are kept with the dump they follow (the dump failed).

Lines that are not py-spy output are kept, with their reason, in the `unparsed` table; so are
frames outside a thread and variables outside a frame. Blank lines, dates, separators and
headers count as parsed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from analyzer.formats.pyspy_lark import parse_line
from analyzer.formats.pyspy_record import PySpyRecord, Unparsed
from analyzer.formats.wide_numbers import REASON as WIDE_NUMBER
from analyzer.formats.wide_numbers import record_fits
from analyzer.inputs import LineChunk
from analyzer.schema import Column, TableSpec, unparsed_table

__all__ = ["ENGINES", "NAME", "SPECS", "ParsedPySpy", "input_report", "parse", "sniff"]

NAME = "pyspy"
ENGINES: tuple[str, ...] = ("fast", "lark")
"""Both engines are the grammar: py-spy dumps are too small to need a fast path."""
SNIFF_LINES = 40

_INPUT = Column("input", pa.string(), "Path of the input the row came from (`-` for stdin).")
_DUMP = Column(
    "dump", pa.int64(), "0-based index of the dump in the input (one per `Process` header)."
)
_TS = Column(
    "ts",
    pa.float64(),
    "Time of the dump in epoch seconds, from the `date` line printed before it; null "
    "without one, or when that line's zone is a name (`CET`) whose offset it does not give.",
    "s",
)

PYSPY_DUMPS = TableSpec(
    "pyspy_dumps",
    "One row per `py-spy dump` in the input (a `Process` header, or threads without one).",
    (
        _INPUT,
        _DUMP,
        Column("line_no", pa.int64(), "Line of the dump's first line (its `Process` header)."),
        _TS,
        Column("time_text", pa.string(), "The `date` line before the dump, as printed."),
        Column("pid", pa.int64(), "Process id from `Process N:` (null for a headerless paste)."),
        Column("command", pa.string(), "The process's command line as py-spy printed it."),
        Column("parent_pid", pa.int64(), "`Parent Process N` (py-spy --subprocesses)."),
        Column("python_version", pa.string(), "Interpreter version from `Python vX.Y.Z`."),
        Column("executable", pa.string(), "Interpreter path from the `Python v...` line."),
        Column("threads", pa.int64(), "Thread headers in the dump."),
        Column(
            "error",
            pa.string(),
            "py-spy's message when the dump failed (`Error: Failed to merge native and "
            "python frames ...`); null otherwise.",
        ),
    ),
)

PYSPY_THREADS = TableSpec(
    "pyspy_threads",
    'One row per thread of each dump (`Thread N (state): "name"`).',
    (
        _INPUT,
        _DUMP,
        Column("line_no", pa.int64(), "Line of the thread header."),
        _TS,
        Column("pid", pa.int64(), "Process id of the dump."),
        Column("thread_id", pa.string(), "The id as printed: decimal OS tid or hex pthread id."),
        Column(
            "native_tid",
            pa.int64(),
            "OS thread id (what `ps -L`, `top -H`, strace and perf print), when py-spy printed "
            "a decimal id (0.3+ on Linux when it knows it).",
        ),
        Column(
            "pthread_id",
            pa.int64(),
            "pthread_t (`threading.get_ident()`), when py-spy printed a `0x` id (before 0.3, "
            "or when the OS id was unknown).",
        ),
        Column("name", pa.string(), "Python thread name (`threading.current_thread().name`)."),
        Column("state", pa.string(), "idle or active (py-spy's view: the OS thread state)."),
        Column("holds_gil", pa.bool_(), "True for `active+gil`: the thread held the GIL."),
        Column("frames", pa.int64(), "Frames printed for the thread (native ones included)."),
        Column(
            "top_function",
            pa.string(),
            "Innermost Python (non-native) frame's function: where the thread's Python code is.",
        ),
        Column("top_file", pa.string(), "File of that frame."),
        Column("top_line", pa.int64(), "Line of that frame."),
    ),
)

LOCAL_VARIABLE = pa.struct(
    [
        pa.field("name", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("repr", pa.string()),
    ]
)

PYSPY_FRAMES = TableSpec(
    "pyspy_frames",
    "One row per frame line of each thread, innermost first (see "
    "analyzer/formats/pyspy_record.py for how a frame is read).",
    (
        _INPUT,
        _DUMP,
        Column("thread_line_no", pa.int64(), "Line of the frame's thread header."),
        Column("native_tid", pa.int64(), "The thread's OS id (null when printed in hex)."),
        Column("thread_name", pa.string(), "The thread's name."),
        Column("depth", pa.int64(), "0 for the innermost frame (printed first), then 1, 2 ..."),
        Column("line_no", pa.int64(), "Line of the frame."),
        Column("function", pa.string(), "Function as printed (0.4 qualifies: `Class.method`)."),
        Column("file", pa.string(), "Source file, or the native module (`libc.so.6`)."),
        Column("line", pa.int64(), "Line number in the file (null for native frames)."),
        Column("native", pa.bool_(), "True for native (C/C++/Rust) frames from `--native`."),
        Column("address", pa.string(), "The address of an unsymbolised native frame (`0x7f..`)."),
        Column(
            "locals",
            pa.list_(LOCAL_VARIABLE),
            "`--locals`: the frame's variables in order: name, kind (argument or local) "
            "and py-spy's repr text.",
        ),
    ),
)

SPECS: tuple[TableSpec, ...] = (PYSPY_DUMPS, PYSPY_THREADS, PYSPY_FRAMES)


def sniff(head: bytes) -> float:
    """How much the first lines look like `py-spy dump` output (0..1).

    The fraction of the first non-blank lines that parse, counted only when they hold a
    ``Process N:`` header with its ``Python v...`` line, or a ``Thread N (state)`` header
    with a frame (dates, messages or blank lines alone are not enough).
    """
    text = head.decode("utf-8", errors="replace")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if len(head) >= 4096 and len(lines) > 1:
        lines.pop()  # the last line may be cut
    lines = [line for line in lines if line.strip()][:SNIFF_LINES]
    if not lines:
        return 0.0
    records = [parse_line(line) for line in lines]
    kinds = {record.kind for record in records if isinstance(record, PySpyRecord)}
    if not ({"process", "python"} <= kinds or {"thread", "frame"} <= kinds):
        return 0.0
    parsed = sum(1 for record in records if isinstance(record, PySpyRecord))
    return parsed / len(lines)


@dataclass
class _Frame:
    line_no: int
    record: PySpyRecord
    locals: list[dict[str, str | None]] = field(default_factory=list)
    section: str = "local"


@dataclass
class _Thread:
    line_no: int
    record: PySpyRecord
    frames: list[_Frame] = field(default_factory=list)


@dataclass
class _Dump:
    line_no: int
    ts: float | None = None
    time_text: str | None = None
    pid: int | None = None
    command: str | None = None
    parent_pid: int | None = None
    python_version: str | None = None
    executable: str | None = None
    error: str | None = None
    threads: list[_Thread] = field(default_factory=list)


class _Assembler:
    """Line records in order -> dumps, threads, frames; rejected lines with reasons."""

    def __init__(self) -> None:
        self.dumps: list[_Dump] = []
        self.rejected: list[tuple[int, str, str]] = []
        self._time: tuple[float | None, str] | None = None
        self._dump: _Dump | None = None
        self._thread: _Thread | None = None
        self._frame: _Frame | None = None

    def _new_dump(self, line_no: int) -> _Dump:
        dump = _Dump(line_no)
        if self._time is not None:
            dump.ts, dump.time_text = self._time
            self._time = None
        self.dumps.append(dump)
        self._dump, self._thread, self._frame = dump, None, None
        return dump

    def add(self, line_no: int, text: str, record: PySpyRecord | Unparsed) -> None:
        if not record_fits(record):
            record = Unparsed(WIDE_NUMBER)
        if isinstance(record, Unparsed):
            self.rejected.append((line_no, text, record.reason))
            return
        kind = record.kind
        if kind == "process":
            dump = self._new_dump(line_no)
            dump.pid, dump.command = record.pid, record.command
        elif kind == "date":
            self._time = (record.ts, record.time_text or "")
            self._dump, self._thread, self._frame = None, None, None
        elif kind == "python":
            dump = self._dump or self._new_dump(line_no)
            dump.python_version, dump.executable = record.python_version, record.executable
        elif kind == "parent":
            dump = self._dump or self._new_dump(line_no)
            dump.parent_pid = record.pid
        elif kind == "thread":
            dump = self._dump or self._new_dump(line_no)
            self._thread = _Thread(line_no, record)
            self._frame = None
            dump.threads.append(self._thread)
        elif kind == "frame":
            if self._thread is None:
                self.rejected.append((line_no, text, "frame outside a thread"))
                return
            self._frame = _Frame(line_no, record)
            self._thread.frames.append(self._frame)
        elif kind == "section":
            if self._frame is None:
                self.rejected.append((line_no, text, "locals section outside a frame"))
                return
            self._frame.section = "argument" if record.section == "arguments" else "local"
        elif kind == "local":
            if self._frame is None:
                self.rejected.append((line_no, text, "variable outside a frame"))
                return
            self._frame.locals.append(
                {"name": record.local_name, "kind": self._frame.section, "repr": record.repr}
            )
        elif kind == "message":
            current = self._dump
            if current is not None:
                error = current.error
                current.error = record.text if error is None else f"{error}\n{record.text}"
        # blank and separator lines carry nothing


@dataclass(frozen=True)
class ParsedPySpy:
    """What parsing one `py-spy dump` input produced."""

    tables: dict[str, pa.Table]
    unparsed: pa.Table
    line_count: int
    non_utf8_lines: int


def _top_python(thread: _Thread) -> PySpyRecord | None:
    for frame in thread.frames:
        if frame.record.native is False:
            return frame.record
    return None


def _tables(assembler: _Assembler, input_name: str) -> dict[str, pa.Table]:
    dump_rows: dict[str, list[Any]] = {name: [] for name in PYSPY_DUMPS.names}
    thread_rows: dict[str, list[Any]] = {name: [] for name in PYSPY_THREADS.names}
    frame_rows: dict[str, list[Any]] = {name: [] for name in PYSPY_FRAMES.names}
    for index, dump in enumerate(assembler.dumps):
        for name, value in (
            ("input", input_name),
            ("dump", index),
            ("line_no", dump.line_no),
            ("ts", dump.ts),
            ("time_text", dump.time_text),
            ("pid", dump.pid),
            ("command", dump.command),
            ("parent_pid", dump.parent_pid),
            ("python_version", dump.python_version),
            ("executable", dump.executable),
            ("threads", len(dump.threads)),
            ("error", dump.error),
        ):
            dump_rows[name].append(value)
        for thread in dump.threads:
            head = thread.record
            top = _top_python(thread)
            for name, value in (
                ("input", input_name),
                ("dump", index),
                ("line_no", thread.line_no),
                ("ts", dump.ts),
                ("pid", dump.pid),
                ("thread_id", head.thread_id),
                ("native_tid", head.native_tid),
                ("pthread_id", head.pthread_id),
                ("name", head.name),
                ("state", head.state),
                ("holds_gil", head.holds_gil),
                ("frames", len(thread.frames)),
                ("top_function", top.function if top else None),
                ("top_file", top.file if top else None),
                ("top_line", top.line if top else None),
            ):
                thread_rows[name].append(value)
            for depth, frame in enumerate(thread.frames):
                record = frame.record
                cell: object
                for name, cell in (
                    ("input", input_name),
                    ("dump", index),
                    ("thread_line_no", thread.line_no),
                    ("native_tid", head.native_tid),
                    ("thread_name", head.name),
                    ("depth", depth),
                    ("line_no", frame.line_no),
                    ("function", record.function),
                    ("file", record.file),
                    ("line", record.line),
                    ("native", record.native),
                    ("address", record.address),
                    ("locals", frame.locals or None),
                ):
                    frame_rows[name].append(cell)
    return {
        PYSPY_DUMPS.name: pa.table(dump_rows, schema=PYSPY_DUMPS.schema),
        PYSPY_THREADS.name: pa.table(thread_rows, schema=PYSPY_THREADS.schema),
        PYSPY_FRAMES.name: pa.table(frame_rows, schema=PYSPY_FRAMES.schema),
    }


def parse(
    chunks: Iterable[LineChunk], input_name: str, *, engine: str = "fast", threads: int = 1
) -> ParsedPySpy:
    """Parse every line of one input. Both engines run the grammar on every line."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    assembler = _Assembler()
    line_count = 0
    non_utf8 = 0
    for chunk in chunks:
        line_count += chunk.line_count
        non_utf8 += chunk.non_utf8_lines
        line_no = chunk.first_line_no
        for text in chunk.lines.to_pylist():
            assembler.add(line_no, text, parse_line(text))
            line_no += 1
    return ParsedPySpy(
        _tables(assembler, input_name),
        unparsed_table(input_name, assembler.rejected),
        line_count,
        non_utf8,
    )


def input_report(parsed: ParsedPySpy) -> dict[str, Any]:
    """The py-spy keys of an `inputs[]` entry: dumps, threads, GIL holders, failed dumps."""
    dumps = parsed.tables[PYSPY_DUMPS.name]
    threads = parsed.tables[PYSPY_THREADS.name]
    return {
        "parsed_lines": parsed.line_count - parsed.unparsed.num_rows,
        "dumps": dumps.num_rows,
        "failed_dumps": dumps.num_rows - dumps["error"].null_count,
        "threads": threads.num_rows,
        "gil_holders": sum(1 for held in threads["holds_gil"].to_pylist() if held),
        "pids": sorted({pid for pid in dumps["pid"].to_pylist() if pid is not None}),
    }
