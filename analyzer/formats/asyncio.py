"""The asyncio log input: application logs carrying asyncio's debug-mode messages.

Detection (`sniff`), and whole inputs: `parse` reads the chunks of one input into the
`loop_events` and `tasks_snapshot` tables plus counts (`ParsedLog`, `input_report`). The
lines are read by the other asyncio modules:

- `asyncio_record`: the records (`Line`, `AsyncioRecord`, `TaskSnapshot`) and their field
  rules;
- `asyncio_lark`: `parse_line`, the reference parser of one line, built from
  `grammars/asyncio.lark` (envelope, message, continuation, aiomonitor console output);
- `asyncio_scan`: the fast paths proven equal to it, the line parser `parse_line_fast` and
  the marker pre-filter (`candidate_lines`, `candidate_mask`);
- `asyncio_assemble`: the `Assembler` that joins the lines into multi-line records (and JSON
  lines, and aiomonitor dumps into snapshot rows);
- `asyncio_bulk`: the commonest shapes read a chunk at a time (one-line ``Executing <Task
  ...> took N seconds`` records straight into Arrow columns, the exception handler's
  ``future: <...>`` lines into `Line` values), proven equal to the grammar as well.

Two engines share the assembler. ``engine="lark"`` feeds every line, parsed by the grammar.
``engine="fast"`` feeds only the lines that contain a marker (`asyncio_scan.MARKERS`: phrases
every line that starts an asyncio record or an aiomonitor dump contains) and the lines that
follow an open record; every other line is an application line without being looked at. The
markers are searched in the raw bytes of each chunk (`candidate_lines`), so no line objects
exist for the other lines, and the fed lines are parsed by `parse_line_fast` (as
`parse_line_lazy`, which leaves the reason of a line it does not read to be worked out only
when the line looks like asyncio's and becomes an `unparsed` row), except the lines
`asyncio_bulk` read (a one-line record closes what is open: `Assembler.boundary`). So the
engines agree whenever every start line contains a marker and `parse_line_fast` and the
bulk readers agree with `parse_line`; tests check them on the fixtures and on generated
lines.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from analyzer import store
from analyzer.formats.asyncio_assemble import Assembler
from analyzer.formats.asyncio_bulk import BulkRecords, BulkRows, bulk_table, key_lines, slow_rows
from analyzer.formats.asyncio_bulk_traceback import ContinuationKinds, traceback_rows
from analyzer.formats.asyncio_lark import parse_line
from analyzer.formats.asyncio_record import AsyncioRecord, Line, TaskSnapshot
from analyzer.formats.asyncio_record import Unparsed as AsyncioUnparsed
from analyzer.formats.asyncio_scan import (
    CachedReader,
    candidate_lines,
    candidate_mask,
    parse_line_lazy,
)
from analyzer.inputs import LineChunk
from analyzer.schema import LOOP_EVENTS, TASKS_SNAPSHOT, unparsed_table

__all__ = [
    "NAME",
    "SNIFF_LINES",
    "ParsedLog",
    "input_report",
    "parse",
    "records_to_table",
    "snapshots_to_table",
    "sniff",
    "table_to_records",
    "table_to_snapshots",
]

NAME = "asyncio"

SNIFF_LINES = 200


def sniff(head: bytes) -> float:
    """How much the first lines look like a log with asyncio messages (0..1).

    An application log is mostly other lines, so one recognised asyncio record (or one
    aiomonitor dump) is already good evidence: the score is 0.5 for one and grows with the
    share of the lines they span.
    """
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()[:SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]
    if not lines:
        return 0.0
    assembler = Assembler(parse_line_lazy)
    for number, line in enumerate(lines, 1):
        assembler.feed(number, line)
    assembler.finish()
    strong = [r for r in assembler.records if r.kind != "other" or r.logger is not None]
    if not strong and not assembler.snapshots:
        return _envelope_only_score(lines)
    known = assembler.record_lines + assembler.snapshot_lines
    return min(1.0, 0.5 + 0.5 * known / len(lines))


ENVELOPE_ONLY_CONFIDENCE = 0.35
"""The score of a head of Python logging lines without an asyncio record yet: asyncio logs
its slow callbacks among the application's lines, often only after thousands of them (one
record in 1,000 lines is common), so such a log is read as this source (its report counts the
application lines and the records, if any), above `sources.MIN_CONFIDENCE` but below any
source that recognises its own records."""

ENVELOPE_ONLY_SHARE = 0.8
"""The share of the head's lines that must carry a logging envelope with a level and a
logger name for `ENVELOPE_ONLY_CONFIDENCE`."""


def _envelope_only_score(lines: list[str]) -> float:
    """`ENVELOPE_ONLY_CONFIDENCE` when most non-blank lines are Python logging lines (time,
    level and logger of a recognised envelope), else 0."""
    texts = [line for line in lines if line.strip()]
    if not texts:
        return 0.0
    enveloped = 0
    for text in texts:
        envelope = getattr(parse_line_lazy(text), "envelope", None)
        if envelope and envelope.get("level") and envelope.get("logger"):
            enveloped += 1
    return ENVELOPE_ONLY_CONFIDENCE if enveloped >= ENVELOPE_ONLY_SHARE * len(texts) else 0.0


@dataclass(frozen=True)
class ParsedLog:
    """What parsing one input produced: the tables and the line counts.

    ``line_count == record_lines + snapshot_lines + application_lines + unparsed rows``.
    """

    loop_events: pa.Table
    unparsed: pa.Table
    line_count: int
    record_count: int
    record_lines: int
    application_lines: int
    non_utf8_lines: int
    tasks_snapshot: pa.Table
    """aiomonitor ``ps`` / ``where`` dumps (`TASKS_SNAPSHOT`); empty when there are none."""
    snapshot_lines: int = 0


def records_to_table(records: Iterable[AsyncioRecord], input_name: str) -> pa.Table:
    """Records as a `loop_events` table."""
    rows = list(records)
    columns: dict[str, Any] = {"input": [input_name] * len(rows)}
    values = zip(*rows, strict=True) if rows else ([] for _ in AsyncioRecord._fields)
    columns.update(zip(AsyncioRecord._fields, values, strict=True))
    return pa.table(columns, schema=LOOP_EVENTS.schema)


def snapshots_to_table(rows: Iterable[TaskSnapshot], input_name: str) -> pa.Table:
    """Snapshot rows as a `tasks_snapshot` table."""
    items = list(rows)
    columns: dict[str, list[Any]] = {"input": [input_name] * len(items)}
    for index, name in enumerate(TaskSnapshot._fields):
        columns[name] = [row[index] for row in items]
    return pa.table(columns, schema=TASKS_SNAPSHOT.schema)


def table_to_snapshots(table: pa.Table) -> list[TaskSnapshot]:
    """The inverse of `snapshots_to_table`, for comparing engines."""
    data = table.to_pydict()
    return [
        TaskSnapshot(*(data[name][row] for name in TaskSnapshot._fields))
        for row in range(table.num_rows)
    ]


def table_to_records(table: pa.Table) -> list[AsyncioRecord]:
    """The inverse of `records_to_table`, for comparing engines."""
    data = table.to_pydict()
    return [
        AsyncioRecord(*(data[name][row] for name in AsyncioRecord._fields))
        for row in range(table.num_rows)
    ]


def _feed_chunk(assembler: Assembler, chunk: LineChunk, mask: np.ndarray | None) -> None:
    """Feed a chunk's lines: all of them (no mask), or the masked ones and the lines after
    them while the assembler wants them."""
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


def _decode(raw: bytes | bytearray) -> str:
    """One line as `LineChunk.lines` holds it: UTF-8 (bad bytes as ``\\xNN``), CR trimmed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="backslashreplace")
    return text.rstrip("\r") if text.endswith("\r") else text


