"""Charts of the CloudWatch section of the HTML report: each metric that crossed its limit
(``cloudwatch-N``) against that limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from analyzer.render.evidence_view import when
from analyzer.render.timeseries_plots import line_chart

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult
    from analyzer.render.view import ReportView

__all__ = ["section_charts"]

CHARTS = 4


def section_charts(
    view: ReportView, result: AnalysisResult, limits: Mapping[str, int]
) -> dict[str, str | None]:
    section = view.sections["cloudwatch"]
    charts: dict[str, str | None] = {}
    if not section:
        return charts
    for index, row in enumerate(section["past_limit"][:CHARTS]):
        series = row["series"] if isinstance(row["series"], list) else []
        charts[f"cloudwatch-{index}"] = line_chart(
            [(row["label"], series)],
            salt=f"cloudwatch-{index}",
            ylabel=str(row["unit"] or row["metric"]),
            origin_label=when(series[0][0], "epoch") if series else "the first value",
            limit=row["limit"],
            limit_label=f"limit {row['limit']:g}" if row["limit"] is not None else "",
        )
    return charts
