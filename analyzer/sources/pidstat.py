"""The pidstat source: `pidstat -t -u -w [-h] [-p PID] N`: per-thread CPU and context switches per
interval."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.schema import TableSpec
from analyzer.sources.base import Source

if TYPE_CHECKING:
    from analyzer.formats.pidstat import ParsedPidstat


class PidstatSource(Source["ParsedPidstat"]):
    """`pidstat -t -u -w [-h] [-p PID] N`: per-thread CPU and context switches per interval."""

    name: ClassVar[str] = "pidstat"
    label: ClassVar[str] = "pidstat output"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.pidstat",)

    @property
    def tables(self) -> tuple[TableSpec, ...]:  # type: ignore[override]
        from analyzer.formats.pidstat import SPECS

        return SPECS

    def sniff(self, head: bytes) -> float:
        from analyzer.formats.pidstat import sniff

        return sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> ParsedPidstat:
        from analyzer.formats.pidstat import parse

        return parse(chunks, input_name, engine=engine, threads=threads)

    def input_report(self, parsed: ParsedPidstat) -> dict[str, Any]:
        from analyzer.formats.pidstat import input_report

        return input_report(parsed)

    def derive(self, inputs: Sequence[ParsedInput[ParsedPidstat]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.pidstat import derive

        return derive(inputs)

    def section(
        self, inputs: Sequence[ParsedInput[ParsedPidstat]], derived: Derived
    ) -> dict[str, Any]:
        if not inputs:
            return {"pidstat": None}
        from analyzer.sections.pidstat import section

        return section(derived)


SOURCE = PidstatSource()
