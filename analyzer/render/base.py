"""The `Renderer` base class and `RenderError`: what every output format is.

A renderer turns an `AnalysisResult` into one output format and streams it to an ``IO``
(memray's reporter style); the class attributes tell the CLI how to find it (pyinstrument's
renderer style). What the report formats share lives beside this module: the report laid out
for display in `analyzer.render.view`, the Jinja2 environment in `analyzer.render.templates`,
the order of the sources' sections in `analyzer.render.sections`; the JSON and display
cleaner is `analyzer.clean`.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from typing import IO, ClassVar

from analyzer.errors import IodiagError
from analyzer.model import AnalysisResult

__all__ = ["RenderError", "Renderer"]


class RenderError(IodiagError, ValueError):
    """A renderer was asked for something it cannot do (unknown format, parquet to a stream).

    A usage problem, so the CLI exits with code 2 (`IodiagError.exit_code`)."""


class Renderer(ABC):
    """Base class of every output format.

    Subclasses set the class attributes and implement `render`. `RENDERERS` in
    `analyzer.render` maps `name` to the class; the same registry answers extension lookups.
    """

    name: ClassVar[str]
    """Value of ``--format`` that selects this renderer."""
    extensions: ClassVar[tuple[str, ...]] = ()
    """Output-file extensions (lower case, with the dot) that select this renderer."""

    @abstractmethod
    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        """Write `result` in this format to `out`."""

    def render_to_string(self, result: AnalysisResult) -> str:
        """Convenience wrapper around `render` that returns the output as a string."""
        buffer = io.StringIO()
        self.render(result, buffer)
        return buffer.getvalue()