def _feed_block(
    assembler: Assembler,
    chunk: LineChunk,
    hits: tuple[list[int], list[int]],
    bulk: np.ndarray | None = None,
) -> None:
    """Feed the candidate lines of a chunk (`candidate_lines`) and the lines after them
    while the assembler wants them, reading each from the raw block. The lines of `bulk`
    (ascending line indexes: lines read by `asyncio_bulk`, left out of `hits`) are not fed:
    where the assembler wants one, it gets `Assembler.boundary` instead."""
    block = chunk.block
    assert block is not None
    offsets, indexes = hits
    first = chunk.first_line_no
    size = len(block)
    position = index = 0
    next_hit = 0
    bulk_lines = frozenset(bulk.tolist()) if bulk is not None and len(bulk) else frozenset()
    while True:
        if not assembler.wants_next:
            while next_hit < len(offsets) and offsets[next_hit] < position:
                next_hit += 1
            if next_hit == len(offsets):
                return
            position, index = offsets[next_hit], indexes[next_hit]
            next_hit += 1
        elif index in bulk_lines:
            assembler.boundary()
            continue
        end = block.find(b"\n", position)
        if end < 0:
            end = size
        assembler.feed(first + index, _decode(block[position:end]))
        if end >= size:
            return
        position, index = end + 1, index + 1


