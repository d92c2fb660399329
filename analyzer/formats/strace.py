"""The strace input format: detection, and lines -> the `strace_lines` and `unparsed` tables.

The fast scanner (`strace_scan`) reads the call lines chunk by chunk, in parallel threads;
whatever it leaves is parsed line by line (`strace_mend`): exit, signal, ``strace:`` and frame
lines by `strace_events`, the others with the grammar (`strace_lark`), and what the grammar
rejects is kept, with its reason, in the `unparsed` table. With ``engine="lark"``
every line goes through the grammar: slow, but the reference the fast path is tested against.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.formats.strace_bytes import simple_mask
from analyzer.formats.strace_clock import trace_clock_ns
from analyzer.formats.strace_glued import REASON as GLUED
from analyzer.formats.strace_glued import glued_rows, is_glued
from analyzer.formats.strace_mend import parse_lines
from analyzer.formats.strace_output import output_lines, split_digit_output
from analyzer.formats.strace_record import StraceRecord, Unparsed
from analyzer.formats.strace_scan import merge_by_line, scan_marking_glued
from analyzer.formats.wide_numbers import REASON as WIDE_NUMBER
from analyzer.formats.wide_numbers import all_fit, suspect_lines
from analyzer.inputs import LineChunk
from analyzer.lazy import lazy_module
from analyzer.schema import STRACE_LINES, unparsed_table

if TYPE_CHECKING:
    from analyzer.formats import strace_lark
else:
    strace_lark = lazy_module("analyzer.formats.strace_lark")

NAME = "strace"

SNIFF_LINES = 50


def sniff(head: bytes) -> float:
    """How much the first lines look like strace output (fraction of lines, 0..1)."""
    lines = head.decode("utf-8", errors="replace").splitlines()[:SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return 0.0
    # A line the scanner reads is one the grammar parses (the tiers are tested equal), so only
    # the lines it leaves are given to the grammar.
    _, leftover, _ = _scan(
        pa.array(lines, pa.string()), pa.array(np.arange(1, len(lines) + 1), pa.int64())
    )
    left = np.flatnonzero(leftover)
    _, rejected = parse_lines((left + 1).tolist(), [lines[index] for index in left])
    return (len(lines) - len(rejected)) / len(lines)


@dataclass(frozen=True)
class ParsedLines:
    """What parsing one input produced: records, rejected lines and counts."""

    lines: pa.Table
    unparsed: pa.Table
    line_count: int
    non_utf8_lines: int
    stats: LineStats | None = None
    """What the report reads of the lines, when it was gathered window by window (then
    `lines` may be empty: the lines were derived while they were parsed)."""
    trace: Any = None
    """The input's derived trace (`analyzer.derive.strace.StraceTables`) when it was derived
    while it was parsed; None when it is derived later (the files of an -ff set)."""

    @property
    def report_stats(self) -> LineStats:
        """The line statistics of `input_report` and the report's `-c` tables."""
        if self.stats is not None:
            return self.stats
        stats = LineStats()
        stats.add(self.lines, self.clock_ns)
        return stats

    @cached_property
    def clock_ns(self) -> np.ndarray:
        """Each line's time on the trace clock (`trace_clock_ns`), computed once for the
        derivations and the report; read-only."""
        clock = trace_clock_ns(self.lines["ts_ns"], self.lines["ts_kind"])
        clock.setflags(write=False)
        return clock

    def for_report(self) -> ParsedLines:
        """The same, with only the columns of `lines` that the report reads (`input_report`
        and the `-c` table lines), so the others' memory can be freed once the calls are
        derived."""
        if self.stats is not None:
            return self
        clock = self.clock_ns
        slim = dataclasses.replace(self, lines=self.lines.select(list(REPORT_COLUMNS)))
        slim.__dict__["clock_ns"] = clock  # the same rows: the cached clock stays right
        return slim


REPORT_COLUMNS = ("kind", "ts_kind", "duration_ns", "text")
"""The columns of `ParsedLines.lines` read after the derivation."""


def records_to_table(records: Iterable[tuple[int, StraceRecord]]) -> pa.Table:
    """Records from the grammar parser (with their line numbers) as a `strace_lines` table."""
    rows = list(records)
    columns: dict[str, list[object]] = {"line_no": [line_no for line_no, _ in rows]}
    for index, name in enumerate(StraceRecord._fields):
        columns[name] = [record[index] for _, record in rows]
    return pa.table(columns, schema=STRACE_LINES.schema)


