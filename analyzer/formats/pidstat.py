"""The `pidstat` input format (``pidstat -t -u -w [-h] [-p PID] N``): detection and tables.

Each line is read by the fast path (`pidstat_scan`) and, when it declines, by the grammar
(`pidstat_lark`); ``engine="lark"`` sends every line to the grammar. Lines are read in
order, a row with the columns of the header before it. Without ``-h`` pidstat prints one
block per activity (-u, -w, -r, -d...) for each interval; the rows of one task at one time
are merged into one `PIDSTAT_THREADS` row, so that a thread's %CPU and its context switches
sit side by side as with ``-h``. A thread row (``|__name``) belongs to the process row
printed above it.

Times: pidstat prints local times of day and the date once, in the banner. ``clock_s`` is the
time of day in seconds from the banner date's midnight (a day more each time the clock goes
back); ``ts`` is that date and time read as UTC, or the epoch of the ``-h`` stamps of
sysstat before 11.5, which are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from analyzer.formats import pidstat_lark, pidstat_scan
from analyzer.formats.pidstat_record import (
    Layout,
    PidstatBanner,
    PidstatBlank,
    PidstatHeader,
    PidstatRecord,
    PidstatRow,
    Time,
    Unparsed,
)
from analyzer.formats.wide_numbers import REASON as WIDE_NUMBER
from analyzer.formats.wide_numbers import record_fits
from analyzer.inputs import LineChunk
from analyzer.schema import Column, TableSpec, unparsed_table

__all__ = [
    "ENGINES",
    "NAME",
    "PIDSTAT_INTERVALS",
    "PIDSTAT_THREADS",
    "SPECS",
    "ParsedPidstat",
    "input_report",
    "parse",
    "sniff",
]

NAME = "pidstat"
ENGINES = ("fast", "lark")
SNIFF_LINES = 40

_INPUT = Column("input", pa.string(), "Path of the input the row came from (`-` for stdin).")
_INTERVAL = Column(
    "interval",
    pa.int64(),
    "0-based index of the report time (one per interval); null for the averages.",
)
_TS = Column(
    "ts",
    pa.float64(),
    "Epoch seconds of the report: the banner's date and the printed local time read as UTC "
    "(exact when the machine ran in UTC; otherwise subtract its UTC offset), or the exact "
    "epoch of -h in sysstat before 11.5. Null for averages and when the date is not read.",
    "s",
)
_CLOCK = Column(
    "clock_s",
    pa.float64(),
    "Local time of the report in seconds since the banner date's midnight (plus 86400 per "
    "day the clock rolled over); null for averages and epoch stamps.",
    "s",
)

PIDSTAT_THREADS = TableSpec(
    "pidstat_threads",
    "One row per task (a process row, or a thread row with -t) per report time, every "
    "activity block of that time merged; the averages (`Average:`) have average = true. "
    "Columns pidstat did not print are null; see analyzer/formats/pidstat_record.py.",
    (
        _INPUT,
        _INTERVAL,
        Column("average", pa.bool_(), "The row is from the averages block."),
        _TS,
        _CLOCK,
        Column("line_no", pa.int64(), "Line of the task's first row at this time."),
        Column("uid", pa.int64(), "UID column."),
        Column("user", pa.string(), "USER column (-U)."),
        Column(
            "pid",
            pa.int64(),
            "The process: the PID column, the TGID of a process row, or for a thread row the "
            "TGID of the process row printed above it.",
        ),
        Column("tid", pa.int64(), "TID column: the thread (null for a process row)."),
        Column("thread", pa.bool_(), "A thread row (`|__name`)."),
        Column("usr_pct", pa.float64(), "%usr: user time (without guest time).", "%"),
        Column("system_pct", pa.float64(), "%system: kernel time.", "%"),
        Column("guest_pct", pa.float64(), "%guest: time running a virtual CPU.", "%"),
        Column(
            "wait_pct", pa.float64(), "%wait: time waiting to run (runnable, not on a CPU).", "%"
        ),
        Column("cpu_pct", pa.float64(), "%CPU: total CPU time share.", "%"),
        Column("cpu", pa.int64(), "CPU column: the processor the task ran on."),
        Column("minflt_s", pa.float64(), "Minor page faults per second.", "1/s"),
        Column("majflt_s", pa.float64(), "Major page faults per second.", "1/s"),
        Column("vsz_kib", pa.int64(), "VSZ.", "KiB"),
        Column("rss_kib", pa.int64(), "RSS.", "KiB"),
        Column("mem_pct", pa.float64(), "%MEM.", "%"),
        Column("stack_size_kib", pa.int64(), "StkSize: stack reserved.", "KiB"),
        Column("stack_ref_kib", pa.int64(), "StkRef: stack referenced.", "KiB"),
        Column("kb_rd_s", pa.float64(), "kB_rd/s read from storage (-1 when unreadable).", "KiB/s"),
        Column("kb_wr_s", pa.float64(), "kB_wr/s written (or to be written).", "KiB/s"),
        Column("kb_ccwr_s", pa.float64(), "kB_ccwr/s writes cancelled.", "KiB/s"),
        Column("iodelay", pa.int64(), "iodelay: block I/O delay in clock ticks.", "ticks"),
        Column("cswch_s", pa.float64(), "Voluntary context switches per second.", "1/s"),
        Column("nvcswch_s", pa.float64(), "Involuntary context switches per second.", "1/s"),
        Column("threads", pa.int64(), "threads column (-v): the process's threads."),
        Column("fd_nr", pa.int64(), "fd-nr column (-v): open file descriptors."),
        Column(
            "command",
            pa.string(),
            "Command: the name (without the `|__` of thread rows), or the command line (-l).",
        ),
        Column(
            "extra",
            pa.map_(pa.string(), pa.string()),
            "Other known columns, as printed (name -> text).",
        ),
    ),
)

PIDSTAT_INTERVALS = TableSpec(
    "pidstat_intervals",
    "One row per report time: how many tasks and threads pidstat printed.",
    (
        _INPUT,
        _INTERVAL,
        _TS,
        _CLOCK,
        Column("line_no", pa.int64(), "Line of the first row of this time."),
        Column("tasks", pa.int64(), "Task rows (processes and threads) after merging."),
        Column("thread_rows", pa.int64(), "Thread rows (`|__`) among them."),
        Column("processes", pa.int64(), "Distinct processes among them."),
    ),
)

SPECS: tuple[TableSpec, ...] = (PIDSTAT_THREADS, PIDSTAT_INTERVALS)
_MERGED = PidstatRow._fields[7:-1]  # the activity fields, usr_pct .. command


@dataclass(frozen=True)
class ParsedPidstat:
    """What parsing one pidstat input produced."""

    tables: dict[str, pa.Table]
    unparsed: pa.Table
    banner: PidstatBanner | None
    line_count: int
    non_utf8_lines: int


def read_line(text: str, layout: Layout | None, engine: str = "fast") -> PidstatRecord | Unparsed:
    """One line's record with the layout of the header before it."""
    if engine == "fast":
        record = pidstat_scan.scan_line(text, layout)
        if record is not None:
            return record
    return pidstat_lark.parse_line(text, layout)


