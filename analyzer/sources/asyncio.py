"""The asyncio source: application logs with asyncio's debug-mode messages in them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from analyzer.config import Config
from analyzer.formats import asyncio
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.sources.base import Source


class AsyncioSource(Source[asyncio.ParsedLog]):
    """Logs of `PYTHONASYNCIODEBUG=1` / `-X dev` services in any logging envelope, and
    aiomonitor task dumps."""

    name: ClassVar[str] = "asyncio"
    label: ClassVar[str] = "an application log with asyncio debug messages"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.asyncio",)

    def sniff(self, head: bytes) -> float:
        return asyncio.sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> asyncio.ParsedLog:
        return asyncio.parse(chunks, input_name, engine=engine, threads=threads)

    def input_report(self, parsed: asyncio.ParsedLog) -> dict[str, Any]:
        return asyncio.input_report(parsed)

    def derive(self, inputs: Sequence[ParsedInput[asyncio.ParsedLog]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.asyncio import derive

        return derive(inputs)

    def pass_inputs(self, derived: Derived) -> dict[str, Any]:
        return {"loop_events": derived.tables.get("loop_events")}

    def section(
        self, inputs: Sequence[ParsedInput[asyncio.ParsedLog]], derived: Derived
    ) -> dict[str, Any]:
        if not inputs:
            return {"asyncio": None}
        from analyzer.sections.asyncio import section

        return section(derived)


SOURCE = AsyncioSource()
