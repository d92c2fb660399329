"""GitHub-flavoured Markdown report (``--format md``), meant to be pasted into an incident.

The layout lives in ``reports/report.md.j2`` and the sources' ``reports/sections/*.md.j2``
partials; this module only chooses how many rows each section shows and streams the template.
Every trace-derived string goes through the ``md`` or ``code`` filter (see
`analyzer.render.formatting`), so a file name cannot break a table or inject HTML.
"""

from __future__ import annotations

from typing import IO, ClassVar

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.templates import render_template, section_partials
from analyzer.render.view import ReportView

__all__ = ["MarkdownRenderer"]


class MarkdownRenderer(Renderer):
    """Incident-ready GitHub-flavoured Markdown."""

    name: ClassVar[str] = "md"
    extensions: ClassVar[tuple[str, ...]] = (".md",)

    template: ClassVar[str] = "report.md.j2"
    limits: ClassVar[dict[str, int]] = {
        "syscalls": 20,
        "targets": 15,
        "errors": 30,
        "in_flight": 30,
        "threads": 20,
        "thread_calls": 5,
        "slow_groups": 20,
        "misuse": 30,
        "stacks": 20,
    }
    """Rows shown per section; the text says how many were left out."""

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        render_template(
            self.template,
            out,
            autoescape=False,
            context={
                "view": ReportView(result),
                "limits": self.limits,
                "sections": section_partials("md"),
            },
        )
