"""The cloudwatch source: CloudWatch `get-metric-data` / `get-metric-statistics` JSON and the
console's CSV download: instance and volume metrics (CPUUtilization, VolumeQueueLength,
BurstBalance ...)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, ParsedInput
from analyzer.schema import TableSpec
from analyzer.sources.base import Source

if TYPE_CHECKING:
    from analyzer.formats.cloudwatch import ParsedCloudWatch


class CloudWatchSource(Source["ParsedCloudWatch"]):
    """CloudWatch `get-metric-data` / `get-metric-statistics` JSON and the console's CSV download:
    instance and volume metrics (CPUUtilization, VolumeQueueLength, BurstBalance ...)."""

    name: ClassVar[str] = "cloudwatch"
    label: ClassVar[str] = "a CloudWatch metrics export"
    report_modules: ClassVar[tuple[str, ...]] = ("analyzer.sections.cloudwatch",)

    @property
    def tables(self) -> tuple[TableSpec, ...]:  # type: ignore[override]
        from analyzer.formats.cloudwatch import SPECS

        return SPECS

    def sniff(self, head: bytes) -> float:
        from analyzer.formats.cloudwatch import sniff

        return sniff(head)

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> ParsedCloudWatch:
        from analyzer.formats.cloudwatch import parse

        return parse(chunks, input_name, engine=engine, threads=threads)

    def input_report(self, parsed: ParsedCloudWatch) -> dict[str, Any]:
        from analyzer.formats.cloudwatch import input_report

        return input_report(parsed)

    def derive(self, inputs: Sequence[ParsedInput[ParsedCloudWatch]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        from analyzer.derive.cloudwatch import derive

        return derive(inputs)

    def section(
        self, inputs: Sequence[ParsedInput[ParsedCloudWatch]], derived: Derived
    ) -> dict[str, Any]:
        if not inputs:
            return {"cloudwatch": None}
        from analyzer.sections.cloudwatch import section

        return section(derived)


SOURCE = CloudWatchSource()
