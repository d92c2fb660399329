"""The sysstat `iostat` input format: detection, and lines -> device and cpu tables.

Each line is read by the fast scanner (`iostat_scan`: device rows, cpu values, blanks) and,
when it declines, by the grammar (`iostat_lark`); with ``engine="lark"`` every line goes
through the grammar. The records are then assembled in order:

- a banner (``Linux ... (host) date _arch_ (N CPU)``) starts a run: ``run`` counts them;
- a report starts at a ``-t`` stamp, or (without ``-t``) at an ``avg-cpu:`` header, or at a
  ``Device`` header when the current report already had one; ``report`` counts reports
  within a run from 0. Report 0 of a run holds the averages since boot, unless iostat ran
  with ``-y`` (the option is not visible in the output: check the command);
- a device row takes its column names from the last ``Device`` header, a values line from
  the last ``avg-cpu:`` header. Known names go to fixed columns in common units (MB and
  512-byte sectors/blocks converted to kB, old and new names merged: ``avgqu-sz`` and
  ``aqu-sz`` are both ``aqu_sz``); any other column goes to ``extra``, so nothing is lost.

Rows whose number of values differs from their header's columns, and rows before any
header, are kept in `unparsed` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analyzer.formats import iostat_lark
from analyzer.formats.iostat_record import IostatRecord, Unparsed
from analyzer.formats.iostat_scan import scan_line
from analyzer.formats.wide_numbers import REASON as WIDE_NUMBER
from analyzer.formats.wide_numbers import record_fits
from analyzer.inputs import LineChunk
from analyzer.schema import Column, TableSpec, unparsed_table

__all__ = ["ENGINES", "NAME", "SPECS", "ParsedIostat", "input_report", "parse", "sniff"]

NAME = "iostat"
ENGINES: tuple[str, ...] = ("fast", "lark")
SNIFF_LINES = 40

_INPUT = Column("input", pa.string(), "Path of the input the row came from (`-` for stdin).")
_RUN = Column("run", pa.int64(), "0-based index of the iostat run (one per banner line).")
_REPORT = Column(
    "report",
    pa.int64(),
    "0-based report within the run. Report 0 is the average since boot unless iostat ran "
    "with -y; the others cover one interval each.",
)
_TS = Column(
    "ts",
    pa.float64(),
    "End of the report's interval in epoch seconds, from the -t stamp. Locale stamps carry "
    "no zone: their wall clock is read as UTC (see `utc_offset_known`; add the host's UTC "
    "offset to align with other sources). Null without -t.",
    "s",
)
_TS_KNOWN = Column(
    "utc_offset_known",
    pa.bool_(),
    "True when the stamp printed its UTC offset (S_TIME_FORMAT=ISO): `ts` is then exact.",
)
_TIME_TEXT = Column("time_text", pa.string(), "The -t stamp as printed (blanks normalised).")
_EXTRA = Column(
    "extra",
    pa.map_(pa.string(), pa.float64()),
    "Columns this table has no field for, by their header name, as printed.",
)

# header name -> (column, factor to the column's unit)
DEVICE_FIELDS: dict[str, tuple[str, float]] = {
    "r/s": ("r_s", 1.0),
    "w/s": ("w_s", 1.0),
    "d/s": ("d_s", 1.0),
    "f/s": ("f_s", 1.0),
    "rkB/s": ("rkb_s", 1.0),
    "wkB/s": ("wkb_s", 1.0),
    "dkB/s": ("dkb_s", 1.0),
    "rMB/s": ("rkb_s", 1024.0),
    "wMB/s": ("wkb_s", 1024.0),
    "dMB/s": ("dkb_s", 1024.0),
    "rsec/s": ("rkb_s", 0.5),
    "wsec/s": ("wkb_s", 0.5),
    "rrqm/s": ("rrqm_s", 1.0),
    "wrqm/s": ("wrqm_s", 1.0),
    "drqm/s": ("drqm_s", 1.0),
    "%rrqm": ("rrqm_pct", 1.0),
    "%wrqm": ("wrqm_pct", 1.0),
    "%drqm": ("drqm_pct", 1.0),
    "r_await": ("r_await_ms", 1.0),
    "w_await": ("w_await_ms", 1.0),
    "d_await": ("d_await_ms", 1.0),
    "f_await": ("f_await_ms", 1.0),
    "await": ("await_ms", 1.0),
    "rareq-sz": ("rareq_sz_kb", 1.0),
    "wareq-sz": ("wareq_sz_kb", 1.0),
    "dareq-sz": ("dareq_sz_kb", 1.0),
    "avgrq-sz": ("avgrq_sz_sectors", 1.0),
    "aqu-sz": ("aqu_sz", 1.0),
    "avgqu-sz": ("aqu_sz", 1.0),
    "svctm": ("svctm_ms", 1.0),
    "%util": ("util_pct", 1.0),
    "tps": ("tps", 1.0),
    "kB_read/s": ("kb_read_s", 1.0),
    "kB_wrtn/s": ("kb_wrtn_s", 1.0),
    "kB_dscd/s": ("kb_dscd_s", 1.0),
    "MB_read/s": ("kb_read_s", 1024.0),
    "MB_wrtn/s": ("kb_wrtn_s", 1024.0),
    "MB_dscd/s": ("kb_dscd_s", 1024.0),
    "Blk_read/s": ("kb_read_s", 0.5),
    "Blk_wrtn/s": ("kb_wrtn_s", 0.5),
    "Blk_dscd/s": ("kb_dscd_s", 0.5),
    "kB_read": ("kb_read", 1.0),
    "kB_wrtn": ("kb_wrtn", 1.0),
    "kB_dscd": ("kb_dscd", 1.0),
    "MB_read": ("kb_read", 1024.0),
    "MB_wrtn": ("kb_wrtn", 1024.0),
    "MB_dscd": ("kb_dscd", 1024.0),
    "Blk_read": ("kb_read", 0.5),
    "Blk_wrtn": ("kb_wrtn", 0.5),
    "Blk_dscd": ("kb_dscd", 0.5),
}

_METRICS: tuple[tuple[str, str, str | None], ...] = (
    ("r_s", "Read requests completed per second (r/s).", "1/s"),
    ("w_s", "Write requests completed per second (w/s).", "1/s"),
    ("d_s", "Discard requests per second (d/s, sysstat >= 12.1).", "1/s"),
    ("f_s", "Flush requests per second (f/s, sysstat >= 12.1).", "1/s"),
    ("rkb_s", "kB read per second (rkB/s; rMB/s x 1024; rsec/s / 2).", "kB/s"),
    ("wkb_s", "kB written per second (wkB/s; wMB/s x 1024; wsec/s / 2).", "kB/s"),
    ("dkb_s", "kB discarded per second (dkB/s; dMB/s x 1024).", "kB/s"),
    ("rrqm_s", "Read requests merged per second (rrqm/s).", "1/s"),
    ("wrqm_s", "Write requests merged per second (wrqm/s).", "1/s"),
    ("drqm_s", "Discard requests merged per second (drqm/s).", "1/s"),
    ("rrqm_pct", "Share of read requests merged (%rrqm).", "%"),
    ("wrqm_pct", "Share of write requests merged (%wrqm).", "%"),
    ("drqm_pct", "Share of discard requests merged (%drqm).", "%"),
    ("r_await_ms", "Mean time of a read request, queue + service (r_await).", "ms"),
    ("w_await_ms", "Mean time of a write request, queue + service (w_await).", "ms"),
    ("d_await_ms", "Mean time of a discard request (d_await).", "ms"),
    ("f_await_ms", "Mean time of a flush request (f_await).", "ms"),
    ("await_ms", "Mean time of any request (await; sysstat <= 11 only).", "ms"),
    ("rareq_sz_kb", "Mean size of a read request (rareq-sz).", "kB"),
    ("wareq_sz_kb", "Mean size of a write request (wareq-sz).", "kB"),
    ("dareq_sz_kb", "Mean size of a discard request (dareq-sz).", "kB"),
    ("avgrq_sz_sectors", "Mean request size (avgrq-sz; sysstat <= 11).", "sectors"),
    ("aqu_sz", "Mean queue length of requests (aqu-sz; avgqu-sz before 12).", None),
    ("svctm_ms", "Mean service time (svctm; sysstat <= 11, unreliable).", "ms"),
    ("util_pct", "Share of time the device had requests in flight (%util).", "%"),
    ("tps", "Transfers per second (iostat without -x).", "1/s"),
    ("kb_read_s", "kB read per second without -x (kB_read/s, MB x 1024, Blk / 2).", "kB/s"),
    ("kb_wrtn_s", "kB written per second without -x (kB_wrtn/s, MB x 1024, Blk / 2).", "kB/s"),
    ("kb_dscd_s", "kB discarded per second without -x (kB_dscd/s).", "kB/s"),
    ("kb_read", "kB read in the interval (since boot in report 0) without -x.", "kB"),
    ("kb_wrtn", "kB written in the interval (since boot in report 0) without -x.", "kB"),
    ("kb_dscd", "kB discarded in the interval (since boot in report 0) without -x.", "kB"),
)
DEVICE_METRICS: tuple[str, ...] = tuple(name for name, _, _ in _METRICS)

IOSTAT_DEVICES = TableSpec(
    "iostat_devices",
    "One row per device per iostat report; a column is null when that iostat version or "
    "mode did not print it.",
    (
        _INPUT,
        _RUN,
        _REPORT,
        Column("line_no", pa.int64(), "Line of the device row."),
        _TS,
        _TS_KNOWN,
        _TIME_TEXT,
        Column("host", pa.string(), "Host name from the run's banner."),
        Column("device", pa.string(), "Device name as printed (sda, nvme0n1p2, dm-0)."),
        *(Column(name, pa.float64(), doc, unit) for name, doc, unit in _METRICS),
        _EXTRA,
    ),
)

CPU_FIELDS: dict[str, str] = {
    "%user": "user_pct",
    "%nice": "nice_pct",
    "%system": "system_pct",
    "%iowait": "iowait_pct",
    "%steal": "steal_pct",
    "%idle": "idle_pct",
}

IOSTAT_CPU = TableSpec(
    "iostat_cpu",
    "One row per avg-cpu block: the share of CPU time, averaged over all CPUs.",
    (
        _INPUT,
        _RUN,
        _REPORT,
        Column("line_no", pa.int64(), "Line of the values."),
        _TS,
        _TS_KNOWN,
        _TIME_TEXT,
        Column("host", pa.string(), "Host name from the run's banner."),
        Column("user_pct", pa.float64(), "%user: user code (without nice).", "%"),
        Column("nice_pct", pa.float64(), "%nice: user code at a nice priority.", "%"),
        Column("system_pct", pa.float64(), "%system: kernel code.", "%"),
        Column(
            "iowait_pct",
            pa.float64(),
            "%iowait: idle while some task waited for disk I/O.",
            "%",
        ),
        Column("steal_pct", pa.float64(), "%steal: taken by the hypervisor for others.", "%"),
        Column("idle_pct", pa.float64(), "%idle: idle without I/O waiting.", "%"),
        _EXTRA,
    ),
)

SPECS: tuple[TableSpec, ...] = (IOSTAT_DEVICES, IOSTAT_CPU)


def parse_line(text: str) -> IostatRecord | Unparsed:
    """The record of one line: the fast scanner, else the grammar."""
    record = scan_line(text)
    return record if record is not None else iostat_lark.parse_line(text)


def sniff(head: bytes) -> float:
    """How much the first lines look like `iostat` output (0..1).

    The fraction of the first non-blank lines that parse, counted only when they hold an
    ``avg-cpu:`` or ``Device`` header (numbers alone are not enough: `seq` is numbers).
    """
    text = head.decode("utf-8", errors="replace")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if len(head) >= 4096 and len(lines) > 1:
        lines.pop()  # the last line may be cut
    lines = [line for line in lines if line.strip()][:SNIFF_LINES]
    if not lines:
        return 0.0
    records = [parse_line(line) for line in lines]
    kinds = {record.kind for record in records if isinstance(record, IostatRecord)}
    if not kinds & {"cpu_header", "device_header"}:
        return 0.0
    parsed = sum(1 for record in records if isinstance(record, IostatRecord))
    return parsed / len(lines)


@dataclass
class _State:
    run: int = -1
    report: int = -1
    ts: float | None = None
    utc_offset_known: bool | None = None
    time_text: str | None = None
    host: str | None = None
    cpu_columns: tuple[str, ...] | None = None
    device_columns: tuple[str, ...] | None = None
    report_has_devices: bool = False
    report_has_cpu: bool = False
    timed: bool = False


class _Assembler:
    def __init__(self, input_name: str) -> None:
        self.input_name = input_name
        self.devices: dict[str, list[Any]] = {name: [] for name in IOSTAT_DEVICES.names}
        self.cpu: dict[str, list[Any]] = {name: [] for name in IOSTAT_CPU.names}
        self.rejected: list[tuple[int, str, str]] = []
        self.banners: list[IostatRecord] = []
        self.state = _State()

    def _new_report(self) -> None:
        state = self.state
        if state.run < 0:
            state.run = 0
        state.report += 1
        state.report_has_devices = state.report_has_cpu = False

    def add(self, line_no: int, text: str, record: IostatRecord | Unparsed) -> None:
        if not record_fits(record):
            record = Unparsed(WIDE_NUMBER)
        if isinstance(record, Unparsed):
            self.rejected.append((line_no, text, record.reason))
            return
        state = self.state
        kind = record.kind
        if kind == "banner":
            self.banners.append(record)
            self.state = _State(run=state.run + 1, host=record.host)
        elif kind == "time":
            self._new_report()
            state.timed = True
            state.ts, state.utc_offset_known = record.ts, record.utc_offset_known
            state.time_text = record.time_text
        elif kind == "cpu_header":
            if state.report < 0 or not state.timed or state.report_has_cpu:
                self._new_report()
            state.report_has_cpu = True
            state.cpu_columns = record.columns
        elif kind == "device_header":
            if state.report < 0 or state.report_has_devices:
                self._new_report()
            state.report_has_devices = True
            state.device_columns = record.columns
        elif kind == "values":
            self._cpu_row(line_no, text, record)
        elif kind == "device":
            self._device_row(line_no, text, record)

    def _common(self, table: dict[str, list[Any]], line_no: int) -> None:
        state = self.state
        table["input"].append(self.input_name)
        table["run"].append(max(state.run, 0))
        table["report"].append(state.report)
        table["line_no"].append(line_no)
        table["ts"].append(state.ts)
        table["utc_offset_known"].append(state.utc_offset_known)
        table["time_text"].append(state.time_text)
        table["host"].append(state.host)

    def _cpu_row(self, line_no: int, text: str, record: IostatRecord) -> None:
        columns = self.state.cpu_columns
        values = record.values or ()
        if columns is None:
            self.rejected.append((line_no, text, "numbers before any avg-cpu: header"))
            return
        if len(values) != len(columns):
            reason = f"{len(values)} values under an avg-cpu: header of {len(columns)} columns"
            self.rejected.append((line_no, text, reason))
            return
        self._common(self.cpu, line_no)
        extra: list[tuple[str, float]] = []
        row = dict.fromkeys(CPU_FIELDS.values())
        for name, value in zip(columns, values, strict=True):
            field = CPU_FIELDS.get(name)
            if field is None or row[field] is not None:
                extra.append((name, value))
            else:
                row[field] = value
        for field, cell in row.items():
            self.cpu[field].append(cell)
        self.cpu["extra"].append(extra or None)

    def _device_row(self, line_no: int, text: str, record: IostatRecord) -> None:
        columns = self.state.device_columns
        values = record.values or ()
        if columns is None:
            self.rejected.append((line_no, text, "device row before any Device header"))
            return
        if len(values) != len(columns):
            reason = f"{len(values)} values under a Device header of {len(columns)} columns"
            self.rejected.append((line_no, text, reason))
            return
        self._common(self.devices, line_no)
        self.devices["device"].append(record.device)
        row: dict[str, float | None] = dict.fromkeys(DEVICE_METRICS)
        extra: list[tuple[str, float]] = []
        for name, value in zip(columns, values, strict=True):
            target = DEVICE_FIELDS.get(name)
            if target is None or row[target[0]] is not None:
                extra.append((name, value))
            else:
                row[target[0]] = value * target[1] if target[1] != 1.0 else value
        for field, cell in row.items():
            self.devices[field].append(cell)
        self.devices["extra"].append(extra or None)


@dataclass(frozen=True)
class ParsedIostat:
    """What parsing one `iostat` input produced."""

    tables: dict[str, pa.Table]
    unparsed: pa.Table
    line_count: int
    non_utf8_lines: int
    banners: tuple[IostatRecord, ...]
    """The banner line of each run, in order (kernel, host, date, arch, CPUs)."""


def parse(
    chunks: Iterable[LineChunk], input_name: str, *, engine: str = "fast", threads: int = 1
) -> ParsedIostat:
    """Parse every line of one input. ``engine`` is ``fast`` (scanner, grammar when it
    declines) or ``lark`` (the grammar on every line)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    read = parse_line if engine == "fast" else iostat_lark.parse_line
    assembler = _Assembler(input_name)
    line_count = 0
    non_utf8 = 0
    for chunk in chunks:
        line_count += chunk.line_count
        non_utf8 += chunk.non_utf8_lines
        line_no = chunk.first_line_no
        for text in chunk.lines.to_pylist():
            assembler.add(line_no, text, read(text))
            line_no += 1
    tables = {
        IOSTAT_DEVICES.name: pa.table(assembler.devices, schema=IOSTAT_DEVICES.schema),
        IOSTAT_CPU.name: pa.table(assembler.cpu, schema=IOSTAT_CPU.schema),
    }
    return ParsedIostat(
        tables,
        unparsed_table(input_name, assembler.rejected),
        line_count,
        non_utf8,
        tuple(assembler.banners),
    )


def input_report(parsed: ParsedIostat) -> dict[str, Any]:
    """The iostat keys of an `inputs[]` entry: runs, reports, devices, the host and span."""
    devices = parsed.tables[IOSTAT_DEVICES.name]
    cpu = parsed.tables[IOSTAT_CPU.name]
    stamps = [ts for ts in devices["ts"].to_pylist() + cpu["ts"].to_pylist() if ts is not None]
    reports = {
        (run, report)
        for table in (devices, cpu)
        for run, report in zip(table["run"].to_pylist(), table["report"].to_pylist(), strict=True)
    }
    return {
        "parsed_lines": parsed.line_count - parsed.unparsed.num_rows,
        "runs": len(parsed.banners),
        "reports": len(reports),
        "devices": sorted(set(devices["device"].to_pylist())),
        "hosts": sorted({banner.host for banner in parsed.banners if banner.host}),
        "kernel": parsed.banners[0].kernel if parsed.banners else None,
        "first_ts": min(stamps) if stamps else None,
        "last_ts": max(stamps) if stamps else None,
    }
