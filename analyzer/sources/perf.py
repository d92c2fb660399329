"""The perf source: `perf script` output (samples with or without call stacks, tracepoints)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.sources.base import Source

if TYPE_CHECKING:
    from analyzer.formats.perf import ParsedPerf


class PerfSource(Source["ParsedPerf"]):
    """`perf record -g` / `-e 'block:*'` / `sched:*` / `raw_syscalls:*`, dumped by `perf script`."""

    name: ClassVar[str] = "perf"
    label: ClassVar[str] = "perf script output"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.perf",)

    def sniff(self, head: bytes) -> float:
        from analyzer.formats.perf import sniff

        return sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> ParsedPerf:
        from analyzer.formats.perf import parse

        return parse(chunks, input_name, engine=engine, threads=threads, refold=True)

    def input_report(self, parsed: ParsedPerf) -> dict[str, Any]:
        from analyzer.formats.perf import input_report

        return input_report(parsed)

    def slim(self, parsed: ParsedPerf) -> ParsedPerf:
        # the run's perf tables (`derive`) stand for these; the input report reads the
        # samples' count and times
        return dataclasses.replace(
            parsed,
            samples=parsed.samples.select(["time_ns"]),
            stacks=parsed.stacks.schema.empty_table(),
            frames=parsed.frames.schema.empty_table(),
        )

    def derive(self, inputs: Sequence[ParsedInput[ParsedPerf]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.perf import derive

        return derive(inputs, config.collapse)

    def pass_inputs(self, derived: Derived) -> dict[str, Any]:
        return {"perf": derived.tables}

    def section(
        self, inputs: Sequence[ParsedInput[ParsedPerf]], derived: Derived
    ) -> dict[str, Any]:
        if not inputs:
            return {"perf": None}
        from analyzer.sections.perf import section

        return section(derived)


SOURCE = PerfSource()