_DONE = object()
_T = TypeVar("_T")


def _ahead(
    chunks: Iterator[LineChunk],
    prepare: Callable[[LineChunk], _T],
    threads: int,
) -> Iterator[_T]:
    """`prepare` of each chunk, in input order. With `threads` >= 2 a reader thread pulls the
    chunks (reading and decompressing the input) and hands each to a pool of `threads`
    workers, up to `threads` + 1 chunks ahead of the caller, so the calling thread only
    feeds the assembler; errors of the reader are raised here. With 1, all in this thread.
    """
    if threads <= 1:
        for chunk in chunks:
            yield prepare(chunk)
        return
    ready: queue.Queue[Any] = queue.Queue(maxsize=threads + 1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not put(pool.submit(prepare, chunk)):
                    return
        except BaseException as error:  # handed to the calling thread
            put(error)
            return
        put(_DONE)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        reader = threading.Thread(target=read, name="asyncio-log-reader", daemon=True)
        reader.start()
        try:
            while (item := ready.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item.result()
        finally:
            stop.set()
            reader.join()


_TOOK = re.compile(r"^Executing .* took (?P<value>\S+) seconds$", re.DOTALL)
_PRINTED_TOOK = re.compile(r"\d{1,10}(?:\.\d+)?")
"""What asyncio prints (``%.3f``) for a plausible time; `-1`, `nan`, `inf`, `1e308` are not."""
IMPOSSIBLE_TOOK = "a 'took' value that is no number of seconds asyncio prints"


def _reject_impossible_took(assembler: Assembler) -> None:
    """Turn `Executing ... took X seconds` records whose X asyncio never prints into
    unparsed lines (they read as inf and nan durations, or as other messages)."""
    kept = []
    for record in assembler.records:
        match = _TOOK.match(record.message or "") if record.kind in _TOOK_KINDS else None
        if match is None or _PRINTED_TOOK.fullmatch(match["value"]):
            kept.append(record)
            continue
        lines = record.line_end - record.line_start + 1
        assembler.record_lines -= lines
        text = (record.text or record.message or "").split("\n", 1)[0]
        assembler.unparsed.append(AsyncioUnparsed(record.line_start, text, IMPOSSIBLE_TOOK))
    assembler.records[:] = kept


_TOOK_KINDS = frozenset({"slow_callback", "other"})


def _drain(assembler: Assembler, input_name: str, bulk: BulkRecords | None) -> pa.Table:
    """The records the assembler has closed (taken out of it) and the chunk's bulk records,
    as one table in line order. A record still open started after every bulk line fed so
    far (a bulk line closes it), so the tables of successive chunks follow each other."""
    _reject_impossible_took(assembler)
    table = records_to_table(assembler.records, input_name)
    assembler.records.clear()
    if bulk is None or not len(bulk.indexes):
        return table
    if table.num_rows == 0:
        return bulk.table
    return _in_line_order(table, bulk.table)


def _in_line_order(first: pa.Table, second: pa.Table) -> pa.Table:
    """The rows of two tables, each in line order, as one table in line order."""
    if second.num_rows == 0:
        return first
    if first.num_rows == 0:
        return second
    both = pa.concat_tables([first, second]).combine_chunks()  # (take on 2 chunks: 7x)
    return both.take(np.argsort(both["line_start"].to_numpy(), kind="stable"))


TRACEBACK_BULK_LINES = 100
"""Candidate lines a chunk must have left after the one-line records for `traceback_rows` to
read its never-retrieved records: below, the assembler reads them for less than that bulk
path's fixed cost per chunk (~1.5 ms; ~15 us a record in the assembler)."""


SPILL_BYTES = 768 << 20
"""The `loop_events` of one log held in memory at most during a run: beyond it they are
written to an Arrow IPC file in the run's work directory (`store.CURRENT`), which the parse
returns mapped (`store.map_table`), so a log of millions of asyncio records (~1 KiB each,
most of it their texts) is read in bounded memory. A log whose records fit, or a parse
outside a run, keeps them in memory."""


class _Collected:
    """The `loop_events` tables of one parse, in line order: in memory up to
    `SPILL_BYTES`, then in a file of the work directory."""

    def __init__(self, input_name: str) -> None:
        self.input_name = input_name
        self.limit = SPILL_BYTES
        self.tables: list[pa.Table] = []
        self.held = 0
        self.rows = 0
        self.path: Path | None = None
        self.writer: pa.ipc.RecordBatchFileWriter | None = None

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if self.writer is not None:
            self.writer.write_table(table)
            return
        self.tables.append(table)
        self.held += table.nbytes
        directory = store.CURRENT.get()
        if self.held > self.limit and directory is not None:
            name = Path(self.input_name).name or "stdin"
            self.path = directory.folder(name) / "loop_events.arrow"
            self.writer = pa.ipc.new_file(str(self.path), LOOP_EVENTS.schema)
            for held in self.tables:
                self.writer.write_table(held)
            self.tables, self.held = [], 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def table(self) -> pa.Table:
        """All of them, as one table (the file mapped, when they were written to one)."""
        if self.path is not None:
            self.close()
            return store.map_table(self.path)
        if not self.tables:
            return LOOP_EVENTS.schema.empty_table()
        return pa.concat_tables(self.tables)


def parse(
    chunks: Iterator[LineChunk],
    input_name: str,
    engine: str = "fast",
    threads: int = 2,
    on_chunk: Callable[[LineChunk], None] | None = None,
) -> ParsedLog:
    """Parse one input. ``engine`` is ``fast`` (marker pre-filter on the bytes, the commonest
    record shape read a chunk at a time by `asyncio_bulk`, the other candidate lines by
    `parse_line_fast`) or ``lark`` (the grammar on every line). With ``threads`` >= 2 the
    input is read, pre-filtered and bulk-read ahead in other threads (`_ahead`; reading, RE2
    and numpy release the GIL); assembly is sequential, so records may span chunks. The
    records are made into Arrow tables chunk by chunk, so no Python object per record
    outlives its chunk, and the tables go to a file beyond `SPILL_BYTES` (`_Collected`)."""
    if engine not in ("fast", "lark"):
        raise ValueError(f"unknown engine {engine!r}")
    reader = CachedReader()
    kinds = ContinuationKinds()
    assembler = Assembler(reader if engine == "fast" else parse_line)
    line_count = 0
    non_utf8 = 0
    collected = _Collected(input_name)

    def prepare(
        chunk: LineChunk,
    ) -> tuple[LineChunk, Any, BulkRecords | None, dict[str, Line], int]:
        if engine == "lark":
            return chunk, None, None, {}, 0
        if chunk.block is None:
            return chunk, candidate_mask(chunk.lines), None, {}, 0
        newlines = np.flatnonzero(np.frombuffer(chunk.block, dtype=np.uint8) == 10)
        hits = candidate_lines(chunk.block, newlines)
        if chunk.non_utf8_lines:  # (checks the UTF-8 here, off the feeding thread)
            return chunk, hits, None, {}, 0
        slow = slow_rows(chunk.block, hits, chunk.first_line_no, newlines)
        offsets = np.asarray(hits[0], dtype=np.int64)
        indexes = np.asarray(hits[1], dtype=np.int64)
        if len(slow.indexes):
            rest = ~np.isin(indexes, slow.indexes, assume_unique=True)
            offsets, indexes = offsets[rest], indexes[rest]
        records, covered = BulkRows.empty(chunk.block), np.zeros(0, dtype=np.int64)
        if len(indexes) >= TRACEBACK_BULK_LINES and b"\r" not in chunk.block:
            records, covered = traceback_rows(
                chunk.block, newlines, indexes.tolist(), chunk.first_line_no, kinds
            )
        if len(records.indexes):
            rest = ~np.isin(indexes, covered, assume_unique=True)
            offsets, indexes = offsets[rest], indexes[rest]
        bulk = BulkRecords(
            np.union1d(slow.indexes, records.indexes), bulk_table([slow, records], input_name)
        )
        keys = key_lines(chunk.block, newlines, covered)
        lines = len(slow.indexes) + len(covered)
        return chunk, (offsets.tolist(), indexes.tolist()), bulk, keys, lines

    try:
        for chunk, found, bulk, keys, bulk_lines in _ahead(chunks, prepare, threads):
            reader.known = keys
            line_count += chunk.line_count
            non_utf8 += chunk.non_utf8_lines
            if on_chunk is not None:
                on_chunk(chunk)
            if isinstance(found, tuple):
                _feed_block(assembler, chunk, found, bulk.indexes if bulk is not None else None)
            else:
                _feed_chunk(assembler, chunk, found)
            assembler.record_lines += bulk_lines
            table = _drain(assembler, input_name, bulk)
            if table.num_rows:
                collected.add(table)
        assembler.finish()
        table = _drain(assembler, input_name, None)
        if table.num_rows:
            collected.add(table)
        loop_events = collected.table()
    finally:
        collected.close()
    unparsed = unparsed_table(
        input_name,
        sorted(
            ((item.line_no, item.text, item.reason) for item in assembler.unparsed),
            key=lambda row: row[0],
        ),
    )
    return ParsedLog(
        loop_events=loop_events,
        unparsed=unparsed,
        line_count=line_count,
        record_count=collected.rows,
        record_lines=assembler.record_lines,
        application_lines=line_count
        - assembler.record_lines
        - assembler.snapshot_lines
        - len(assembler.unparsed),
        non_utf8_lines=non_utf8,
        tasks_snapshot=snapshots_to_table(assembler.snapshots, input_name),
        snapshot_lines=assembler.snapshot_lines,
    )


def input_report(parsed: ParsedLog) -> dict[str, Any]:
    """The asyncio keys of an `inputs[]` entry: asyncio records, their lines (and the lines
    of aiomonitor dumps), the other lines (application lines count as parsed: they were
    read and are not asyncio's)."""
    asyncio_lines = parsed.record_lines + parsed.snapshot_lines
    return {
        "parsed_lines": asyncio_lines + parsed.application_lines,
        "asyncio_records": parsed.record_count,
        "asyncio_lines": asyncio_lines,
        "application_lines": parsed.application_lines,
    }