def table_to_records(table: pa.Table) -> list[tuple[int, StraceRecord]]:
    """The inverse of `records_to_table`, for comparing parsers."""
    data = table.to_pydict()
    return [
        (line_no, StraceRecord(*(data[name][row] for name in StraceRecord._fields)))
        for row, line_no in enumerate(data["line_no"])
    ]


READ_AHEAD = 4
"""Chunks (8 MiB of text each) read and parsed ahead of the caller beyond one per worker:
what lets the workers parse while the caller derives a window, at ≈15 MiB of records each
(the chunk itself is freed once parsed)."""

CUT_SHORT = "cut short"
"""`text` of the record made for a last line cut off mid-call (the tracer was killed)."""


def _parse_with_grammar(
    line_numbers: list[int], texts: list[str], *, events: bool = True
) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Grammar-parse lines (`strace_mend.parse_lines`; `events`: exit, signal, `strace:`, frame
    lines by `strace_events`), numbers too wide for int64 unparsed."""
    parsed, rejected = parse_lines(line_numbers, texts, _checked, events=events)
    return records_to_table(parsed), rejected


def _checked(result: StraceRecord | Unparsed) -> StraceRecord | Unparsed:
    """The grammar's record, or unparsed when a number in it overflows its int64 column."""
    if isinstance(result, Unparsed) or all_fit(result):
        return result
    return Unparsed(WIDE_NUMBER)


