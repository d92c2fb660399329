"""The `perf script` input format: detection, and lines -> samples, stacks and frames tables.

Each line is read by the fast scanner (`perf_scan`) and, when the scanner declines, by the
grammar (`perf_lark`); with ``engine="lark"`` every line goes through the grammar (the
reference the fast path is tested against). The line records are then assembled in order
into samples (`perf_assemble.Assembler`): a sample header starts a sample, frame lines (and
their ``-F +srcline`` lines) add to its callchain, and a blank line, the next header or the
end of the input ends it. Lines that are not `perf script` output are kept, with their reason,
in the `unparsed` table; so are frame lines that belong to no sample.

The ``fast`` engine reads whole blocks of bytes (`perf_assemble.BlockReader`): a sample whose
callchain was seen before costs one header scan and one dictionary lookup, not a scan per line.
"""

from __future__ import annotations

import os
import stat
from array import array
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.formats.perf_assemble import (
    ENGINES,
    SNIFF_LINES,
    Assembler,
    BlockReader,
    FrameKey,
    gc_paused,
    grammar_line,
    is_sample_header,
    parse_line,
    sniff_lines,
)
from analyzer.formats.perf_collapse import CollapseReader
from analyzer.formats.perf_record import PerfRecord, Unparsed
from analyzer.inputs import LineChunk
from analyzer.schema import (
    PERF_FRAMES,
    PERF_SAMPLES,
    PERF_SIDEBAND,
    PERF_STACKS,
    unparsed_table,
)

__all__ = [
    "ENGINES",
    "NAME",
    "SNIFF_LINES",
    "FoldSource",
    "FrameKey",
    "ParsedPerf",
    "assemble",
    "chunk_bytes",
    "input_report",
    "parse",
    "parse_line",
    "sniff",
]

NAME = "perf"


def sniff(head: bytes) -> float:
    """How much the first lines look like `perf script` output (0..1).

    The fraction of non-blank lines that parse, counted only when at least one of them is a
    real sample header, ``comm pid/tid [cpu] time: event:`` (`is_sample_header`): comment
    blocks alone are not enough, and neither are frames, since any line that starts with a
    hex-looking word reads as an unindented frame (strace's pids, ``seq``, ``cat -n``,
    ``xxd -p``).
    """
    lines = sniff_lines(head)
    if not lines:
        return 0.0
    records = [parse_line(line) for line in lines]
    if not any(is_sample_header(record) for record in records):
        return 0.0
    parsed = sum(1 for record in records if isinstance(record, PerfRecord))
    return parsed / len(lines)


@dataclass(frozen=True)
class FoldSource:
    """A regular file whose folded stacks are read again from the file once the fold
    options are known (`analyzer.derive.perf`), instead of keeping the whole input as
    stackcollapse-perf.pl reads it (`CollapseReader`, which grows with the distinct stacks).
    Its size and modification time when it was parsed tell whether it changed since."""

    path: str
    size: int
    mtime_ns: int

    @staticmethod
    def of(path: str) -> FoldSource | None:
        """The file `path` names, when it is a regular file (not stdin, a pipe, a device)."""
        if path == "-":
            return None
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return FoldSource(path, info.st_size, info.st_mtime_ns)

    def unchanged(self) -> bool:
        """Whether the file still has the size and modification time it was parsed with."""
        return FoldSource.of(self.path) == self


@dataclass(frozen=True)
class ParsedPerf:
    """What parsing one `perf script` input produced."""

    samples: pa.Table
    stacks: pa.Table
    frames: pa.Table
    sideband: pa.Table
    unparsed: pa.Table
    header: tuple[str, ...]
    """The ``#`` comment lines (``--header`` block), in order."""
    line_count: int
    non_utf8_lines: int
    collapsed: CollapseReader = field(default_factory=lambda: CollapseReader().finish())
    """The input as stackcollapse-perf.pl reads it, for the folded stacks
    (`analyzer.derive.perf_fold`); nothing read when `refold` names the file instead."""
    refold: FoldSource | None = None
    """The file to fold again with the run's options, when the input is one."""


