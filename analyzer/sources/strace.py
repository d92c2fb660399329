"""The strace source: text output of `strace` (any version, prefix, timestamp and decoration)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from analyzer.config import Config
from analyzer.formats import strace
from analyzer.inputs import LineChunk
from analyzer.model import Derived, ParsedInput
from analyzer.sources.base import Source


class StraceSource(Source[strace.ParsedLines]):
    """`strace -f -tt -T` and every other variant strace 4.x-7.x prints."""

    name: ClassVar[str] = "strace"
    label: ClassVar[str] = "strace output"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.strace", "duckdb")

    def sniff(self, head: bytes) -> float:
        return strace.sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> strace.ParsedLines:
        from analyzer.derive import strace_ff
        from analyzer.derive.strace import stream_input

        # A file of an -ff set is merged with its siblings before it is derived: its lines
        # are kept. Any other trace is derived while it is read.
        if strace_ff.ff_match(Path(input_name).name):
            return strace.parse(chunks, input_name, engine=engine, threads=threads)
        return stream_input(chunks, input_name, engine=engine, threads=threads)

    def input_report(self, parsed: strace.ParsedLines) -> dict[str, Any]:
        return strace.input_report(parsed)

    def slim(self, parsed: strace.ParsedLines) -> strace.ParsedLines:
        return parsed.for_report()

    def derive(self, inputs: Sequence[ParsedInput[strace.ParsedLines]], config: Config) -> Derived:
        from analyzer.derive.strace import derive

        return derive(inputs)

    def pass_inputs(self, derived: Derived) -> dict[str, Any]:
        return {"traces": derived.extras["traces"]}

    def section(
        self, inputs: Sequence[ParsedInput[strace.ParsedLines]], derived: Derived
    ) -> dict[str, Any]:
        if not inputs:
            from analyzer.sections.strace import without_strace

            return without_strace()
        from analyzer.sections.strace import section

        return section(inputs, derived)


SOURCE = StraceSource()
