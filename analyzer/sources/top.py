"""The top source: `top -b` batch output (`top -H -b -d N -n M [-p PID]`): threads, their CPU and
states, iteration by iteration."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.schema import TableSpec
from analyzer.sources.base import Source

if TYPE_CHECKING:
    from analyzer.formats.top import ParsedTop


class TopSource(Source["ParsedTop"]):
    """`top -b` batch output (`top -H -b -d N -n M [-p PID]`): threads, their CPU and states,
    iteration by iteration."""

    name: ClassVar[str] = "top"
    label: ClassVar[str] = "top -b output"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.top",)

    @property
    def tables(self) -> tuple[TableSpec, ...]:  # type: ignore[override]
        from analyzer.formats.top import SPECS

        return SPECS

    def sniff(self, head: bytes) -> float:
        from analyzer.formats.top import sniff

        return sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> ParsedTop:
        from analyzer.formats.top import parse

        return parse(chunks, input_name, engine=engine, threads=threads)

    def input_report(self, parsed: ParsedTop) -> dict[str, Any]:
        from analyzer.formats.top import input_report

        return input_report(parsed)

    def derive(self, inputs: Sequence[ParsedInput[ParsedTop]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.top import derive

        return derive(inputs)

    def section(self, inputs: Sequence[ParsedInput[ParsedTop]], derived: Derived) -> dict[str, Any]:
        if not inputs:
            return {"top": None}
        from analyzer.sections.top import section

        return section(derived)


SOURCE = TopSource()
