"""`ConventionalSource`: a source whose stages are its same-named modules' plain functions.

The snapshot and metric sources (top, ps, pidstat, py-spy, iostat, CloudWatch) need nothing
but the convention of `analyzer.sources.base`: ``analyzer/formats/<name>.py`` has ``sniff``,
``parse``, ``input_report`` and ``SPECS``; ``analyzer/derive/<name>.py`` has
``derive(inputs)``; ``analyzer/sections/<name>.py`` has ``section(derived)``. Each module is
imported when its stage first runs, so that a run without such an input imports only the
parser (its sniffer is needed to detect formats).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, P, ParsedInput
from analyzer.schema import TableSpec
from analyzer.sources.base import Source


class ConventionalSource(Source[P]):
    """A `Source` that calls the conventional functions of ``analyzer.<stage>.<name>``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.report_modules = (f"analyzer.sections.{cls.name}",)

    def _stage(self, stage: str) -> ModuleType:
        return importlib.import_module(f"analyzer.{stage}.{self.name}")

    @property
    def tables(self) -> tuple[TableSpec, ...]:  # type: ignore[override]
        specs: tuple[TableSpec, ...] = self._stage("formats").SPECS
        return specs

    def sniff(self, head: bytes) -> float:
        score: float = self._stage("formats").sniff(head)
        return score

    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> P:
        parsed: P = self._stage("formats").parse(chunks, input_name, engine=engine, threads=threads)
        return parsed

    def input_report(self, parsed: P) -> dict[str, Any]:
        report: dict[str, Any] = self._stage("formats").input_report(parsed)
        return report

    def derive(self, inputs: Sequence[ParsedInput[P]], config: Config) -> Derived:
        if not inputs:
            return NOTHING_DERIVED
        derived: Derived = self._stage("derive").derive(inputs)
        return derived

    def section(self, inputs: Sequence[ParsedInput[P]], derived: Derived) -> dict[str, Any]:
        if not inputs:
            return {self.name: None}
        keys: dict[str, Any] = self._stage("sections").section(derived)
        return keys
