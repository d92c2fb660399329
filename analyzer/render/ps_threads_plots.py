"""Charts of the ps section of the HTML report: each process's threads (NLWP) over the
snapshots (``ps_threads-threads``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from analyzer.render.timeseries_plots import line_chart
from analyzer.render.top_plots import LINES, origin

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult
    from analyzer.render.view import ReportView

__all__ = ["section_charts"]


def section_charts(
    view: ReportView, result: AnalysisResult, limits: Mapping[str, int]
) -> dict[str, str | None]:
    section = view.sections["ps_threads"]
    if not section:
        return {}
    rows = section["processes"][:LINES]
    return {
        "ps_threads-threads": line_chart(
            [(row["label"], row["series"]) for row in rows],
            salt="ps_threads-threads",
            ylabel="threads (NLWP)",
            origin_label=origin(rows, section["clock"]),
            steps=True,
        )
    }
