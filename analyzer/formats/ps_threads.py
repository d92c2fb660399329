"""The `ps` thread-snapshot input format: detection and tables.

The input is what a loop such as ``while :; do date +%s.%N; ps -eLf; sleep 1; done`` (or
``ps -L -o pid,tid,stat,wchan:32,pcpu,comm -p PID``, ``ps -T``, ``ps -eLo ...``) writes: a
`date` stamp, a ps header, rows; again. Each line is read by the fast path
(`ps_threads_scan`) and, when it declines, by the grammar (`ps_threads_lark`);
``engine="lark"`` sends every line to the grammar. Lines are read in order, a row with the
columns of the header before it:

- a snapshot starts at a stamp, or at a header when the current snapshot already has one
  (a loop without stamps); its time is the stamp's;
- `PS_THREADS` has one row per thread row, `PS_SNAPSHOTS` one per snapshot and `PS_NLWP`
  the threads of each process in each snapshot (the rows counted, and ps's own NLWP column
  when the layout has one), so thread counts can be followed over time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analyzer.formats import ps_threads_lark, ps_threads_scan
from analyzer.formats.ps_threads_record import (
    Layout,
    PsBlank,
    PsHeader,
    PsRecord,
    PsRow,
    PsStamp,
    Unparsed,
)
from analyzer.formats.wide_numbers import REASON as WIDE_NUMBER
from analyzer.formats.wide_numbers import record_fits
from analyzer.inputs import LineChunk
from analyzer.schema import Column, TableSpec, unparsed_table

__all__ = [
    "ENGINES",
    "NAME",
    "PS_NLWP",
    "PS_SNAPSHOTS",
    "PS_THREADS",
    "SPECS",
    "ParsedPsThreads",
    "input_report",
    "parse",
    "sniff",
]

NAME = "ps_threads"
ENGINES = ("fast", "lark")
SNIFF_LINES = 40

_INPUT = Column("input", pa.string(), "Path of the input the row came from (`-` for stdin).")
_SNAPSHOT = Column("snapshot", pa.int64(), "0-based index of the ps snapshot.")
_TS = Column(
    "ts",
    pa.float64(),
    "Epoch seconds of the snapshot's `date` stamp, when the stamp gives them exactly "
    "(`+%s`, ISO with an offset, a UTC or numeric zone); null otherwise or without a stamp. "
    "ps ran just after the stamp.",
    "s",
)
_CLOCK = Column(
    "clock_s",
    pa.float64(),
    "Local time of day of the stamp, seconds since midnight (null for epoch stamps).",
    "s",
)

PS_SNAPSHOTS = TableSpec(
    "ps_snapshots",
    "One row per ps snapshot (a `date` stamp and the table after it).",
    (
        _INPUT,
        _SNAPSHOT,
        Column("line_no", pa.int64(), "Line of the snapshot's first line (stamp or header)."),
        _TS,
        _CLOCK,
        Column("stamp", pa.string(), "The stamp as printed (null without one)."),
        Column("columns", pa.string(), "The header's names, blank-separated."),
        Column("rows", pa.int64(), "Rows (threads with -L/-T) in the snapshot."),
        Column("processes", pa.int64(), "Distinct PIDs among the rows (null without PID)."),
    ),
)

PS_THREADS = TableSpec(
    "ps_threads",
    "One row per ps row (a thread with -L/-T/H). Columns the header did not show are null; "
    "see analyzer/formats/ps_threads_record.py for the cell rules.",
    (
        _INPUT,
        _SNAPSHOT,
        _TS,
        Column("line_no", pa.int64(), "Source line."),
        Column("pid", pa.int64(), "PID (or TGID) column: the process."),
        Column("tid", pa.int64(), "TID, LWP or SPID column: the thread."),
        Column("ppid", pa.int64(), "PPID column."),
        Column("nlwp", pa.int64(), "NLWP (THCNT) column: the process's threads as ps read it."),
        Column("user", pa.string(), "UID (a name with -f), USER, EUSER or RUSER column."),
        Column("state", pa.string(), "S column, or the first letter of STAT: R, S, D, Z, T..."),
        Column("stat", pa.string(), "STAT column: the state and its flags (`Sl+`, `D<`)."),
        Column(
            "wchan", pa.string(), "WCHAN column: the kernel function a sleeping thread waits in."
        ),
        Column(
            "cpu_pct",
            pa.float64(),
            "%CPU column: CPU time / elapsed time since the thread started (not recent use).",
            "%",
        ),
        Column("c", pa.int64(), "C column: the integer %CPU of -f.", "%"),
        Column("mem_pct", pa.float64(), "%MEM column.", "%"),
        Column("psr", pa.int64(), "PSR column: the CPU the thread last ran on."),
        Column("pri", pa.int64(), "PRI column (null for `-`)."),
        Column("ni", pa.int64(), "NI column (null for `-`: a real-time thread)."),
        Column("rss_kib", pa.int64(), "RSS column.", "KiB"),
        Column("vsz_kib", pa.int64(), "VSZ column.", "KiB"),
        Column("start", pa.string(), "STIME, START or STARTED column, as printed."),
        Column("cpu_time_s", pa.int64(), "TIME column: CPU time used.", "s"),
        Column("elapsed_s", pa.int64(), "ELAPSED column: time since the thread started.", "s"),
        Column("tty", pa.string(), "TTY (TT) column."),
        Column(
            "command",
            pa.string(),
            "CMD or COMMAND column: the thread name (comm) or the command line (args, -f).",
        ),
        Column(
            "extra",
            pa.map_(pa.string(), pa.string()),
            "Other known columns of the header, as printed (name -> text).",
        ),
    ),
)

PS_NLWP = TableSpec(
    "ps_nlwp",
    "Threads per process per snapshot: how the thread count (NLWP) moved over time.",
    (
        _INPUT,
        _SNAPSHOT,
        _TS,
        Column("pid", pa.int64(), "The process."),
        Column("threads", pa.int64(), "Its rows in the snapshot (its threads with -L/-T)."),
        Column(
            "nlwp",
            pa.int64(),
            "The largest NLWP value ps printed for it (null when the layout has no NLWP); may "
            "differ from `threads` when threads came or went while ps read the process.",
        ),
        Column("command", pa.string(), "Command of its main thread's row (else the first)."),
    ),
)

SPECS: tuple[TableSpec, ...] = (PS_SNAPSHOTS, PS_THREADS, PS_NLWP)
assert set(PsRow._fields) <= set(PS_THREADS.names)


@dataclass(frozen=True)
class ParsedPsThreads:
    """What parsing one ps snapshot log produced."""

    tables: dict[str, pa.Table]
    unparsed: pa.Table
    line_count: int
    non_utf8_lines: int


def read_line(text: str, layout: Layout | None, engine: str = "fast") -> PsRecord | Unparsed:
    """One line's record with the layout of the header before it."""
    if engine == "fast":
        record = ps_threads_scan.scan_line(text, layout)
        if record is not None:
            return record
    return ps_threads_lark.parse_line(text, layout)


