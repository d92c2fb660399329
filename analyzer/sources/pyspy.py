"""The pyspy source: `py-spy dump --pid PID` output (one dump or many, `--native`, `--locals`):
every Python thread's stack and state."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.schema import TableSpec
from analyzer.sources.base import Source

if TYPE_CHECKING:
    from analyzer.formats.pyspy import ParsedPySpy


class PySpySource(Source["ParsedPySpy"]):
    """`py-spy dump --pid PID` output (one dump or many, `--native`, `--locals`): every Python
    thread's stack and state."""

    name: ClassVar[str] = "pyspy"
    label: ClassVar[str] = "py-spy dump output"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.pyspy",)

    @property
    def tables(self) -> tuple[TableSpec, ...]:  # type: ignore[override]
        from analyzer.formats.pyspy import SPECS

        return SPECS

    def sniff(self, head: bytes) -> float:
        from analyzer.formats.pyspy import sniff

        return sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> ParsedPySpy:
        from analyzer.formats.pyspy import parse

        return parse(chunks, input_name, engine=engine, threads=threads)

    def input_report(self, parsed: ParsedPySpy) -> dict[str, Any]:
        from analyzer.formats.pyspy import input_report

        return input_report(parsed)

    def derive(self, inputs: Sequence[ParsedInput[ParsedPySpy]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.pyspy import derive

        return derive(inputs)

    def section(
        self, inputs: Sequence[ParsedInput[ParsedPySpy]], derived: Derived
    ) -> dict[str, Any]:
        if not inputs:
            return {"pyspy": None}
        from analyzer.sections.pyspy import section

        return section(derived)


SOURCE = PySpySource()
