"""The asyncio source: application logs with asyncio's debug-mode messages in them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.sources.base import Source

if TYPE_CHECKING:
    from analyzer.formats.asyncio import ParsedLog


class AsyncioSource(Source["ParsedLog"]):
    """Logs of `PYTHONASYNCIODEBUG=1` / `-X dev` services in any logging envelope, and
    aiomonitor task dumps."""

    name: ClassVar[str] = "asyncio"
    label: ClassVar[str] = "an application log with asyncio debug messages"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.asyncio",)

    def sniff(self, head: bytes) -> float:
        from analyzer.formats.asyncio import sniff

        return sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> ParsedLog:
        from analyzer.formats.asyncio import parse

        return parse(chunks, input_name, engine=engine, threads=threads)

    def input_report(self, parsed: ParsedLog) -> dict[str, Any]:
        from analyzer.formats.asyncio import input_report

        return input_report(parsed)

    def derive(self, inputs: Sequence[ParsedInput[ParsedLog]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.asyncio import derive

        return derive(inputs)

    def pass_inputs(self, derived: Derived) -> dict[str, Any]:
        return {"loop_events": derived.tables.get("loop_events")}

    def section(self, inputs: Sequence[ParsedInput[ParsedLog]], derived: Derived) -> dict[str, Any]:
        if not inputs:
            return {"asyncio": None}
        from analyzer.sections.asyncio import section

        return section(derived)


SOURCE = AsyncioSource()
