"""Charts of the top section of the HTML report: the threads of each process over time
(``top-threads``) and the %CPU of the busiest threads (``top-cpu``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from analyzer.render.evidence_view import when
from analyzer.render.timeseries_plots import line_chart

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult
    from analyzer.render.view import ReportView

__all__ = ["section_charts", "thread_charts"]

LINES = 6


def origin(rows: list[dict[str, Any]], kind: str | None) -> str:
    firsts = [
        row["series"][0][0]
        for row in rows
        if isinstance(row.get("series"), list) and row["series"] and row["series"][0][0] is not None
    ]
    return when(min(firsts), kind) if firsts else "the first moment"


def thread_charts(section: Mapping[str, Any] | None, prefix: str) -> dict[str, str | None]:
    """The thread-count and %CPU charts of a top or pidstat section laid out by its view."""
    if not section:
        return {}
    kind = section["clock"]
    counts = section["thread_counts"][:LINES]
    threads = section["busiest_threads"][:LINES]
    return {
        f"{prefix}-threads": line_chart(
            [(row["label"], row["series"]) for row in counts],
            salt=f"{prefix}-threads",
            ylabel="threads",
            origin_label=origin(counts, kind),
            steps=True,
        ),
        f"{prefix}-cpu": line_chart(
            [(f"{row['tid']} {row['command'] or ''}", row["series"] or []) for row in threads],
            salt=f"{prefix}-cpu",
            ylabel="% of one CPU",
            origin_label=origin(threads, kind),
        ),
    }


def section_charts(
    view: ReportView, result: AnalysisResult, limits: Mapping[str, int]
) -> dict[str, str | None]:
    return thread_charts(view.sections["top"], "top")