class _Assembler:
    def __init__(self, input_name: str) -> None:
        self.input_name = input_name
        self.layout: Layout | None = None
        self.snapshots: list[dict[str, Any]] = []
        self.has_header = False
        self.threads: dict[str, list[Any]] = {name: [] for name in PS_THREADS.names}
        self.row_columns = [self.threads[name] for name in PsRow._fields]
        self.rejected: list[tuple[int, str, str]] = []
        self.per_pid: dict[tuple[int, int], dict[str, Any]] = {}

    def _start(self, line_no: int, stamp: PsStamp | None) -> dict[str, Any]:
        snapshot: dict[str, Any] = {name: None for name in PS_SNAPSHOTS.names}
        snapshot.update(
            input=self.input_name, snapshot=len(self.snapshots), line_no=line_no, rows=0
        )
        if stamp is not None:
            snapshot.update(ts=stamp.ts, clock_s=stamp.clock_s, stamp=stamp.text)
        self.snapshots.append(snapshot)
        self.has_header = False
        return snapshot

    def add(self, line_no: int, text: str, record: PsRecord | Unparsed) -> None:
        if not record_fits(record):
            record = Unparsed(WIDE_NUMBER)
        kind = type(record)
        if kind is PsRow:
            self._row(line_no, record)  # type: ignore[arg-type]
        elif kind is PsStamp:
            self._start(line_no, record)  # type: ignore[arg-type]
        elif kind is PsHeader:
            if not self.snapshots or self.has_header:
                self._start(line_no, None)
            self.has_header = True
            self.layout = record.columns  # type: ignore[union-attr]
            self.snapshots[-1]["columns"] = " ".join(self.layout)
        elif kind is Unparsed:
            self.rejected.append((line_no, text, record.reason))  # type: ignore[union-attr]
        else:
            assert kind is PsBlank

    def _row(self, line_no: int, row: PsRow) -> None:
        snapshot = self.snapshots[-1]
        snapshot["rows"] += 1
        columns = self.threads
        columns["input"].append(self.input_name)
        columns["snapshot"].append(snapshot["snapshot"])
        columns["ts"].append(snapshot["ts"])
        columns["line_no"].append(line_no)
        for values, value in zip(self.row_columns, row, strict=True):
            values.append(value)
        if row.pid is None:
            return
        key = (snapshot["snapshot"], row.pid)
        entry = self.per_pid.get(key)
        if entry is None:
            entry = self.per_pid[key] = {
                "input": self.input_name,
                "snapshot": snapshot["snapshot"],
                "ts": snapshot["ts"],
                "pid": row.pid,
                "threads": 0,
                "nlwp": None,
                "command": row.command,
            }
        entry["threads"] += 1
        if row.nlwp is not None and (entry["nlwp"] is None or row.nlwp > entry["nlwp"]):
            entry["nlwp"] = row.nlwp
        if row.tid == row.pid:
            entry["command"] = row.command

    def tables(self) -> dict[str, pa.Table]:
        pids_by_snapshot: dict[int, int] = {}
        for snapshot_index, _pid in self.per_pid:
            pids_by_snapshot[snapshot_index] = pids_by_snapshot.get(snapshot_index, 0) + 1
        for snapshot in self.snapshots:
            if snapshot["rows"] and self._has_pid(snapshot["columns"]):
                snapshot["processes"] = pids_by_snapshot.get(snapshot["snapshot"], 0)
        snapshots = {name: [row[name] for row in self.snapshots] for name in PS_SNAPSHOTS.names}
        nlwp = {name: [row[name] for row in self.per_pid.values()] for name in PS_NLWP.names}
        return {
            PS_SNAPSHOTS.name: pa.table(snapshots, schema=PS_SNAPSHOTS.schema),
            PS_THREADS.name: pa.table(self.threads, schema=PS_THREADS.schema),
            PS_NLWP.name: pa.table(nlwp, schema=PS_NLWP.schema),
        }

    @staticmethod
    def _has_pid(columns: str | None) -> bool:
        return columns is not None and bool({"PID", "TGID"} & set(columns.split()))


