"""The ps_threads source: `ps -eLf` / `ps -L -o ...` / `ps -T` snapshots taken in a loop with
`date` stamps: threads per process (NLWP) over time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.schema import TableSpec
from analyzer.sources.base import Source

if TYPE_CHECKING:
    from analyzer.formats.ps_threads import ParsedPsThreads


class PsThreadsSource(Source["ParsedPsThreads"]):
    """`ps -eLf` / `ps -L -o ...` / `ps -T` snapshots taken in a loop with `date` stamps: threads
    per process (NLWP) over time."""

    name: ClassVar[str] = "ps_threads"
    label: ClassVar[str] = "a ps thread-snapshot log"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.ps_threads",)

    @property
    def tables(self) -> tuple[TableSpec, ...]:  # type: ignore[override]
        from analyzer.formats.ps_threads import SPECS

        return SPECS

    def sniff(self, head: bytes) -> float:
        from analyzer.formats.ps_threads import sniff

        return sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> ParsedPsThreads:
        from analyzer.formats.ps_threads import parse

        return parse(chunks, input_name, engine=engine, threads=threads)

    def input_report(self, parsed: ParsedPsThreads) -> dict[str, Any]:
        from analyzer.formats.ps_threads import input_report

        return input_report(parsed)

    def derive(self, inputs: Sequence[ParsedInput[ParsedPsThreads]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.ps_threads import derive

        return derive(inputs)

    def section(
        self, inputs: Sequence[ParsedInput[ParsedPsThreads]], derived: Derived
    ) -> dict[str, Any]:
        if not inputs:
            return {"ps_threads": None}
        from analyzer.sections.ps_threads import section

        return section(derived)


SOURCE = PsThreadsSource()
