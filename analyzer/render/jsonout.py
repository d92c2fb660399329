"""Machine-readable report (``--format json``): the ``iodiag.report/1`` document.

Output is ``json.dumps(report, sort_keys=True, indent=2, allow_nan=False)`` plus a newline, so
two runs over the same trace give the same bytes. NaN and ±infinity, which JSON cannot carry,
are written as ``null`` (`analyzer.clean`; see docs/report-json.md). Strings are written with
``\\u`` escapes for non-ASCII text, so a lone surrogate from an undecodable input byte cannot
break the output encoding.
"""

from __future__ import annotations

import json
from typing import IO, ClassVar

from analyzer.clean import clean
from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer

__all__ = ["JsonRenderer", "dumps"]


def dumps(report: object) -> str:
    """`report` as the exact text `JsonRenderer` writes (sorted keys, indent 2, newline)."""
    return json.dumps(clean(report), sort_keys=True, indent=2, allow_nan=False) + "\n"


class JsonRenderer(Renderer):
    """The report as sorted, indented JSON (contract ``iodiag.report/1``)."""

    name: ClassVar[str] = "json"
    extensions: ClassVar[tuple[str, ...]] = (".json",)

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        out.write(dumps(result.report))