def _parse_chunk(chunk: LineChunk) -> list[tuple[str, PerfRecord | Unparsed]]:
    """The grammar's record of every line of a chunk (the ``lark`` engine)."""
    return [(text, grammar_line(text)) for text in chunk.lines.to_pylist()]


def chunk_bytes(chunk: LineChunk) -> bytes:
    """The chunk's lines as UTF-8 bytes joined by ``\\n`` (exactly the text of `chunk.lines`).

    A chunk that keeps its raw block (`LineChunk.block`) gives it as is when the block is
    valid UTF-8 without ``\\r``; otherwise the bytes are rebuilt from the Arrow array's buffers
    (one numpy insert of the newlines).
    """
    block = getattr(chunk, "block", None)
    if block is not None and b"\r" not in block and chunk.non_utf8_lines == 0:
        return bytes(block)
    lines = chunk.lines
    count = len(lines)
    if count == 0:
        return b""
    _, offsets_buffer, data_buffer = lines.buffers()
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=width)[lines.offset : lines.offset + count + 1]
    if data_buffer is None:
        return b"\n" * (count - 1)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return np.insert(data, offsets[1:-1] - offsets[0], 10).tobytes()


class _FrameBatches:
    """An `Assembler.frame_sink`: the frames handed over, as Arrow arrays per column."""

    def __init__(self) -> None:
        self.columns: dict[str, list[pa.Array]] = {name: [] for name in PERF_FRAMES.names}
        self.count = 0

    def __call__(self, rows: list[FrameKey]) -> None:
        if not rows:
            return
        columns: dict[str, list[object]] = {
            "frame_id": list(range(self.count, self.count + len(rows)))
        }
        for name, values in zip(PERF_FRAMES.names[1:], zip(*rows, strict=True), strict=True):
            columns[name] = list(values)
        for column in PERF_FRAMES.schema:
            self.columns[column.name].append(pa.array(columns.pop(column.name), column.type))
        self.count += len(rows)

    def table(self) -> pa.Table:
        """The frames handed over as one table of one chunk (as the consumers of
        `perf_frames` expect), made a column at a time, so the parts of only one column
        exist twice at once; the parts are given up."""
        arrays = []
        for column in PERF_FRAMES.schema:
            parts = self.columns.pop(column.name)
            arrays.append(pa.concat_arrays(parts) if parts else pa.array([], column.type))
            del parts
        self.columns = {name: [] for name in PERF_FRAMES.names}
        return pa.Table.from_arrays(arrays, schema=PERF_FRAMES.schema)

    @staticmethod
    def attach(assembler: Assembler) -> _FrameBatches:
        sink = _FrameBatches()
        assembler.frame_sink = sink
        return sink


def _tables(
    assembler: Assembler, input_name: str
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table, pa.Table]:
    """(samples, stacks, frames, sideband, unparsed) from the rows of an `Assembler`, whose
    frames and stacks are given up as they become tables (the assembler is done)."""
    sink = assembler.frame_sink
    if not isinstance(sink, _FrameBatches):
        sink = _FrameBatches()
    sink(assembler.new_frames)
    assembler.new_frames = []
    frames = sink.table()
    assembler.frame_ids.clear()
    stacks = _stack_table(assembler.stack_ids)
    assembler.stack_ids.clear()
    unparsed = unparsed_table(input_name, assembler.rejected)
    return (
        pa.table(assembler.samples, schema=PERF_SAMPLES.schema),
        stacks,
        frames,
        pa.table(assembler.sideband, schema=PERF_SIDEBAND.schema),
        unparsed,
    )


def _stack_table(chains: Iterable[bytes]) -> pa.Table:
    """The `PERF_STACKS` table of the distinct callchains (`perf_assemble.chain_code`), in
    id order: the frame ids made one flat array (no Python list per stack)."""
    rows = chains if isinstance(chains, (list, dict)) else list(chains)
    count = len(rows)
    width = array("I").itemsize
    depths = np.fromiter(map(len, rows), dtype=np.int64, count=count) // width
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(depths, out=offsets[1:])
    flat = np.frombuffer(b"".join(rows), dtype=np.dtype(f"u{width}")).astype(np.int64)
    frame_ids = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat))
    return pa.table(
        {
            "stack_id": pa.array(np.arange(count, dtype=np.int64)),
            "frame_ids": frame_ids.cast(PERF_STACKS.schema.field("frame_ids").type),
            "depth": pa.array(depths),
        },
        schema=PERF_STACKS.schema,
    )


