"""Self-contained HTML report (``--format html``).

One file with everything inline: the CSS from ``reports/report.css``, the SVG charts (drawn by
each source's ``analyzer/render/<source>_plots.py`` and by `analyzer.render.plots` for the
findings; for perf also the flame graph, with its own small zoom/search script) and a tiny
table sorter (plain JavaScript, no library, no network).
The layout lives in ``reports/report.html.j2`` and the sources' ``reports/sections/*.html.j2``
partials, rendered with autoescape on, so every string that came from a trace is HTML-escaped;
only our own CSS and the SVG that `analyzer.render.plots` and the flame graph writer made
(which escape their text) are inserted as markup.
"""

from __future__ import annotations

from typing import IO, ClassVar

from markupsafe import Markup

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.plots import finding_charts
from analyzer.render.sections import section_modules
from analyzer.render.templates import render_template, section_partials
from analyzer.render.view import ReportView

__all__ = ["Charts", "HtmlRenderer"]


class Charts(dict[str, Markup]):
    """The drawn charts of one report by name (inline SVG markup).

    A chart that was not drawn (nothing to draw: no ``-T`` durations, slow callbacks that all
    took 0.000 s, one change point; or ``plots=False``) is None under any name, so the
    templates can test ``charts.NAME`` and ``charts.get(NAME)`` alike whatever the report
    holds, and never meet an undefined name.
    """

    def __missing__(self, key: str) -> None:
        return None


class HtmlRenderer(Renderer):
    """Single-file HTML report with inline CSS and SVG charts."""

    name: ClassVar[str] = "html"
    extensions: ClassVar[tuple[str, ...]] = (".html", ".htm")

    template: ClassVar[str] = "report.html.j2"
    limits: ClassVar[dict[str, int]] = {
        "syscalls": 30,
        "targets": 50,
        "errors": 100,
        "in_flight": 100,
        "threads": 50,
        "thread_calls": 8,
        "slow_groups": 50,
        "misuse": 100,
        "stacks": 20,
        "chart_rows": 15,
        "chart_threads": 12,
    }
    """Rows shown per table and bars per chart."""

    def __init__(self, plots: bool = True) -> None:
        """`plots=False` leaves the charts out (and draws nothing)."""
        self.plots = plots

    def charts(self, view: ReportView, result: AnalysisResult) -> Charts:
        """Every chart of the report by name: each source's, then the findings' (None for a
        chart with nothing to draw)."""
        drawn: dict[str, str | None] = {}
        for _name, module in section_modules("plots"):
            drawn.update(module.section_charts(view, result, self.limits))
        drawn.update(finding_charts(view))
        # the chart and flame graph writers escape the text they put in the SVG, so it is
        # safe markup.
        return Charts({key: Markup(svg) for key, svg in drawn.items() if svg})

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        view = ReportView(result)
        charts = self.charts(view, result) if self.plots else Charts()
        render_template(
            self.template,
            out,
            autoescape=True,
            context={
                "view": view,
                "limits": self.limits,
                "charts": charts,
                "sections": section_partials("html"),
            },
        )
