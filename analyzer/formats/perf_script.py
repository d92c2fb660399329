"""The `perf script` input format: detection, and lines -> samples, stacks and frames tables.

Each line is read by the fast scanner (`perf_scan`) and, when the scanner declines, by the
grammar (`perf_lark`); with ``engine="lark"`` every line goes through the grammar (the
reference the fast path is tested against). The line records are then assembled in order
into samples: a sample header starts a sample, frame lines (and their ``-F +srcline`` lines)
add to its callchain, and a blank line, the next header or the end of the input ends it.
Lines that are not `perf script` output are kept, with their reason, in the `unparsed`
table; so are frame lines that belong to no sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from analyzer.formats import perf_lark
from analyzer.formats.perf_record import PerfRecord, Unparsed
from analyzer.formats.perf_scan import scan_line
from analyzer.inputs import LineChunk
from analyzer.schema import PERF_FRAMES, PERF_SAMPLES, PERF_SIDEBAND, PERF_STACKS, UNPARSED

NAME = "perf"

SNIFF_LINES = 50

ENGINES: tuple[str, ...] = ("fast", "lark")

FrameKey = tuple[str | None, str | None, str | None, str | None, str | None, bool]
"""(addr, symbol, offset, dso, srcline, inlined): what makes two frames the same."""


def parse_line(text: str, engine: str = "fast") -> PerfRecord | Unparsed:
    """One line as a record: the scanner when it can, else (or with ``lark``) the grammar."""
    if engine == "fast":
        record = scan_line(text)
        if record is not None:
            return record
    elif engine != "lark":
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    return perf_lark.parse_line(text)


def sniff(head: bytes) -> float:
    """How much the first lines look like `perf script` output (0..1).

    The fraction of non-blank lines that parse, counted only when at least one of them is a
    sample header or a frame (comment blocks alone are not enough).
    """
    lines = head.decode("utf-8", errors="replace").splitlines()[:SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return 0.0
    records = [parse_line(line) for line in lines]
    kinds = {record.kind for record in records if isinstance(record, PerfRecord)}
    if not kinds & {"sample", "frame", "sideband"}:
        return 0.0
    parsed = sum(1 for record in records if isinstance(record, PerfRecord))
    return parsed / len(lines)


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


def _parse_chunk(chunk: LineChunk, engine: str) -> list[tuple[str, PerfRecord | Unparsed]]:
    texts = chunk.lines.to_pylist()
    if engine == "lark":
        return [(text, perf_lark.parse_line(text)) for text in texts]
    out: list[tuple[str, PerfRecord | Unparsed]] = []
    append = out.append
    slow = perf_lark.parse_line
    for text in texts:
        record = scan_line(text)
        append((text, record if record is not None else slow(text)))
    return out


@dataclass
class _Assembler:
    """Turns the line records, in input order, into the rows of the tables."""

    input_name: str
    samples: dict[str, list[object]] = field(
        default_factory=lambda: {name: [] for name in PERF_SAMPLES.names}
    )
    sideband: dict[str, list[object]] = field(
        default_factory=lambda: {name: [] for name in PERF_SIDEBAND.names}
    )
    frame_ids: dict[FrameKey, int] = field(default_factory=dict)
    stack_ids: dict[tuple[int, ...], int] = field(default_factory=dict)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    current: list[list[object]] | None = None
    """Frames of the open sample, as mutable [addr, symbol, offset, dso, srcline, inlined]."""
    has_callchain: bool = False
    saw_blank: bool = False

    def add(self, line_no: int, text: str, record: PerfRecord | Unparsed) -> None:
        if isinstance(record, Unparsed):
            self.rejected.append((line_no, text, record.reason))
            return
        kind = record.kind
        if kind == "frame":
            if self.current is None:
                self.rejected.append((line_no, text, "frame line outside a sample"))
                return
            dso = record.dso
            self.current.append(
                [record.addr, record.symbol, record.offset, dso, None, dso == "inlined"]
            )
            self.has_callchain = True
        elif kind == "blank":
            self.saw_blank = True
            self._finish(cut=False)
        elif kind == "sample":
            self._finish(cut=False)
            self._start(line_no, record)
        elif kind == "srcline":
            if not self.current:
                self.rejected.append((line_no, text, "source line outside a callchain"))
                return
            last = self.current[-1]
            last[4] = record.text
            if record.dso == "inlined":
                last[5] = True
        elif kind == "sideband":
            self._finish(cut=False)
            self._add_sideband(line_no, record)
        else:  # comment
            self.header.append(text)

    def _start(self, line_no: int, record: PerfRecord) -> None:
        columns = self.samples
        columns["line_no"].append(line_no)
        columns["time_ns"].append(record.time_ns)
        columns["tod"].append(record.tod)
        columns["pid"].append(record.pid)
        columns["tid"].append(record.tid)
        columns["comm"].append(record.comm)
        columns["cpu"].append(record.cpu)
        columns["event"].append(record.event)
        columns["period"].append(record.period)
        columns["payload"].append(record.payload)
        self.current = []
        self.has_callchain = False
        if record.dso is not None:  # the frame of a sample printed without callchain
            self.current.append(
                [
                    record.addr,
                    record.symbol,
                    record.offset,
                    record.dso,
                    None,
                    record.dso == "inlined",
                ]
            )

    def _finish(self, cut: bool) -> None:
        if self.current is None:
            return
        frames = self.current
        stack_id: int | None = None
        if frames:
            ids = []
            frame_ids = self.frame_ids
            for frame in frames:
                key = tuple(frame)
                frame_id = frame_ids.get(key)  # type: ignore[call-overload]
                if frame_id is None:
                    frame_id = frame_ids[key] = len(frame_ids)  # type: ignore[index]
                ids.append(frame_id)
            chain = tuple(ids)
            stack_id = self.stack_ids.get(chain)
            if stack_id is None:
                stack_id = self.stack_ids[chain] = len(self.stack_ids)
        self.samples["stack_id"].append(stack_id)
        self.samples["cut"].append(cut)
        self.current = None

    def _add_sideband(self, line_no: int, record: PerfRecord) -> None:
        columns = self.sideband
        columns["line_no"].append(line_no)
        columns["time_ns"].append(record.time_ns)
        columns["pid"].append(record.pid)
        columns["tid"].append(record.tid)
        columns["comm"].append(record.comm)
        columns["cpu"].append(record.cpu)
        columns["record"].append(record.event)
        columns["payload"].append(record.payload)

    def end(self) -> None:
        """The input ended: a callchain sample not closed by a blank line may be cut."""
        self._finish(cut=self.current is not None and (self.has_callchain or self.saw_blank))

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table, pa.Table]:
        frame_columns: dict[str, list[object]] = {name: [] for name in PERF_FRAMES.names}
        for key, frame_id in self.frame_ids.items():
            frame_columns["frame_id"].append(frame_id)
            for name, value in zip(PERF_FRAMES.names[1:], key, strict=True):
                frame_columns[name].append(value)
        stacks = list(self.stack_ids)
        stack_columns = {
            "stack_id": list(range(len(stacks))),
            "frame_ids": [list(chain) for chain in stacks],
            "depth": [len(chain) for chain in stacks],
        }
        unparsed = pa.table(
            {
                "input": [self.input_name] * len(self.rejected),
                "line_no": [line_no for line_no, _, _ in self.rejected],
                "text": [text for _, text, _ in self.rejected],
                "reason": [reason for _, _, reason in self.rejected],
            },
            schema=UNPARSED.schema,
        )
        return (
            pa.table(self.samples, schema=PERF_SAMPLES.schema),
            pa.table(stack_columns, schema=PERF_STACKS.schema),
            pa.table(frame_columns, schema=PERF_FRAMES.schema),
            pa.table(self.sideband, schema=PERF_SIDEBAND.schema),
            unparsed,
        )


def assemble(
    records: Iterable[tuple[int, str, PerfRecord | Unparsed]], input_name: str = "-"
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table, pa.Table, tuple[str, ...]]:
    """Numbered line records -> (samples, stacks, frames, sideband, unparsed, header)."""
    assembler = _Assembler(input_name)
    add = assembler.add
    for line_no, text, record in records:
        add(line_no, text, record)
    assembler.end()
    return (*assembler.tables(), tuple(assembler.header))


def parse(
    chunks: Iterator[LineChunk],
    input_name: str,
    engine: str = "fast",
    threads: int = 2,
    on_chunk: Callable[[LineChunk], None] | None = None,
) -> ParsedPerf:
    """Parse every line of one input. ``engine`` is ``fast`` (scanner + grammar) or ``lark``."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    assembler = _Assembler(input_name)
    line_count = 0
    non_utf8 = 0

    def feed(chunk: LineChunk, records: list[tuple[str, PerfRecord | Unparsed]]) -> None:
        add = assembler.add
        line_no = chunk.first_line_no
        for text, record in records:
            add(line_no, text, record)
            line_no += 1

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pending: list = []
        for chunk in chunks:
            line_count += len(chunk.lines)
            non_utf8 += chunk.non_utf8_lines
            if on_chunk is not None:
                on_chunk(chunk)
            pending.append((chunk, pool.submit(_parse_chunk, chunk, engine)))
            while len(pending) > threads:
                done_chunk, future = pending.pop(0)
                feed(done_chunk, future.result())
        for done_chunk, future in pending:
            feed(done_chunk, future.result())
    assembler.end()
    samples, stacks, frames, sideband, unparsed = assembler.tables()
    return ParsedPerf(
        samples, stacks, frames, sideband, unparsed, tuple(assembler.header), line_count, non_utf8
    )


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
