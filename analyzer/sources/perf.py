"""The perf source: `perf script` output (samples with or without call stacks, tracepoints)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from analyzer.config import Config
from analyzer.formats import perf
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.sources.base import Source


class PerfSource(Source[perf.ParsedPerf]):
    """`perf record -g` / `-e 'block:*'` / `sched:*` / `raw_syscalls:*`, dumped by `perf script`."""

    name: ClassVar[str] = "perf"
    label: ClassVar[str] = "perf script output"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.perf",)

    def sniff(self, head: bytes) -> float:
        return perf.sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> perf.ParsedPerf:
        return perf.parse(chunks, input_name, engine=engine, threads=threads, refold=True)

    def input_report(self, parsed: perf.ParsedPerf) -> dict[str, Any]:
        return perf.input_report(parsed)

    def slim(self, parsed: perf.ParsedPerf) -> perf.ParsedPerf:
        # the run's perf tables (`derive`) stand for these; the input report reads the
        # samples' count and times
        return dataclasses.replace(
            parsed,
            samples=parsed.samples.select(["time_ns"]),
            stacks=parsed.stacks.schema.empty_table(),
            frames=parsed.frames.schema.empty_table(),
        )

    def derive(self, inputs: Sequence[ParsedInput[perf.ParsedPerf]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.perf import derive

        return derive(inputs, config.collapse)

    def pass_inputs(self, derived: Derived) -> dict[str, Any]:
        return {"perf": derived.tables}

    def section(
        self, inputs: Sequence[ParsedInput[perf.ParsedPerf]], derived: Derived
    ) -> dict[str, Any]:
        if not inputs:
            return {"perf": None}
        from analyzer.sections.perf import section

        return section(derived)


SOURCE = PerfSource()
