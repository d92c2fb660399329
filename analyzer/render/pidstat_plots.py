"""Charts of the pidstat section of the HTML report: threads per process (``pidstat-threads``)
and the %CPU of the busiest threads (``pidstat-cpu``) per interval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from analyzer.render.top_plots import thread_charts

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult
    from analyzer.render.view import ReportView

__all__ = ["section_charts"]


def section_charts(
    view: ReportView, result: AnalysisResult, limits: Mapping[str, int]
) -> dict[str, str | None]:
    return thread_charts(view.sections["pidstat"], "pidstat")