def assemble(
    records: Iterable[tuple[int, str, PerfRecord | Unparsed]], input_name: str = "-"
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table, pa.Table, tuple[str, ...]]:
    """Numbered line records -> (samples, stacks, frames, sideband, unparsed, header)."""
    assembler = Assembler()
    _FrameBatches.attach(assembler)
    add = assembler.add
    for line_no, text, record in records:
        add(line_no, text, record)
    assembler.end()
    return (*_tables(assembler, input_name), tuple(assembler.header))


def parse(
    chunks: Iterator[LineChunk],
    input_name: str,
    engine: str = "fast",
    threads: int = 2,
    on_chunk: Callable[[LineChunk], None] | None = None,
    refold: bool = False,
) -> ParsedPerf:
    """Parse every line of one input. ``engine`` is ``fast`` (blocks: scanner + grammar) or
    ``lark`` (the grammar on every line, `threads` chunks at a time).

    With `refold`, when `input_name` is a regular file (the chunks must be its lines, as
    `analyzer.inputs.iter_line_chunks` reads them), the input is not kept for folding: the
    folded stacks are read from the file again (`ParsedPerf.refold`)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    line_count = 0
    non_utf8 = 0
    source = FoldSource.of(input_name) if refold else None
    collapsed = CollapseReader() if source is None else None
    if engine == "fast":
        reader = BlockReader()
        _FrameBatches.attach(reader.assembler)
        with gc_paused():
            for chunk in chunks:
                count = _line_count(chunk)
                line_count += count
                non_utf8 += chunk.non_utf8_lines
                if on_chunk is not None:
                    on_chunk(chunk)
                if count:
                    block = chunk_bytes(chunk)
                    reader.feed(block, chunk.first_line_no)
                    if collapsed is not None:
                        collapsed.feed(block)
            assembler = reader.finish()
            del reader  # its caches (callchain text, frame lines) before the tables
            tables = _tables(assembler, input_name)
    else:
        assembler = Assembler()
        _FrameBatches.attach(assembler)

        def feed(chunk: LineChunk, records: list[tuple[str, PerfRecord | Unparsed]]) -> None:
            add = assembler.add
            line_no = chunk.first_line_no
            for text, record in records:
                add(line_no, text, record)
                line_no += 1

        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            pending: list = []
            for chunk in chunks:
                count = _line_count(chunk)
                line_count += count
                non_utf8 += chunk.non_utf8_lines
                if count and collapsed is not None:
                    collapsed.feed(chunk_bytes(chunk))
                if on_chunk is not None:
                    on_chunk(chunk)
                pending.append((chunk, pool.submit(_parse_chunk, chunk)))
                while len(pending) > threads:
                    done_chunk, future = pending.pop(0)
                    feed(done_chunk, future.result())
            for done_chunk, future in pending:
                feed(done_chunk, future.result())
        assembler.end()
        tables = _tables(assembler, input_name)
    samples, stacks, frames, sideband, unparsed = tables
    return ParsedPerf(
        samples,
        stacks,
        frames,
        sideband,
        unparsed,
        tuple(assembler.header),
        line_count,
        non_utf8,
        (collapsed if collapsed is not None else CollapseReader()).finish(),
        source,
    )


def _line_count(chunk: LineChunk) -> int:
    count = getattr(chunk, "line_count", None)
    return len(chunk.lines) if count is None else count


def input_report(parsed: ParsedPerf) -> dict[str, Any]:
    """The perf keys of an `inputs[]` entry: parsed lines, samples, the span of sample times."""
    times = pc.drop_null(parsed.samples["time_ns"])
    first = pc.min(times).as_py() if len(times) else None
    last = pc.max(times).as_py() if len(times) else None
    return {
        "parsed_lines": parsed.line_count - parsed.unparsed.num_rows,
        "samples": parsed.samples.num_rows,
        "first_ts": first / 1e9 if first is not None else None,
        "last_ts": last / 1e9 if last is not None else None,
    }
