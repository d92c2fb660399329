"""Self-contained HTML report (``--format html``).

One file with everything inline: the CSS from ``reports/report.css``, the SVG charts from
`analyzer.render.plots`, the flame graph of perf stacks (``charts["flamegraph"]``, drawn by
`analyzer.render.flamegraph` with its own small zoom/search script) and a tiny table sorter
(plain JavaScript, no library, no network).
The layout lives in ``reports/report.html.j2``, rendered with autoescape on, so every string
that came from a trace is HTML-escaped; only our own CSS and the SVG that matplotlib wrote
(which escapes its text) are inserted as markup.
"""

from __future__ import annotations

from contextlib import suppress
from typing import IO, ClassVar

from markupsafe import Markup

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer, RenderError
from analyzer.render.flamegraph import flamegraph_chart
from analyzer.render.perf_plots import perf_charts
from analyzer.render.plots import report_charts
from analyzer.render.templates import render_template
from analyzer.render.view import ReportView

__all__ = ["HtmlRenderer"]


class HtmlRenderer(Renderer):
    """Single-file HTML report with inline CSS and SVG charts."""

    name: ClassVar[str] = "html"
    extensions: ClassVar[tuple[str, ...]] = (".html", ".htm")
    description: ClassVar[str] = "self-contained HTML report with charts (no network access)"

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
        """`plots=False` leaves the charts out (and does not import matplotlib)."""
        self.plots = plots

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        view = ReportView(result)
        charts: dict[str, Markup] = {}
        if self.plots:
            drawn = report_charts(
                view, top=self.limits["chart_rows"], threads=self.limits["chart_threads"]
            )
            # matplotlib escapes the text it writes into the SVG, so it is safe markup.
            drawn.update(perf_charts(view))
            charts = {key: Markup(svg) for key, svg in drawn.items() if svg}
            # No flame graph without perf stacks or when nothing was folded; the flame graph
            # writer escapes every name it puts in the SVG, so it is safe markup.
            with suppress(RenderError):
                charts["flamegraph"] = Markup(flamegraph_chart(result, output="html"))
        render_template(
            self.template,
            out,
            autoescape=True,
            context={"view": view, "limits": self.limits, "charts": charts},
        )
