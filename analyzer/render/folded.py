"""Folded stacks (``--format folded``): what FlameGraph's stackcollapse-perf.pl prints.

One ``stack count`` line per row of the `perf_folded` table, so the output feeds
flamegraph.pl, speedscope or any other folded-stack tool unchanged.
"""

from __future__ import annotations

from typing import IO, ClassVar

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer, RenderError


class FoldedRenderer(Renderer):
    """perf stacks in the folded format of stackcollapse-perf.pl."""

    name: ClassVar[str] = "folded"
    extensions: ClassVar[tuple[str, ...]] = (".folded",)

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        folded = result.tables.get("perf_folded")
        if folded is None:
            raise RenderError("--format folded needs a perf script input")
        for stack, count in zip(
            folded["stack"].to_pylist(), folded["count"].to_pylist(), strict=True
        ):
            out.write(f"{stack} {count}\n")
