"""Result types that flow from the analysis stages to the renderers.

`ParsedInput` is one input after parsing (its `Parsed` is the source's own result type),
`Derived` what a source's derivation gives the sections and the passes.
`AnalysisResult.report` is the JSON-ready report (contract `iodiag.report/1`,
docs/report-json.md); `AnalysisResult.tables` holds the Arrow tables behind it
(docs/schema.md). Renderers read these and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import pyarrow as pa


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one run of `analyzer.analyze` produced."""

    report: dict[str, Any]
    """The `iodiag.report/1` document: plain JSON types only, keys as documented."""
    tables: Mapping[str, pa.Table] = field(default_factory=dict)
    """Named Arrow tables (`syscalls`, `signals`, `exits`, `tasks`, ...), one set per input
    concatenated, each with an `input` column naming the input it came from."""


class Parsed(Protocol):
    """What parsing one input gives, whatever its source: the lines it could not read (with
    their reasons) and the counts every `inputs[]` entry reports. Each source's parser
    returns its own dataclass with these attributes and its tables."""

    @property
    def unparsed(self) -> pa.Table: ...

    @property
    def line_count(self) -> int: ...

    @property
    def non_utf8_lines(self) -> int: ...


P = TypeVar("P", bound=Parsed)


@dataclass(frozen=True)
class ParsedInput(Generic[P]):
    """One input after parsing: its name, compression, source and what its parser returned."""

    name: str
    compression: str | None
    format: str
    """The name of the source that read it (``strace``, ``perf``, ``asyncio``...)."""
    parsed: P
    truncated: str | None = None
    """Why the (compressed) input ended early, when it did: it was read up to that point."""


@dataclass(frozen=True)
class Derived:
    """What one source's derivation gives the rest of the run: its derived tables (documented
    in `analyzer.schema`) and anything else its sections and the passes read (`extras`,
    e.g. the strace traces one by one)."""

    tables: Mapping[str, pa.Table] = field(default_factory=dict)
    extras: Mapping[str, Any] = field(default_factory=dict)


NOTHING_DERIVED = Derived()
"""The derivation of a source with no input in the run."""