def parse(
    chunks: Iterable[LineChunk], input_name: str, *, engine: str = "fast", threads: int = 1
) -> ParsedPsThreads:
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
    return ParsedPsThreads(
        assembler.tables(), unparsed_table(input_name, assembler.rejected), line_count, non_utf8
    )


_ID_COLUMNS = frozenset(["PID", "TID", "LWP", "SPID", "TGID"])


def sniff(head: bytes) -> float:
    """How much the first lines look like a ps snapshot log (0..1).

    A header naming a process or thread id column must come first (after stamps and blank
    lines) and be followed by a row; the score is the share of the non-blank lines that
    parse.
    """
    lines = head.decode("utf-8", errors="replace").split("\n")[:SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines.pop()
    layout: Layout | None = None
    parsed = total = rows = 0
    for text in lines:
        record = read_line(text, layout)
        if isinstance(record, PsBlank):
            continue
        total += 1
        if isinstance(record, Unparsed):
            if layout is None:
                return 0.0  # something else before the first header
            continue
        parsed += 1
        if isinstance(record, PsHeader):
            if not _ID_COLUMNS & set(record.columns):
                return 0.0
            layout = record.columns
        elif isinstance(record, PsRow):
            rows += 1
    if rows == 0 or total == 0:
        return 0.0
    return parsed / total


def input_report(parsed: ParsedPsThreads) -> dict[str, Any]:
    """The ps keys of an `inputs[]` entry."""
    snapshots = parsed.tables[PS_SNAPSHOTS.name]
    threads = parsed.tables[PS_THREADS.name]
    return {
        "parsed_lines": parsed.line_count - parsed.unparsed.num_rows,
        "snapshots": snapshots.num_rows,
        "thread_rows": threads.num_rows,
        "distinct_tids": len(set(threads["tid"].drop_null().to_pylist())),
        "stamped_snapshots": snapshots["ts"].drop_null().__len__(),
    }
