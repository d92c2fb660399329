"""GitHub-flavoured Markdown report (``--format md``), meant to be pasted into an incident.

The layout lives in ``reports/report.md.j2`` and the sources' ``reports/sections/*.md.j2``
partials; this module only chooses how many rows each section shows, gathers the sources'
images (the thread timeline: an SVG inlined as a ``data:`` URI, so the report stays one file,
with the same picture as text beside it for viewers that strip such images) and streams the
template.
Every trace-derived string goes through the ``md`` or ``code`` filter (see
`analyzer.render.formatting`), so a file name cannot break a table or inject HTML.
"""

from __future__ import annotations

import base64
from typing import IO, Any, ClassVar

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.sections import section_modules
from analyzer.render.templates import render_template, section_partials
from analyzer.render.view import ReportView

__all__ = ["Figures", "MarkdownRenderer"]


class Figures(dict[str, dict[str, Any]]):
    """The images of one report by name; None under a name that has none."""

    def __missing__(self, key: str) -> None:
        return None


class MarkdownRenderer(Renderer):
    """Incident-ready GitHub-flavoured Markdown."""

    name: ClassVar[str] = "md"
    extensions: ClassVar[tuple[str, ...]] = (".md", ".markdown")

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

    def __init__(self, images: bool = True) -> None:
        """`images=False` leaves the images out (the thread timeline stays, as text)."""
        self.images = images

    def figures(self, view: ReportView) -> Figures:
        """Each source's images (``section_images`` of its ``<source>_plots.py``) by name:
        ``uri`` (the SVG as a ``data:`` URI, so the report stays one file) and ``text``."""
        figures = Figures()
        for _name, module in section_modules("plots"):
            images = getattr(module, "section_images", None)
            if images is None:
                continue
            for key, image in images(view).items():
                encoded = base64.b64encode(image["svg"].encode("utf-8")).decode("ascii")
                figures[key] = {
                    "uri": f"data:image/svg+xml;base64,{encoded}" if self.images else None,
                    "text": image["text"],
                }
        return figures

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        view = ReportView(result)
        render_template(
            self.template,
            out,
            autoescape=False,
            context={
                "view": view,
                "limits": self.limits,
                "sections": section_partials("md"),
                "images": self.figures(view),
            },
        )
