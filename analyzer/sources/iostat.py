"""The iostat source: sysstat's `iostat [-x] [-t] N`: per-device IOPS, throughput, await, queue
size and %util per interval."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.schema import TableSpec
from analyzer.sources.base import Source

if TYPE_CHECKING:
    from analyzer.formats.iostat import ParsedIostat


class IostatSource(Source["ParsedIostat"]):
    """sysstat's `iostat [-x] [-t] N`: per-device IOPS, throughput, await, queue size and %util per
    interval."""

    name: ClassVar[str] = "iostat"
    label: ClassVar[str] = "iostat output"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.iostat",)

    @property
    def tables(self) -> tuple[TableSpec, ...]:  # type: ignore[override]
        from analyzer.formats.iostat import SPECS

        return SPECS

    def sniff(self, head: bytes) -> float:
        from analyzer.formats.iostat import sniff

        return sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> ParsedIostat:
        from analyzer.formats.iostat import parse

        return parse(chunks, input_name, engine=engine, threads=threads)

    def input_report(self, parsed: ParsedIostat) -> dict[str, Any]:
        from analyzer.formats.iostat import input_report

        return input_report(parsed)

    def derive(self, inputs: Sequence[ParsedInput[ParsedIostat]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.iostat import derive

        return derive(inputs)

    def section(
        self, inputs: Sequence[ParsedInput[ParsedIostat]], derived: Derived
    ) -> dict[str, Any]:
        if not inputs:
            return {"iostat": None}
        from analyzer.sections.iostat import section

        return section(derived)


SOURCE = IostatSource()