class _Assembler:
    def __init__(self, input_name: str) -> None:
        self.input_name = input_name
        self.layout: Layout | None = None
        self.banner: PidstatBanner | None = None
        self.midnight: float | None = None
        self.days = 0
        self.last_clock: int | None = None
        self.process: int | None = None
        self.rows: list[dict[str, Any]] = []
        self.by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.intervals: dict[Any, dict[str, Any]] = {}
        self.rejected: list[tuple[int, str, str]] = []

    def add(self, line_no: int, text: str, record: PidstatRecord | Unparsed) -> None:
        if not record_fits(record):
            record = Unparsed(WIDE_NUMBER)
        kind = type(record)
        if kind is PidstatRow:
            self._row(line_no, record)  # type: ignore[arg-type]
        elif kind is PidstatHeader:
            self.layout = record.columns  # type: ignore[union-attr]
            self.process = None
        elif kind is PidstatBanner:
            self.banner = record  # type: ignore[assignment]
            date = record.date  # type: ignore[union-attr]
            if date is not None:
                year, month, day = date
                self.midnight = datetime(year, month, day, tzinfo=timezone.utc).timestamp()
        elif kind is Unparsed:
            self.rejected.append((line_no, text, record.reason))  # type: ignore[union-attr]
        else:
            assert kind is PidstatBlank

    def _times(self, time: Time) -> tuple[Any, float | None, float | None]:
        """(merge key, ts, clock_s) of a row's time."""
        if time.average:
            return "average", None, None
        if time.epoch is not None:
            return ("epoch", time.epoch), float(time.epoch), None
        assert time.clock_s is not None
        if self.last_clock is not None and time.clock_s < self.last_clock - 1:
            self.days += 1
        self.last_clock = time.clock_s
        clock = float(time.clock_s + 86400 * self.days)
        ts = self.midnight + clock if self.midnight is not None else None
        return ("clock", clock), ts, clock

    def _row(self, line_no: int, row: PidstatRow) -> None:
        time_key, ts, clock = self._times(row.time)
        if row.tgid is not None:
            self.process = row.tgid
        pid: int | None
        if row.pid is not None:
            pid = row.pid
        elif row.thread or (row.tid is not None and row.tgid is None):
            pid = self.process
        else:
            pid = row.tgid
        key = (time_key, pid, row.tid, row.thread)
        entry = self.by_key.get(key)
        if entry is None:
            interval = None
            if time_key != "average":
                info = self.intervals.get(time_key)
                if info is None:
                    info = self.intervals[time_key] = {
                        "input": self.input_name,
                        "interval": len(self.intervals),
                        "ts": ts,
                        "clock_s": clock,
                        "line_no": line_no,
                        "tasks": 0,
                        "thread_rows": 0,
                        "pids": set(),
                    }
                info["tasks"] += 1
                info["thread_rows"] += row.thread
                if pid is not None:
                    info["pids"].add(pid)
                interval = info["interval"]
            entry = self.by_key[key] = {
                "input": self.input_name,
                "interval": interval,
                "average": row.time.average,
                "ts": ts,
                "clock_s": clock,
                "line_no": line_no,
                "uid": row.uid,
                "user": row.user,
                "pid": pid,
                "tid": row.tid,
                "thread": row.thread,
                "extra": [],
            }
            entry.update({field: None for field in _MERGED})
            self.rows.append(entry)
        for field in _MERGED:
            value = getattr(row, field)
            if value is not None and entry[field] is None:
                entry[field] = value
        entry["extra"].extend(row.extra)

    def tables(self) -> dict[str, pa.Table]:
        threads = {name: [row[name] for row in self.rows] for name in PIDSTAT_THREADS.names}
        intervals = list(self.intervals.values())
        for info in intervals:
            info["processes"] = len(info["pids"])
        interval_columns = {
            name: [info[name] for info in intervals] for name in PIDSTAT_INTERVALS.names
        }
        return {
            PIDSTAT_THREADS.name: pa.table(threads, schema=PIDSTAT_THREADS.schema),
            PIDSTAT_INTERVALS.name: pa.table(interval_columns, schema=PIDSTAT_INTERVALS.schema),
        }


