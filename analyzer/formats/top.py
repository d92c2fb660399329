"""The `top -b` input format (``top -H -b -d N -n M [-p PID]``): detection and tables.

Each line is read by the fast path (`top_scan`) and, when it declines, by the grammar
(`top_lark`); ``engine="lark"`` sends every line to the grammar. The lines are read in order,
since a row's columns are those of the last header:

- an iteration starts at a ``top -`` line (or at a second header when the summary is off);
- a header may follow a blank line (or open the input); rows before any header are read with
  top's default columns;
- the summary lines fill the iteration's `TOP_SAMPLES` row, per-CPU lines (``-1``) go to
  `TOP_CPUS`, task rows to `TOP_THREADS`.

The clock of ``top -`` is local time without a date: ``clock_s`` counts seconds from the
midnight before the first iteration, a day more each time the clock goes back (top runs for
less than a day between two iterations).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analyzer.formats import top_lark, top_scan
from analyzer.formats.top_record import (
    DEFAULT_LAYOUT,
    Layout,
    TopBlank,
    TopCpu,
    TopHeader,
    TopMemory,
    TopRecord,
    TopRow,
    TopTasks,
    TopUptime,
    Unparsed,
)
from analyzer.formats.wide_numbers import REASON as WIDE_NUMBER
from analyzer.formats.wide_numbers import record_fits
from analyzer.inputs import LineChunk
from analyzer.schema import Column, TableSpec, unparsed_table

__all__ = [
    "ENGINES",
    "NAME",
    "SPECS",
    "TOP_CPUS",
    "TOP_SAMPLES",
    "TOP_THREADS",
    "ParsedTop",
    "input_report",
    "parse",
    "sniff",
]

NAME = "top"
ENGINES = ("fast", "lark")
SNIFF_LINES = 40

_INPUT = Column("input", pa.string(), "Path of the input the row came from (`-` for stdin).")
_ITERATION = Column(
    "iteration", pa.int64(), "0-based index of the top iteration (screen) the row belongs to."
)
_CLOCK = Column(
    "clock_s",
    pa.float64(),
    "The iteration's `top -` clock as seconds since the local midnight before the first "
    "iteration (plus 86400 per day the clock rolled over). top prints no date: to align "
    "with epoch-stamped sources add that midnight's epoch (the capture's local date) minus "
    "the machine's UTC offset. Null when the iteration has no `top -` line.",
    "s",
)

TOP_SAMPLES = TableSpec(
    "top_samples",
    "One row per top iteration: the summary area (uptime, load, task counts, CPU and memory).",
    (
        _INPUT,
        _ITERATION,
        Column("line_no", pa.int64(), "Line of the iteration's first line."),
        _CLOCK,
        Column("uptime_s", pa.int64(), "System uptime (`up ...`), minute resolution.", "s"),
        Column("users", pa.int64(), "Logged-in users (null when not printed)."),
        Column("load1", pa.float64(), "1-minute load average."),
        Column("load5", pa.float64(), "5-minute load average."),
        Column("load15", pa.float64(), "15-minute load average."),
        Column("tasks_label", pa.string(), "`Tasks` or `Threads` (top -H, procps-ng 3.3+)."),
        Column("tasks_total", pa.int64(), "Tasks (threads with -H) shown in total."),
        Column("tasks_running", pa.int64(), "... running."),
        Column("tasks_sleeping", pa.int64(), "... sleeping (`sleep` of procps-ng 4.0.5+)."),
        Column("tasks_d_sleep", pa.int64(), "... in uninterruptible sleep (procps-ng 4.0.5+)."),
        Column("tasks_stopped", pa.int64(), "... stopped."),
        Column("tasks_zombie", pa.int64(), "... zombie."),
        Column("cpu_us", pa.float64(), "All-CPU user time (`us`).", "%"),
        Column("cpu_sy", pa.float64(), "... system (`sy`).", "%"),
        Column("cpu_ni", pa.float64(), "... niced user (`ni`).", "%"),
        Column("cpu_id", pa.float64(), "... idle (`id`).", "%"),
        Column("cpu_wa", pa.float64(), "... waiting for I/O (`wa`).", "%"),
        Column("cpu_hi", pa.float64(), "... hardware interrupts (`hi`).", "%"),
        Column("cpu_si", pa.float64(), "... software interrupts (`si`).", "%"),
        Column("cpu_st", pa.float64(), "... stolen by the hypervisor (`st`).", "%"),
        Column("mem_unit", pa.string(), "Unit top printed memory in: KiB, MiB, GiB... or k."),
        Column("mem_total_kib", pa.float64(), "Physical memory total.", "KiB"),
        Column("mem_free_kib", pa.float64(), "... free.", "KiB"),
        Column("mem_used_kib", pa.float64(), "... used.", "KiB"),
        Column("mem_buff_cache_kib", pa.float64(), "... buff/cache (procps-ng 3.3.10+).", "KiB"),
        Column("mem_buffers_kib", pa.float64(), "... buffers (before 3.3.10).", "KiB"),
        Column(
            "mem_cached_kib",
            pa.float64(),
            "Page cache: `cached` (on the swap line, before 3.3.10).",
            "KiB",
        ),
        Column("mem_avail_kib", pa.float64(), "`avail Mem` (on the swap line, 3.3.10+).", "KiB"),
        Column("swap_total_kib", pa.float64(), "Swap total.", "KiB"),
        Column("swap_free_kib", pa.float64(), "... free.", "KiB"),
        Column("swap_used_kib", pa.float64(), "... used.", "KiB"),
        Column("rows", pa.int64(), "Task rows printed in the iteration."),
    ),
)

TOP_CPUS = TableSpec(
    "top_cpus",
    "Per-CPU summary lines (`-1`, or the 1 toggle): one row per CPU per iteration.",
    (
        _INPUT,
        _ITERATION,
        _CLOCK,
        Column("cpu", pa.int64(), "CPU number (`%Cpu3`)."),
        Column("us", pa.float64(), "User time.", "%"),
        Column("sy", pa.float64(), "System time.", "%"),
        Column("ni", pa.float64(), "Niced user time.", "%"),
        Column("id", pa.float64(), "Idle.", "%"),
        Column("wa", pa.float64(), "Waiting for I/O.", "%"),
        Column("hi", pa.float64(), "Hardware interrupts.", "%"),
        Column("si", pa.float64(), "Software interrupts.", "%"),
        Column("st", pa.float64(), "Stolen.", "%"),
        Column("line_no", pa.int64(), "Source line."),
    ),
)

TOP_THREADS = TableSpec(
    "top_threads",
    "One row per task row per iteration (a thread with -H, a process without). Columns the "
    "header did not show are null; see analyzer/formats/top_record.py for the cell rules.",
    (
        _INPUT,
        _ITERATION,
        _CLOCK,
        Column("line_no", pa.int64(), "Source line."),
        Column("tid", pa.int64(), "PID column: the thread id with -H, else the process id."),
        Column("tgid", pa.int64(), "TGID column: the process the thread belongs to."),
        Column("ppid", pa.int64(), "PPID column."),
        Column("uid", pa.int64(), "UID column (effective user id)."),
        Column("user", pa.string(), "USER column (cut to its width with a `+` by top)."),
        Column("pr", pa.int64(), "PR column: scheduling priority; null for `rt`."),
        Column("realtime", pa.bool_(), "PR is `rt` (a real-time policy)."),
        Column("ni", pa.int64(), "NI column: nice value."),
        Column("nth", pa.int64(), "nTH column: threads in the task's process."),
        Column("last_cpu", pa.int64(), "P column: the CPU the task last ran on."),
        Column("state", pa.string(), "S column: R, S, D, Z, T, t, I..."),
        Column(
            "cpu_pct",
            pa.float64(),
            "%CPU column: share of one CPU since the previous iteration (the first iteration's "
            "since top started); above 100 for a process with several busy threads.",
            "%",
        ),
        Column("mem_pct", pa.float64(), "%MEM column: resident share of physical memory.", "%"),
        Column("virt_kib", pa.float64(), "VIRT column, unscaled.", "KiB"),
        Column("res_kib", pa.float64(), "RES column, unscaled.", "KiB"),
        Column("shr_kib", pa.float64(), "SHR column, unscaled.", "KiB"),
        Column("swap_kib", pa.float64(), "SWAP column, unscaled.", "KiB"),
        Column("cpu_time_s", pa.float64(), "TIME+ (or TIME) column: CPU time used.", "s"),
        Column(
            "cpu_time_res_s",
            pa.float64(),
            "Resolution of the printed CPU time (0.01 for M:SS.cc, 1 for M:SS, 60 for H,MM, "
            "3600, 86400, 604800): the true value lies in [cpu_time_s, cpu_time_s + res).",
            "s",
        ),
        Column("wchan", pa.string(), "WCHAN column: kernel function the task sleeps in."),
        Column(
            "command",
            pa.string(),
            "COMMAND column: the thread name (comm), or the command line with -c; cut at the "
            "screen width (80 in batch mode without -w) with a `+` mark.",
        ),
        Column(
            "extra",
            pa.map_(pa.string(), pa.string()),
            "Other known columns the header showed, as printed (name -> text).",
        ),
    ),
)

SPECS: tuple[TableSpec, ...] = (TOP_SAMPLES, TOP_CPUS, TOP_THREADS)

_ROW_COLUMNS = (*TOP_THREADS.names[4:-1], "extra")
"""The `TOP_THREADS` column of each `TopRow` field, in the record's order."""
assert len(_ROW_COLUMNS) == len(TopRow._fields)


