"""Charts of the iostat section of the HTML report: per device (``iostat-N``, the N-th device
of the view), await (ms) and aqu-sz on two axes over time, with %util."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from analyzer.render.evidence_view import when
from analyzer.render.timeseries_plots import line_chart

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult
    from analyzer.render.view import ReportView

__all__ = ["section_charts"]

DEVICES = 4


def section_charts(
    view: ReportView, result: AnalysisResult, limits: Mapping[str, int]
) -> dict[str, str | None]:
    section = view.sections["iostat"]
    charts: dict[str, str | None] = {}
    if not section:
        return charts
    for index, device in enumerate(section["devices"][:DEVICES]):
        series = device["series"]
        first = [points[0][0] for points in series.values() if points and points[0][0] is not None]
        charts[f"iostat-{index}"] = line_chart(
            [("await (ms)", series.get("await") or [])],
            right=[
                ("aqu-sz", series.get("aqu_sz") or []),
                (
                    "%util / 100",
                    [
                        [t, v / 100 if v is not None else None]
                        for t, v in series.get("util_pct") or []
                    ],
                ),
            ],
            right_label="aqu-sz, %util / 100",
            salt=f"iostat-{index}",
            ylabel="await (ms)",
            origin_label=when(min(first), section["clock"]) if first else "the first report",
        )
    return charts
