"""The `Source` seam: everything iodiag knows about one kind of input, behind one interface.

A source is a kind of evidence (strace output, a perf script dump, an asyncio debug log ...).
Its stages live in modules of the same name in each stage folder: the parser in
``analyzer/formats/<name>*.py`` (with ``grammars/<name>.lark`` as its specification), the
derivation in ``analyzer/derive/<name>.py``, the report section in
``analyzer/sections/<name>.py``. Its `Source` object, in ``analyzer/sources/<name>.py``, ties
them together for the pipeline, which only ever loops over `analyzer.sources.SOURCES`.

The parser's module is imported with the source (its sniffer is needed to detect formats); the
derivation and section modules are imported only when the run has such an input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Generic

from analyzer.config import Config
from analyzer.inputs import LineChunk
from analyzer.model import NOTHING_DERIVED, Derived, P, ParsedInput
from analyzer.schema import TableSpec


class Source(ABC, Generic[P]):
    """One kind of input: how to recognise it, parse it, derive its tables and report them.

    `P` is the type its parser returns (a `analyzer.model.Parsed`).
    """

    name: ClassVar[str]
    """The source's name: its registry key, ``--input-format`` value and ``inputs[].format``."""
    label: ClassVar[str]
    """What it is, in a sentence's words (``strace output``)."""
    tables: ClassVar[tuple[TableSpec, ...]] = ()
    """The specs of the tables this source adds, for a source whose tables are not in
    `analyzer.schema` (docs/schema.md is made from both by `analyzer.schema_doc`)."""
    report_modules: ClassVar[tuple[str, ...]] = ()
    """The modules `section` imports, imported by the pipeline before it builds the report's
    sections in a worker thread (two threads must not import one module at once)."""

    @abstractmethod
    def sniff(self, head: bytes) -> float:
        """How much the first bytes of an input look like this source (0 to 1)."""

    @abstractmethod
    def parse(
        self, chunks: Iterator[LineChunk], input_name: str, *, engine: str, threads: int
    ) -> P:
        """Every line of one input parsed, or counted as unparsed with its reason."""

    @abstractmethod
    def input_report(self, parsed: P) -> dict[str, Any]:
        """The keys this source adds to the input's ``inputs[]`` entry."""

    def slim(self, parsed: P) -> P:
        """What of `parsed` the report still needs once the tables are derived (the rest can
        be freed)."""
        return parsed

    def derive(self, inputs: Sequence[ParsedInput[P]], config: Config) -> Derived:
        """The derived tables of all of the run's inputs of this source (`inputs` may be
        empty: then the tables the report always has, or nothing)."""
        return NOTHING_DERIVED

    def pass_inputs(self, derived: Derived) -> dict[str, Any]:
        """What this source gives the passes: `analyzer.passes.PassInputs` fields by name.
        Its tables are in ``PassInputs.tables`` in any case."""
        return {}

    def section(self, inputs: Sequence[ParsedInput[P]], derived: Derived) -> dict[str, Any]:
        """The report keys of this source, built from its derived tables (for a run without
        such an input too: its keys are in every report)."""
        return {}