@dataclass(frozen=True)
class ParsedTop:
    """What parsing one `top -b` input produced."""

    tables: dict[str, pa.Table]
    unparsed: pa.Table
    line_count: int
    non_utf8_lines: int


def read_line(
    text: str, layout: Layout | None, header: bool, engine: str = "fast"
) -> TopRecord | Unparsed:
    """One line's record with the context of the lines before it (see `top_lark.parse_line`)."""
    if engine == "fast":
        record = top_scan.scan_line(text, layout, header)
        if record is not None:
            return record
    return top_lark.parse_line(text, layout, header)


class _Assembler:
    """Line records, in order -> the tables' columns."""

    def __init__(self, input_name: str) -> None:
        self.input_name = input_name
        self.layout: Layout | None = None
        self.header_allowed = True
        self.iteration = -1
        self.iteration_has_header = False
        self.clock_base = 0.0
        self.last_clock: int | None = None
        self.clock: float | None = None
        self.samples: list[dict[str, Any]] = []
        self.cpus: dict[str, list[Any]] = {name: [] for name in TOP_CPUS.names}
        self.threads: dict[str, list[Any]] = {name: [] for name in TOP_THREADS.names}
        self.row_columns = [self.threads[name] for name in _ROW_COLUMNS]
        """The column lists of `TopRow`'s fields, in its order."""
        self.rejected: list[tuple[int, str, str]] = []

    def _start_iteration(self, line_no: int) -> dict[str, Any]:
        self.iteration += 1
        self.iteration_has_header = False
        self.clock = None
        sample: dict[str, Any] = {name: None for name in TOP_SAMPLES.names}
        sample.update(input=self.input_name, iteration=self.iteration, line_no=line_no, rows=0)
        self.samples.append(sample)
        return sample

    def _sample(self, line_no: int) -> dict[str, Any]:
        return self.samples[-1] if self.samples else self._start_iteration(line_no)

    def add(self, line_no: int, text: str, record: TopRecord | Unparsed) -> None:
        if not record_fits(record):
            record = Unparsed(WIDE_NUMBER)
        kind = type(record)
        if kind is TopRow:
            self._row(line_no, record)  # type: ignore[arg-type]
            self.header_allowed = False
            if self.layout is None:
                self.layout = DEFAULT_LAYOUT
        elif kind is TopBlank:
            self.header_allowed = True
        elif kind is Unparsed:
            self.rejected.append((line_no, text, record.reason))  # type: ignore[union-attr]
            self.header_allowed = False
        elif kind is TopHeader:
            if self.iteration_has_header or not self.samples:
                self._start_iteration(line_no)
            self.iteration_has_header = True
            self.layout = record.columns  # type: ignore[union-attr]
            self.header_allowed = False
        else:
            self._summary(line_no, record)
            self.header_allowed = False

    def _summary(self, line_no: int, record: TopRecord | Unparsed) -> None:
        if isinstance(record, TopUptime):
            sample = self._start_iteration(line_no)
            if self.last_clock is not None and record.clock_s < self.last_clock:
                self.clock_base += 86400.0
            self.last_clock = record.clock_s
            self.clock = self.clock_base + record.clock_s
            sample.update(
                clock_s=self.clock,
                uptime_s=record.uptime_s,
                users=record.users,
                load1=record.load1,
                load5=record.load5,
                load15=record.load15,
            )
            return
        sample = self._sample(line_no)
        if isinstance(record, TopTasks):
            sample["tasks_label"] = record.label
            sample["tasks_total"] = record.total
            for field in ("running", "sleeping", "d_sleep", "stopped", "zombie"):
                sample[f"tasks_{field}"] = getattr(record, field)
        elif isinstance(record, TopCpu):
            if record.cpu is None:
                for field in ("us", "sy", "ni", "id", "wa", "hi", "si", "st"):
                    sample[f"cpu_{field}"] = getattr(record, field)
            else:
                values = (self.input_name, self.iteration, self.clock, *record, line_no)
                for name, value in zip(TOP_CPUS.names, values, strict=True):
                    self.cpus[name].append(value)
        elif isinstance(record, TopMemory):
            if record.unit != "k" or sample["mem_unit"] is None:
                sample["mem_unit"] = record.unit
            prefix = "swap" if record.kind == "swap" else "mem"
            for field in ("total", "free", "used"):
                if getattr(record, field) is not None:
                    sample[f"{prefix}_{field}_kib"] = getattr(record, field)
            for field in ("buff_cache", "buffers", "cached", "avail"):
                if getattr(record, field) is not None:
                    sample[f"mem_{field}_kib"] = getattr(record, field)

    def _row(self, line_no: int, row: TopRow) -> None:
        sample = self._sample(line_no)
        sample["rows"] += 1
        columns = self.threads
        columns["input"].append(self.input_name)
        columns["iteration"].append(self.iteration)
        columns["clock_s"].append(self.clock)
        columns["line_no"].append(line_no)
        for values, value in zip(self.row_columns, row, strict=True):
            values.append(value)

    def tables(self) -> dict[str, pa.Table]:
        samples = {name: [sample[name] for sample in self.samples] for name in TOP_SAMPLES.names}
        return {
            TOP_SAMPLES.name: pa.table(samples, schema=TOP_SAMPLES.schema),
            TOP_CPUS.name: pa.table(self.cpus, schema=TOP_CPUS.schema),
            TOP_THREADS.name: pa.table(self.threads, schema=TOP_THREADS.schema),
        }