def parse(
    chunks: Iterable[LineChunk], input_name: str, *, engine: str = "fast", threads: int = 1
) -> ParsedPidstat:
    """Parse every line of one input (in order: a row needs the header before it)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    assembler = _Assembler(input_name)
    line_count = non_utf8 = 0
    for chunk in chunks:
        line_count += chunk.line_count
        non_utf8 += chunk.non_utf8_lines
        line_no = chunk.first_line_no
        for text in chunk.lines.to_pylist():
            assembler.add(line_no, text, read_line(text, assembler.layout, engine))
            line_no += 1
    return ParsedPidstat(
        assembler.tables(),
        unparsed_table(input_name, assembler.rejected),
        assembler.banner,
        line_count,
        non_utf8,
    )


_TASK_COLUMNS = frozenset(["PID", "TGID", "TID"])


def sniff(head: bytes) -> float:
    """How much the first lines look like pidstat output (0..1).

    sysstat's banner alone is shared with iostat, mpstat and sar: a header naming PID, TGID
    or TID must follow it (or open the input), then a row; the score is the share of the
    non-blank lines that parse.
    """
    lines = head.decode("utf-8", errors="replace").split("\n")[:SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines.pop()
    layout: Layout | None = None
    parsed = total = rows = 0
    for text in lines:
        record = read_line(text, layout)
        if isinstance(record, PidstatBlank):
            continue
        total += 1
        if isinstance(record, Unparsed):
            if layout is None:
                return 0.0
            continue
        parsed += 1
        if isinstance(record, PidstatHeader):
            if not _TASK_COLUMNS & set(record.columns):
                return 0.0
            layout = record.columns
        elif isinstance(record, PidstatRow):
            rows += 1
    if rows == 0 or total == 0:
        return 0.0
    return parsed / total


def input_report(parsed: ParsedPidstat) -> dict[str, Any]:
    """The pidstat keys of an `inputs[]` entry."""
    threads = parsed.tables[PIDSTAT_THREADS.name]
    banner = parsed.banner
    return {
        "parsed_lines": parsed.line_count - parsed.unparsed.num_rows,
        "report_times": parsed.tables[PIDSTAT_INTERVALS.name].num_rows,
        "task_rows": threads.num_rows,
        "distinct_tids": len(set(threads["tid"].drop_null().to_pylist())),
        "host": banner.host if banner else None,
        "date": banner.date_text if banner else None,
        "cpus": banner.cpus if banner else None,
    }