def _scan(
    lines: pa.StringArray, line_numbers: pa.Int64Array
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """`scan_marking_glued`, leaving to the grammar (and its int64 check) the lines that may
    hold a number wider than 64 bits, which the scanner's casts would reject by raising. The
    lines of the byte tier hold none (`simple_mask`): only the others are looked at."""
    simple = simple_mask(lines)
    suspect = np.zeros(len(lines), dtype=bool)
    if not simple.all():
        suspect[~simple] = suspect_lines(pc.filter(lines, pa.array(~simple, pa.bool_())))
    if not suspect.any():
        return scan_marking_glued(lines, line_numbers, simple)
    keep = pa.array(~suspect, pa.bool_())
    fast, leftover_of_kept, glued = scan_marking_glued(
        pc.filter(lines, keep), pc.filter(line_numbers, keep), simple[~suspect]
    )
    leftover = suspect.copy()
    leftover[~suspect] = leftover_of_kept
    return fast, leftover, glued


def _mend_cut_last_line(
    rejected: list[tuple[int, str, str]], line_count: int
) -> tuple[pa.Table | None, list[tuple[int, str, str]]]:
    """A last line cut mid-call (tracer killed) is the entry half of a call that never ended."""
    if not rejected or rejected[-1][0] != line_count:
        return None, rejected
    line_no, text, _ = rejected[-1]
    record = strace_lark.parse_line(text + " <unfinished ...>")
    if isinstance(record, Unparsed) or record.kind != "unfinished":
        return None, rejected
    return records_to_table([(line_no, record._replace(text=CUT_SHORT))]), rejected[:-1]


def _parse_chunk(chunk: LineChunk, engine: str) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    table, rejected, glued_lines = _parse_records(chunk, engine)
    # The program's output where a write's record shows it (strace_output).
    table = split_digit_output(table)
    outputs, rejected = output_lines(table, rejected)
    if outputs:
        table = merge_by_line(table, records_to_table(outputs))
    # The grammar rejects some glued lines and reads others as one call: both get one reason.
    rejected = [
        (line_no, text, GLUED if is_glued(text) else reason) for line_no, text, reason in rejected
    ]
    # The records of glued lines (`glued_rows`, found when the records were made: the write
    # records changed since, by `split_digit_output`, hold no call's end).
    if len(glued_lines) == 0:
        return table, rejected
    glued = pc.is_in(table["line_no"], pa.array(glued_lines, pa.int64()))
    glued = filled_numpy(glued, False)
    lines = chunk.lines
    for line_no in table["line_no"].filter(pa.array(glued)).to_pylist():
        rejected.append((line_no, lines[line_no - chunk.first_line_no].as_py(), GLUED))
    rejected.sort(key=lambda entry: entry[0])
    return table.filter(pa.array(~glued)), rejected


def _parse_counted(
    chunk: LineChunk, engine: str
) -> tuple[pa.Table, list[tuple[int, str, str]], int]:
    """`_parse_chunk` and the chunk's count of lines that were not UTF-8, so the chunk (its
    bytes and lines) need not be kept once parsed: the records do not refer to them."""
    table, rejected = _parse_chunk(chunk, engine)
    # The split of the lines counted the bad ones: no second pass.
    return table, rejected, chunk.non_utf8_lines


def _parse_records(
    chunk: LineChunk, engine: str
) -> tuple[pa.Table, list[tuple[int, str, str]], np.ndarray]:
    """The chunk's records, its rejected lines and the line numbers of the records that are
    two lines glued together (`strace_glued`)."""
    line_numbers = chunk.line_numbers
    if engine == "lark":
        table, rejected = _parse_with_grammar(
            line_numbers.to_pylist(), chunk.lines.to_pylist(), events=False
        )
        return table, rejected, _glued_lines(table)
    fast, leftover, glued = _scan(chunk.lines, line_numbers)
    if not leftover.any():
        return fast, [], glued
    mask = pa.array(leftover, pa.bool_())
    slow, rejected = _parse_with_grammar(
        pc.filter(line_numbers, mask).to_pylist(), pc.filter(chunk.lines, mask).to_pylist()
    )
    glued = np.concatenate([glued, _glued_lines(slow)])
    return merge_by_line(fast, slow), rejected, glued


def _glued_lines(table: pa.Table) -> np.ndarray:
    """The line numbers of the records of `table` that are two lines glued together."""
    return table["line_no"].to_numpy()[glued_rows(table)]


class WindowedParse:
    """Parse one input window by window: iterate for `strace_lines` tables of at least
    `window_lines` lines each (the last may be shorter), in line order; once exhausted,
    `unparsed`, `line_count` and `non_utf8_lines` hold the whole input's counts.

    Chunks are parsed by `threads` workers while the caller works on the previous window,
    so at most one window and the chunks in flight are held beside the caller's. A last
    line cut off mid-call is mended into the last window (`_mend_cut_last_line`), which is
    why a window is handed out only once the next chunk has been parsed.
    """

    def __init__(
        self,
        chunks: Iterator[LineChunk],
        input_name: str,
        engine: str = "fast",
        threads: int = 2,
        on_chunk: Callable[[LineChunk], None] | None = None,
        window_lines: int | None = None,
    ) -> None:
        self.input_name = input_name
        self.line_count = 0
        self.non_utf8_lines = 0
        self._chunks = chunks
        self._engine = engine
        self._threads = max(1, threads)
        self._on_chunk = on_chunk
        self._window_lines = window_lines
        self._rejected: list[tuple[int, str, str]] = []
        self._unparsed: pa.Table | None = None

    @property
    def unparsed(self) -> pa.Table:
        """The rejected lines (complete once the windows are exhausted)."""
        if self._unparsed is None:
            raise RuntimeError("the windows of this input have not all been read")
        return self._unparsed

    def _parsed_chunks(self) -> Iterator[pa.Table]:
        """Each chunk's records, in order, parsed `threads` at a time.

        The chunks are read and handed to the workers by a thread of their own, up to
        `READ_AHEAD` chunks beyond the workers' ones ahead of the caller: while the caller
        derives a window (a second or more of the main thread's time per million lines), the
        workers go on parsing the next chunks instead of waiting for the caller to ask.
        """
        slots = threading.Semaphore(self._threads + READ_AHEAD)
        ready: queue.SimpleQueue[Future | BaseException | None] = queue.SimpleQueue()
        stop = threading.Event()

        def read(pool: ThreadPoolExecutor) -> None:
            try:
                for chunk in self._chunks:
                    slots.acquire()
                    if stop.is_set():
                        break
                    self.line_count += chunk.line_count
                    if self._on_chunk is not None:
                        self._on_chunk(chunk)
                    ready.put(pool.submit(_parse_counted, chunk, self._engine))
                    del chunk  # held by the worker until parsed, then freed
            except BaseException as error:  # raised again in the caller's thread
                ready.put(error)
            else:
                ready.put(None)

        with ThreadPoolExecutor(max_workers=self._threads) as pool:
            reader = threading.Thread(target=read, args=(pool,), name="strace-reader")
            reader.start()
            try:
                while (item := ready.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    table = self._collect(item)
                    slots.release()
                    yield table
            finally:
                stop.set()
                slots.release()  # a reader waiting for a slot sees `stop`
                reader.join()

    def _collect(self, future: Future) -> pa.Table:
        table, bad, non_utf8_lines = future.result()
        self._rejected.extend(bad)
        self.non_utf8_lines += non_utf8_lines
        return table

    def __iter__(self) -> Iterator[pa.Table]:
        window: list[pa.Table] = []
        size = 0
        for table in self._parsed_chunks():
            if self._window_lines is not None and size >= self._window_lines:
                yield pa.concat_tables(window)
                window, size = [], 0
            window.append(table)
            size += table.num_rows
        mended, self._rejected = _mend_cut_last_line(self._rejected, self.line_count)
        if mended is not None:
            window.append(mended)
        self._unparsed = unparsed_table(self.input_name, self._rejected)
        if window:
            yield pa.concat_tables(window)


def parse(
    chunks: Iterator[LineChunk],
    input_name: str,
    engine: str = "fast",
    threads: int = 2,
    on_chunk: Callable[[LineChunk], None] | None = None,
) -> ParsedLines:
    """Parse every line of one input. ``engine`` is ``fast`` (scanner + grammar) or ``lark``."""
    windows = WindowedParse(chunks, input_name, engine, threads, on_chunk)
    tables = list(windows)
    lines = pa.concat_tables(tables) if tables else STRACE_LINES.schema.empty_table()
    return ParsedLines(lines, windows.unparsed, windows.line_count, windows.non_utf8_lines)


@dataclass
class LineStats:
    """What the report reads of an input's lines, gathered window by window: the counts and
    clock span of `input_report` and the texts of strace's own `-c` table. Adding the windows
    of an input in order gives what one table of all its lines gives."""

    parsed_lines: int = 0
    ts_kinds: list[str] = dataclasses.field(default_factory=list)
    """The timestamp kinds seen, in order of first appearance."""
    first_clock_ns: float = np.nan
    last_clock_ns: float = np.nan
    has_durations: bool = False
    line_kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    """Lines per `kind`, in order of first appearance."""
    summary_lines: list[str] = dataclasses.field(default_factory=list)
    """The texts of the `summary` lines (strace's own `-c`/`-C` table)."""

    def add(self, lines: pa.Table, clock_ns: np.ndarray | None) -> None:
        """Count one window of lines (`clock_ns`: their `trace_clock_ns`; None when the
        caller sets the clock span itself)."""
        self.parsed_lines += lines.num_rows
        for kind in pc.unique(lines["ts_kind"]).to_pylist():
            if kind is not None and kind not in self.ts_kinds:
                self.ts_kinds.append(kind)
        clock = clock_ns[~np.isnan(clock_ns)] if clock_ns is not None else clock_ns
        if clock is not None and len(clock):
            self.first_clock_ns = float(np.fmin(self.first_clock_ns, clock.min()))
            self.last_clock_ns = float(np.fmax(self.last_clock_ns, clock.max()))
        if not self.has_durations:
            self.has_durations = bool(pc.any(pc.is_valid(lines["duration_ns"])).as_py() or False)
        for item in lines["kind"].value_counts().to_pylist():
            self.line_kinds[item["values"]] = (
                self.line_kinds.get(item["values"], 0) + item["counts"]
            )
        if "summary" in self.line_kinds:
            summary = pc.equal(lines["kind"], "summary")
            self.summary_lines += lines["text"].filter(summary).to_pylist()


def input_report(parsed: ParsedLines) -> dict[str, Any]:
    """The strace keys of an `inputs[]` entry: parsed lines, clock, time span, line kinds."""
    stats = parsed.report_stats
    first = stats.first_clock_ns / 1e9 if not np.isnan(stats.first_clock_ns) else None
    last = stats.last_clock_ns / 1e9 if not np.isnan(stats.last_clock_ns) else None
    kinds = stats.ts_kinds
    return {
        "parsed_lines": stats.parsed_lines,
        "clock": kinds[0] if len(kinds) == 1 else ("mixed" if kinds else None),
        "first_ts": first,
        "last_ts": last,
        "wall_s": (last - first) if first is not None and last is not None else None,
        "has_durations": stats.has_durations,
        "line_kinds": dict(stats.line_kinds),
    }