def parse(
    chunks: Iterable[LineChunk], input_name: str, *, engine: str = "fast", threads: int = 1
) -> ParsedTop:
    """Parse every line of one input (``threads`` is accepted for the common signature: the
    lines are read in order, each with the layout of the header before it)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    assembler = _Assembler(input_name)
    line_count = non_utf8 = 0
    for chunk in chunks:
        line_count += chunk.line_count
        non_utf8 += chunk.non_utf8_lines
        line_no = chunk.first_line_no
        for text in chunk.lines.to_pylist():
            record = read_line(text, assembler.layout, assembler.header_allowed, engine)
            assembler.add(line_no, text, record)
            line_no += 1
    return ParsedTop(
        assembler.tables(), unparsed_table(input_name, assembler.rejected), line_count, non_utf8
    )


def sniff(head: bytes) -> float:
    """How much the first lines look like `top -b` output (0..1).

    A `top -` summary line must be among them (the column header alone is shared with other
    tools' vocabularies); the score is then the share of the non-blank lines that parse.
    """
    lines = head.decode("utf-8", errors="replace").split("\n")[:SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines.pop()  # cut by the head's size
    layout: Layout | None = None
    header = True
    parsed = total = 0
    seen_uptime = False
    for text in lines:
        record = read_line(text, layout, header)
        if isinstance(record, TopBlank):
            header = True
            continue
        total += 1
        header = False
        if isinstance(record, Unparsed):
            continue
        parsed += 1
        if isinstance(record, TopUptime):
            seen_uptime = True
        elif isinstance(record, TopHeader):
            layout = record.columns
        elif isinstance(record, TopRow) and layout is None:
            layout = DEFAULT_LAYOUT
    if not seen_uptime or total == 0:
        return 0.0
    return parsed / total


def input_report(parsed: ParsedTop) -> dict[str, Any]:
    """The top keys of an `inputs[]` entry."""
    samples = parsed.tables[TOP_SAMPLES.name]
    threads = parsed.tables[TOP_THREADS.name]
    return {
        "parsed_lines": parsed.line_count - parsed.unparsed.num_rows,
        "iterations": samples.num_rows,
        "task_rows": threads.num_rows,
        "distinct_tids": len(set(threads["tid"].drop_null().to_pylist())),
        "per_cpu_rows": parsed.tables[TOP_CPUS.name].num_rows,
    }
